"""Scale-out: one full sync split into ranges that Celery workers read side by side.

`make bench` starts real workers (`celery -A config worker`, one process each, broker Redis db 10
or BENCH_BROKER_URL) against the benchmark database, sends them the task a person's "Sync now"
of a large first load would send (`ingestion.tasks.sync_source_partitioned`), and times it from
sending until the run has finished: with two workers and two ranges (the runs), and with one range,
so one worker (the baseline). Their writes are committed, as in production, so after each run the
source's records and the clients it created are deleted again (untimed).

In the test suite (no broker), the ranges are read one after another in the test's process,
rolled back: the harness is exercised, the figures mean nothing.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection, transaction

from clients.models import Client
from ingestion.models import Source, SyncRun
from ingestion.services.sync_partitions import source_sync_partition, source_sync_partitioned_start

from ..database import rolled_back, vacuum_analyze
from ..registry import Baseline, Context, Measurement, scenario
from .ingestion import SYNC_TABLES, _crm_setup, _crm_teardown, _CrmState

WORKERS = 2
# Records per sync (option `scale_out_records`): fewer than `ingestion`'s, as every run also starts
# the task on the workers and removes its writes again, within the time budget of `make bench`.
SCALE_OUT_RECORDS = 10_000
QUEUE = "bench_ingest"  # benchmarks/worker_settings.py: the workers read this queue only
SOURCE_KEY = "bench-crm-scale"
RUN_TIMEOUT_SECONDS = 900
WORKER_FLAGS = ("--loglevel=WARNING", "--without-gossip", "--without-mingle")


@dataclass
class _ScaleState:
    crm: _CrmState
    workers: list[subprocess.Popen] = field(default_factory=list)
    app: object = None  # a Celery client of the broker, only to send the task
    log: object = None  # the workers' stderr, a temporary file shown when something goes wrong


def _broker_url() -> str:
    return os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/10")


def _setup(context: Context) -> _ScaleState:
    records = min(context.size, int(context.options.get("scale_out_records", SCALE_OUT_RECORDS)))
    state = _ScaleState(crm=_crm_setup(context, key=SOURCE_KEY, records=records))
    if context.isolated:
        _book_backup()
        try:
            _workers_start(state, WORKERS)
        except BaseException:
            _teardown(context, state)
            raise
    return state


def _teardown(context: Context, state: _ScaleState) -> None:
    for worker in state.workers:
        worker.terminate()  # a warm shutdown: the worker finishes nothing (it is idle) and exits
    for worker in state.workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    _crm_teardown(context, state.crm)
    if state.log is not None:
        state.log.close()
        Path(state.log.name).unlink(missing_ok=True)


def _workers_start(state: _ScaleState, count: int) -> None:
    from celery import Celery

    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.worker_settings",
        "REDIS_URL": _broker_url(),
        "CELERY_TASK_ALWAYS_EAGER": "false",
    }
    celery = Path(sys.executable).parent / "celery"
    state.log = tempfile.NamedTemporaryFile(prefix="bench-celery-", suffix=".log", delete=False)  # noqa: SIM115
    names = [f"bench-ingest-{index}@%h" for index in range(count)]
    for name in names:
        state.workers.append(
            subprocess.Popen(  # noqa: S603 - Celery of our own virtualenv, with our own app
                [str(celery), "-A", "config", "worker", "--concurrency=1", "-Q", QUEUE, "-n", name, *WORKER_FLAGS],
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=state.log,  # Celery's warnings (running as root...) would bury the figures
            )
        )
    state.app = Celery(broker=_broker_url())
    state.app.control.purge()  # nothing of an earlier, interrupted benchmark in our queue
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if len(state.app.control.ping(timeout=1.0) or []) >= count:
            return
        if any(worker.poll() is not None for worker in state.workers):
            raise RuntimeError(f"a Celery worker of the benchmark exited while starting; see {state.log.name}")
    raise RuntimeError(f"{count} Celery workers did not answer within two minutes")


def _sync_with_workers(context: Context, state: _ScaleState, parts: int) -> tuple[float, SyncRun, float | None]:
    """One partitioned full sync of `parts` ranges: its seconds, its run, the workers' peak RSS."""
    source = state.crm.source
    if not context.isolated:
        with rolled_back():
            started = time.perf_counter()
            run = source_sync_partitioned_start(source_id=source.pk, parts=parts)
            for index in run.parts.values_list("index", flat=True):
                source_sync_partition(run_id=run.pk, index=index)
            seconds = time.perf_counter() - started
            run.refresh_from_db()
            run.ranges = run.parts.count()
        return seconds, run, None
    last_pk = SyncRun.objects.filter(source=source).order_by("-pk").values_list("pk", flat=True).first() or 0
    for worker in state.workers:
        _peak_reset(worker.pid)
    started = time.perf_counter()
    state.app.send_task("ingestion.tasks.sync_source_partitioned", args=[source.pk, parts], queue=QUEUE)
    while True:
        run = SyncRun.objects.filter(source=source, pk__gt=last_pk).first()
        if run is not None and run.status != SyncRun.Status.RUNNING:
            break
        if time.perf_counter() - started > RUN_TIMEOUT_SECONDS:
            raise RuntimeError(f"the partitioned sync did not finish in time; the workers' log: {state.log.name}")
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    peak = max(_peak_mb(worker.pid) for worker in state.workers)
    run.ranges = run.parts.count()
    _source_data_delete(source)
    return seconds, run, peak


def _checked(run: SyncRun, records: int) -> SyncRun:
    if run.status != SyncRun.Status.SUCCEEDED or run.fetched != records:
        raise RuntimeError(f"the partitioned sync did not read every record: {run.status} {run.fetched} {run.error}")
    return run


def _book_backup() -> None:
    """Keep the book's client rows aside (a temporary table of this session), to restore after runs."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_book_backup")
        cursor.execute("CREATE TEMPORARY TABLE bench_book_backup AS SELECT * FROM clients_client")
        cursor.execute("ALTER TABLE bench_book_backup ADD PRIMARY KEY (id)")


def _source_data_delete(source: Source) -> None:
    """Undo what a committed sync wrote, untimed: its records, the clients and sync slots it created,
    and what it changed of book clients it linked records to (restored from `_book_backup`), so the
    next run matches against exactly the same book."""
    key = source.key
    columns = [field.column for field in Client._meta.concrete_fields if not field.primary_key]
    assignments = ", ".join(f'"{column}" = b."{column}"' for column in columns)
    # Plain SQL, children first: the ORM's delete would send every row through the audit trail's
    # signals (a history row each), minutes per run for what only the benchmark wrote.
    statements = [
        "DELETE FROM ingestion_matchcandidate WHERE source_record_id IN "
        "(SELECT id FROM ingestion_sourcerecord WHERE source_key = %(key)s)",
        "DELETE FROM ingestion_dataconflict WHERE client_id IN (SELECT client_id FROM ingestion_sourcerecord "
        "WHERE source_key = %(key)s AND client_id IS NOT NULL)",
        "DELETE FROM clients_loanpart WHERE source = %(key)s AND sync_slot <> ''",
        "DELETE FROM clients_mortgage WHERE source = %(key)s AND sync_slot <> ''",
        "DELETE FROM clients_income WHERE source = %(key)s AND sync_slot <> ''",
        f"UPDATE clients_client AS c SET {assignments} FROM bench_book_backup AS b "  # noqa: S608 - model columns
        "WHERE c.id = b.id AND c.id IN (SELECT client_id FROM ingestion_sourcerecord WHERE source_key = %(key)s) "
        "AND c.source <> %(key)s",
        "DELETE FROM ingestion_sourcerecord WHERE source_key = %(key)s",
        "DELETE FROM clients_client WHERE source = %(key)s",
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement, {"key": key})
        Source.objects.filter(pk=source.pk).update(watermark=None, resume_cursor="", lock_token="", locked_at=None)
    vacuum_analyze(*SYNC_TABLES)


def _run(context: Context, state: _ScaleState) -> Measurement:
    seconds, run, peak = _sync_with_workers(context, state, parts=WORKERS)
    _checked(run, state.crm.records)
    return Measurement(
        seconds=seconds,
        count=run.fetched,
        peak_rss_mb=peak,
        extra={"workers": WORKERS if context.isolated else 0, "ranges": run.ranges},
    )


def _baseline(context: Context, state: _ScaleState) -> Baseline:
    """The same sync as one range, so one worker reads it all (once: the time budget)."""
    seconds, run, _peak = _sync_with_workers(context, state, parts=1)
    _checked(run, state.crm.records)
    return Baseline(
        seconds=seconds,
        sample_count=state.crm.records,
        sample_seconds=seconds,
        method="the same sync as one range, read by one worker",
    )


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def _peak_reset(pid: int) -> None:
    for process in [pid, *_children(pid)]:
        with contextlib.suppress(OSError):
            Path(f"/proc/{process}/clear_refs").write_text("5")


def _peak_mb(pid: int) -> float:
    """The largest peak RSS of a worker's processes (its pool child does the work)."""
    peaks = [0.0]
    for process in [pid, *_children(pid)]:
        with contextlib.suppress(OSError, ValueError, IndexError):
            line = next(
                line for line in Path(f"/proc/{process}/status").read_text().splitlines() if line.startswith("VmHWM:")
            )
            peaks.append(int(line.split()[1]) / 1024)
    return round(max(peaks), 1)


scenario(
    name="ingestion_scale_out",
    description=(
        "A full sync split into ranges of contact ids that Celery workers read side by side "
        "(ingestion.tasks.sync_source_partitioned): timed with two worker processes; baseline: "
        "one range, one worker. Ratio = how much faster two workers are."
    ),
    unit="records",
    setup=_setup,
    teardown=_teardown,
    baseline=_baseline,
    needs_clients=True,
    cap_note="Records per sync are capped at 10,000 (option `scale_out_records`): the time budget.",
)(_run)
