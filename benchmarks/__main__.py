"""`python -m benchmarks --size N [--runs 3] [--scenarios ingestion,...]`: measure Steward at scale.

Needs DATABASE_URL to point at PostgreSQL. With `--prepare` the database is dropped and created
again (its name must contain "bench"), migrated, and filled with the generated book of N clients
for the scenarios that need one; `make bench` does that. Each scenario runs in a process of its
own; its median of the runs, throughput, baseline, ratio and peak memory are printed, and all of
them are written to benchmarks/results.json and the table in docs/benchmarks.md.

Internal modes: `--child NAME` runs one scenario in this process and writes its result to
`--result-file`; `--probe-sync KEY` measures one sync's memory (see scenarios/ingestion.py).
"""

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
RESULTS = BASE_DIR / "benchmarks" / "results.json"
REPORT = BASE_DIR / "docs" / "benchmarks.md"


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ.setdefault("DEBUG", "false")  # DEBUG keeps every query in memory: never while measuring
    os.environ.setdefault("SECRET_KEY", "benchmark-only-key-never-used-to-serve-anything-0123456789")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings

    # The steps after a sync (the framework's evaluation) are later steps with benchmarks of their
    # own: here a sync hands changed clients to nobody, as with a broker it would only enqueue.
    settings.STEWARD_AFTER_SYNC_TASKS = []


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="clients in the generated book")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per scenario (the median is reported)")
    parser.add_argument("--scenarios", default="", help="comma-separated names (default: all)")
    parser.add_argument("--prepare", action="store_true", help="recreate and migrate the database first")
    parser.add_argument("--in-process", action="store_true", help="run every scenario in this process")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--report", type=Path, default=REPORT)
    parser.add_argument("--list", action="store_true", help="list the scenarios and stop")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="replace only these scenarios' figures in the existing results and report (a re-run of one)",
    )
    parser.add_argument("--options", default="{}", help="JSON options for the scenarios")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--probe-sync", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    options = json.loads(args.options)

    def log(text: str) -> None:
        print(text, flush=True)

    if args.prepare and not args.child:
        from .database import database_recreate

        database_url = os.environ.get("DATABASE_URL", "")
        if not database_url.startswith(("postgres://", "postgresql://")):
            raise SystemExit("make bench needs DATABASE_URL=postgres://... (the benchmarks measure PostgreSQL)")
        database_recreate(database_url, log)
    _django_setup()

    from django.db import connection

    from .registry import Context, scenarios_load
    from .runner import Result, result_save, run_isolated, run_scenario, scenarios_run

    registry = scenarios_load()
    if args.list:
        for scenario in registry.values():
            log(f"{scenario.name:<24} {scenario.description}")
        return 0
    if args.probe_sync:
        from .scenarios.ingestion import sync_probe

        print(json.dumps(sync_probe(source_key=args.probe_sync)), flush=True)
        return 0
    if args.child:
        context = Context(size=args.size, runs=args.runs, log=log, isolated=True, options=options)
        result_save(run_scenario(registry[args.child], context), args.result_file)
        return 0

    if connection.vendor != "postgresql":
        raise SystemExit("the benchmarks measure PostgreSQL: set DATABASE_URL=postgres://...")
    names = [name.strip() for name in args.scenarios.split(",") if name.strip()] or list(registry)
    unknown = [name for name in names if name not in registry]
    if unknown:
        raise SystemExit(f"unknown scenarios {unknown}; known: {', '.join(registry)}")
    if args.runs < 1:
        raise SystemExit("--runs must be at least 1")

    from .database import book_ensure, database_migrate
    from .report import machine_describe, report_markdown_write, results_json_write, results_merged

    started = time.perf_counter()
    if args.prepare:
        database_migrate(log)
    if any(registry[name].needs_clients for name in names):
        book_ensure(args.size, log)
    connection.close()  # the children open their own

    if args.in_process:

        def run_one(name: str) -> Result:
            context = Context(size=args.size, runs=args.runs, log=log, isolated=False, options=options)
            return run_scenario(registry[name], context)

    else:

        def run_one(name: str) -> Result:
            return run_isolated(name, size=args.size, runs=args.runs, options=options)

    results, failed = scenarios_run(names, run_one, log)

    command = "python -m benchmarks " + shlex.join(argv if argv is not None else sys.argv[1:])
    if os.environ.get("BENCH_COMMAND"):
        command = os.environ["BENCH_COMMAND"]  # `make bench` says how it was called
    machine = machine_describe()
    machine["bench_seconds"] = round(time.perf_counter() - started)  # migrations and the book included
    if failed:
        machine["failed_scenarios"] = failed
    if args.merge and args.results.exists():
        results, machine, command = results_merged(args.results, results, failed, command=command, order=list(registry))
    results_json_write(results, args.results, machine=machine, command=command)
    report_markdown_write(results, args.report, machine=machine, command=command)
    log(f"Wrote {args.results} and {args.report} in {machine['bench_seconds']} s.")
    if failed:
        log(f"Failed: {', '.join(failed)}.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
