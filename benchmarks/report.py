"""The benchmark results as JSON (benchmarks/results.json) and as a table in docs/benchmarks.md.

The Markdown file is partly written by people (how it is measured, what was profiled and fixed):
only the part between the `results` markers is replaced, the rest is kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from .runner import Result

TIMES = "\N{MULTIPLICATION SIGN}"
START = "<!-- results:start -->"
END = "<!-- results:end -->"


def machine_describe() -> dict:
    """The machine and software the figures were measured on."""
    cpu = ""
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        cpu = match.group(1).strip() if match else ""
    except OSError:
        pass
    memory_gib = None
    try:
        match = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
        memory_gib = round(int(match.group(1)) / 1024 / 1024, 1) if match else None
    except OSError:
        pass
    load = None
    with contextlib.suppress(OSError):
        load = [round(value, 2) for value in os.getloadavg()]
    description = {
        "cpu": cpu or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "load_average_at_end": load,
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        import django
        from django.db import connection

        description["django"] = django.get_version()
        description["database"] = connection.vendor
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SHOW server_version")
                description["database"] = f"PostgreSQL {cursor.fetchone()[0]}"
    except Exception:  # noqa: S110 - describing the machine must never fail a benchmark
        pass
    return description


def results_json_write(results: list[Result], path: Path, *, machine: dict, command: str) -> None:
    """One object per scenario: name, size, seconds, throughput, baseline seconds and ratio first."""
    payload = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine,
        "scenarios": [asdict(result) for result in results],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")


def results_merged(
    path: Path, results: list[Result], failed: list[str], *, command: str, order: list[str]
) -> tuple[list[Result], dict, str]:
    """The results in `path` with these scenarios' in place of theirs: (results, machine, command).

    For a scenario re-run on its own after a long run (`--merge`): the table keeps the long run's
    other figures, its machine and its command, and says which scenarios were re-run, and how.
    """
    payload = json.loads(path.read_text())
    by_name = {item["name"]: Result(**item) for item in payload["scenarios"]}
    by_name.update({result.name: result for result in results})
    position = {name: index for index, name in enumerate(order)}
    merged = sorted(by_name.values(), key=lambda result: position.get(result.name, len(position)))
    machine = payload.get("machine", {})
    rerun = {result.name for result in results}
    still_failed = [name for name in machine.get("failed_scenarios", []) if name not in rerun and name not in failed]
    machine.pop("failed_scenarios", None)
    if still_failed or failed:
        machine["failed_scenarios"] = [*still_failed, *failed]
    machine.setdefault("reruns", []).append(
        {"scenarios": sorted(rerun), "command": command, "at": f"{datetime.now(UTC):%Y-%m-%d %H:%M}"}
    )
    return merged, machine, payload.get("command", command)


def _number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _failed_lines(names: list[str]) -> list[str]:
    listed = ", ".join(f"`{name}`" for name in names)
    return [f"**Failed, no figures:** {listed} (the run's output says why).", ""]


def _rerun_lines(rerun: dict) -> list[str]:
    listed = ", ".join(f"`{name}`" for name in rerun["scenarios"])
    return [f"Re-run on its own afterwards ({rerun['at']} UTC, `{rerun['command']}`): {listed}.", ""]


def results_markdown(results: list[Result], *, machine: dict, command: str) -> str:
    """The generated part of docs/benchmarks.md: the table, the machine, the date, the command."""
    lines = [
        START,
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{command}`.",
        "",
        "| Scenario | Book (clients) | Handled | Median of runs (s) | Throughput | Baseline (s) | Ratio "
        "| Peak RSS (MiB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        lines.append(
            f"| `{result.name}` | {result.size:,} | {result.count:,} {result.unit} | {result.seconds:,.2f} "
            f"({', '.join(f'{s:.2f}' for s in result.runs_seconds)}) | {_number(result.throughput)} {result.unit}/s "
            f"| {_number(result.baseline_seconds, 1)} | {_number(result.ratio, 1)}{TIMES if result.ratio else ''} "
            f"| {_number(result.peak_rss_mb)} |"
        )
    lines.append("")
    for result in results:
        details = [result.description]
        if result.cap_note:
            details.append(result.cap_note)
        if result.baseline:
            sample = result.baseline["sample_count"]
            # A baseline over as much as the run handled is measured whole, not extrapolated.
            whole = sample >= result.count
            details.append(
                f"Baseline: {result.baseline['method']} ({sample:,} measured in "
                f"{result.baseline['sample_seconds']:.1f} s{'' if whole else ', extrapolated'})."
            )
        if result.extra:
            also = "; ".join(f"{key.replace('_', ' ')} {_extra(value)}" for key, value in result.extra.items())
            details.append(f"Also: {also}.")
        if result.wall_seconds is not None:
            details.append(f"The scenario took {result.wall_seconds:,.0f} s in all (setup, runs, baseline).")
        lines.append(f"- `{result.name}`: " + " ".join(details))
    lines += [
        "",
        f"Machine: {machine.get('cpu')}, {machine.get('cores')} cores, {machine.get('memory_gib')} GiB memory; "
        f"{machine.get('database', '')}; Python {machine.get('python')}, Django {machine.get('django', '')}; "
        f"{machine.get('os')}. Load average at the end: {machine.get('load_average_at_end')} "
        "(other work shared the machine; the medians absorb some of that noise, not all of it).",
        "",
        *(
            [f"The whole run took {machine['bench_seconds'] / 60:.1f} minutes (migrations and the book included).", ""]
            if machine.get("bench_seconds") is not None
            else []
        ),
        *(_failed_lines(machine["failed_scenarios"]) if machine.get("failed_scenarios") else []),
        *(line for rerun in machine.get("reruns", []) for line in _rerun_lines(rerun)),
        f"Reproduce: `{command}` (raw figures in `benchmarks/results.json`).",
        END,
    ]
    return "\n".join(lines)


def _extra(value) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


DEFAULT_DOCUMENT = f"""# Benchmarks

{START}
{END}
"""


def report_markdown_write(results: list[Result], path: Path, *, machine: dict, command: str) -> None:
    """Replace the generated part of `path` (created with just that part when it does not exist)."""
    text = path.read_text() if path.exists() else DEFAULT_DOCUMENT
    if START not in text or END not in text:
        text = text.rstrip() + f"\n\n{START}\n{END}\n"
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(before + results_markdown(results, machine=machine, command=command) + after)
