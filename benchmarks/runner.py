"""Run scenarios: in this process (the test suite) or each in a process of its own (`make bench`).

A scenario's figures are the median of its runs; its peak memory is the peak resident set size
of the process while the runs went on (see benchmarks/memory.py). In a process of its own, that
peak belongs to the scenario alone: nothing another scenario allocated is still held.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .memory import peak_mb, peak_reset, rss_mb
from .registry import Context, Scenario


@dataclass
class Result:
    name: str
    description: str
    unit: str
    size: int  # clients in the book
    count: int  # records or rows one run handled
    runs_seconds: list[float]
    seconds: float  # median
    throughput: float  # count per second, at the median
    baseline_seconds: float | None = None
    ratio: float | None = None  # baseline seconds / seconds
    baseline: dict | None = None
    peak_rss_mb: float | None = None
    rss_before_mb: float | None = None
    extra: dict = field(default_factory=dict)
    cap_note: str = ""
    # How long the whole scenario took (setup, runs, baseline, teardown): what it adds to `make bench`.
    wall_seconds: float | None = None

    def line(self) -> str:
        """One line for the terminal."""
        text = (
            f"{self.name}: {self.count:,} {self.unit} in {self.seconds:.2f} s "
            f"(median of {len(self.runs_seconds)}) = {self.throughput:,.0f} {self.unit}/s"
        )
        if self.baseline_seconds is not None:
            text += f"; baseline {self.baseline_seconds:,.1f} s, {self.ratio:,.1f} times as fast"
        if self.peak_rss_mb is not None:
            text += f"; peak RSS {self.peak_rss_mb:,.0f} MiB"
        for key, value in self.extra.items():
            text += f"; {key} {value:,}" if isinstance(value, int | float) else f"; {key} {value}"
        if self.wall_seconds is not None:
            text += f" [{self.wall_seconds:,.0f} s in all]"
        return text


def run_scenario(scenario: Scenario, context: Context) -> Result:
    """Set up, run `context.runs` times, measure the baseline, tear down; all in this process."""
    context.log(f"{scenario.name}: {scenario.description}")
    started = time.perf_counter()
    state = scenario.setup(context) if scenario.setup else None
    try:
        rss_before = rss_mb()
        peak_reset()
        measurements = []
        for number in range(1, context.runs + 1):
            measurement = scenario.run(context, state)
            context.log(f"  run {number}: {measurement.seconds:.2f} s for {measurement.count:,} {scenario.unit}")
            measurements.append(measurement)
        peak = peak_mb()
        baseline = scenario.baseline(context, state) if scenario.baseline else None
    finally:
        if scenario.teardown:
            scenario.teardown(context, state)
    median = sorted(measurements, key=lambda m: m.seconds)[(len(measurements) - 1) // 2]
    seconds = statistics.median(m.seconds for m in measurements)
    result = Result(
        name=scenario.name,
        description=scenario.description,
        unit=scenario.unit,
        size=context.size,
        count=median.count,
        runs_seconds=[round(m.seconds, 3) for m in measurements],
        seconds=round(seconds, 3),
        throughput=round(median.count / seconds, 1) if seconds else 0.0,
        peak_rss_mb=median.peak_rss_mb if median.peak_rss_mb is not None else peak,
        rss_before_mb=rss_before,
        extra=median.extra,
        cap_note=scenario.cap_note if median.count < context.size else "",
        wall_seconds=round(time.perf_counter() - started, 1),
    )
    if baseline is not None:
        result.baseline_seconds = round(baseline.seconds, 2)
        result.ratio = round(baseline.seconds / seconds, 1) if seconds else None
        result.baseline = {
            "method": baseline.method,
            "sample_count": baseline.sample_count,
            "sample_seconds": round(baseline.sample_seconds, 3),
        }
    return result


def run_isolated(name: str, *, size: int, runs: int, options: dict) -> Result:
    """Run one scenario in a fresh interpreter (`python -m benchmarks --child`) and read its result."""
    with tempfile.TemporaryDirectory() as directory:
        result_file = Path(directory) / "result.json"
        command = [
            sys.executable,
            "-m",
            "benchmarks",
            "--child",
            name,
            "--size",
            str(size),
            "--runs",
            str(runs),
            "--result-file",
            str(result_file),
            "--options",
            json.dumps(options),
        ]
        started = time.perf_counter()
        subprocess.run(command, check=True, env=os.environ.copy())  # noqa: S603 - our own module
        result = Result(**json.loads(result_file.read_text()))
        result.wall_seconds = round(time.perf_counter() - started, 1)  # with its process's start
        return result


def scenarios_run(names: list[str], run_one, log) -> tuple[list[Result], list[str]]:
    """Run the scenarios one after another: (their results, the names of those that failed).

    A scenario run in a process of its own that fails (`CalledProcessError`) is logged and skipped:
    an hour's run at a million clients is not lost to one scenario. The caller reports the failures.
    """
    results, failed = [], []
    for name in names:
        try:
            result = run_one(name)
        except subprocess.CalledProcessError as error:
            log(f"{name}: FAILED (exit status {error.returncode}, its traceback above); the others go on")
            failed.append(name)
            continue
        log(result.line())
        results.append(result)
    return results, failed


def result_save(result: Result, path: Path) -> None:
    path.write_text(json.dumps(asdict(result), indent=2))
