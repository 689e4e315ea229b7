"""Ingestion at scale: a full sync from the fake CRM, a second sync, a bulk load, and memory.

Every sync here is the real engine end to end: pages fetched over HTTP from the fake HubSpot (a
process of its own, see benchmarks/fake_crm.py), mapped, matched against the book of generated
clients, resolved by precedence, written with provenance, checkpointed per batch.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.models import Team
from ingestion.demo import crm_source_configure
from ingestion.fake_sources.generator import people
from ingestion.models import Source, SyncRun
from ingestion.services.bulk_load import clients_bulk_load
from ingestion.services.sync import connector_for, mapping_rules, source_sync

from ..database import HeldTransaction, rolled_back, vacuum_analyze
from ..fake_crm import fake_crm_process
from ..memory import peak_mb, peak_reset, rss_mb
from ..naive import client_row_save_one_by_one, record_save_one_by_one
from ..registry import Baseline, Context, Measurement, scenario

# A full sync's records per run. HubSpot's limit (about 190 requests of 100 records per 10 s for a
# private app) caps a real sync near 1,900 records/s, so 20,000 records is what HubSpot would
# deliver in about 11 s; the engine's throughput is flat past a few batches (constant work per
# batch, memory bounded by the batch), so more records only cost minutes of the time budget.
INGESTION_RECORDS = 20_000
BULK_ROWS = 200_000  # rows per bulk load: a large firm's whole book in one file
MEMORY_RECORDS = 10_000  # the larger of memory_sync's two syncs; the smaller has a tenth
# What a sync reads and writes: their statistics are refreshed before each scenario (the whole
# database's VACUUM took 20 s of the time budget on a busy machine, for tables no sync touches).
SYNC_TABLES = (
    "clients_client",
    "clients_income",
    "clients_mortgage",
    "clients_loanpart",
    "ingestion_sourcerecord",
    "ingestion_dataconflict",
    "ingestion_matchcandidate",
)
BASELINE_SAMPLE = 1_000
CRM_KEY = "bench-crm"
BULK_SOURCE_KEY = "bench-backoffice"

CAP_NOTE = (
    "Records per sync are capped (option `ingestion_records`, default 20,000): HubSpot itself would "
    "take about 11 s to serve them, and the engine's rate does not change with more."
)


def _records(context: Context) -> int:
    return min(context.size, int(context.options.get("ingestion_records", INGESTION_RECORDS)))


def _team() -> Team:
    return Team.objects.get_or_create(name="Team Noord")[0]


@dataclass
class _CrmState:
    records: int
    source: Source
    stack: contextlib.ExitStack
    held: HeldTransaction | None = None
    extra: dict = field(default_factory=dict)


def _crm_setup(context: Context, *, key: str = CRM_KEY, records: int | None = None) -> _CrmState:
    records = records if records is not None else _records(context)
    stack = contextlib.ExitStack()
    base_url = stack.enter_context(fake_crm_process(contacts=records))
    source = crm_source_configure(base_url=base_url, team=_team(), key=key)
    vacuum_analyze(*SYNC_TABLES)
    return _CrmState(records=records, source=source, stack=stack)


def _crm_teardown(context: Context, state: _CrmState) -> None:
    if state.held is not None:
        state.held.roll_back()
    state.stack.close()
    Source.objects.filter(pk=state.source.pk).delete()


def _sync_timed(source: Source) -> tuple[float, SyncRun]:
    started = time.perf_counter()
    run = source_sync(source_id=source.pk)
    seconds = time.perf_counter() - started
    if run.status != SyncRun.Status.SUCCEEDED:
        raise RuntimeError(f"the benchmark sync did not succeed: {run.status} {run.error}")
    return seconds, run


# --- A full sync ----------------------------------------------------------------------------------


def _ingestion_run(context: Context, state: _CrmState) -> Measurement:
    with rolled_back():
        engine_cpu, postgres_cpu = time.process_time(), _backend_cpu_seconds()
        seconds, run = _sync_timed(state.source)
        engine_cpu, postgres_cpu = time.process_time() - engine_cpu, _backend_cpu_seconds() - postgres_cpu
    extra = {"new_records": run.created, "to_review": run.in_review, "quarantined": run.quarantined}
    # CPU seconds of the engine's process and of its PostgreSQL backend: on a shared machine the
    # wall-clock time says as much about the neighbours as about the sync; the work done does not.
    extra["engine_cpu_seconds"] = round(engine_cpu, 2)
    if _backend_cpu_seconds() >= 0:
        extra["postgres_cpu_seconds"] = round(postgres_cpu, 2)
    return Measurement(seconds=seconds, count=run.fetched, extra=extra)


def _backend_cpu_seconds() -> float:
    """CPU seconds this connection's PostgreSQL backend has used (-1 when it is not on this machine)."""
    connection.ensure_connection()
    try:
        pid = connection.connection.info.backend_pid
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (AttributeError, OSError):
        return -1.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _ingestion_baseline(context: Context, state: _CrmState) -> Baseline:
    """The first pages of the same contacts, fetched the same way, written one save() at a time."""
    sample = min(BASELINE_SAMPLE, state.records)
    connector = connector_for(state.source)
    rules = mapping_rules(state.source)
    done = 0
    with rolled_back():
        started = time.perf_counter()
        cursor = None
        while done < sample:
            page = connector.fetch_page(cursor, None)
            for record in page.records[: sample - done]:
                record_save_one_by_one(source=state.source, record=record, rules=rules, now=timezone.now())
                done += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        seconds = time.perf_counter() - started
    connector.close()
    return Baseline(
        seconds=seconds * state.records / done,
        sample_count=done,
        sample_seconds=seconds,
        method="the same contacts fetched the same way, then a query per lookup and one ORM save() per row",
    )


scenario(
    name="ingestion",
    description=(
        "A first full sync of the fake HubSpot over HTTP into the book: map, match against the book, "
        "precedence, write clients, records, sync slots and provenance, checkpoint per batch."
    ),
    unit="records",
    setup=_crm_setup,
    teardown=_crm_teardown,
    baseline=_ingestion_baseline,
    needs_clients=True,
    cap_note=CAP_NOTE,
)(_ingestion_run)


# --- A second sync --------------------------------------------------------------------------------


def _incremental_setup(context: Context) -> _CrmState:
    state = _crm_setup(context)
    state.held = HeldTransaction()  # the first sync lives until teardown, then is rolled back
    _sync_timed(state.source)
    return state


def _incremental_run(context: Context, state: _CrmState) -> Measurement:
    with rolled_back():
        # Read every contact again (a full re-read, like a first run after a mapping change).
        Source.objects.filter(pk=state.source.pk).update(watermark=None)
        seconds, run = _sync_timed(state.source)
        if run.unchanged != state.records:
            raise RuntimeError(f"a second sync changed {state.records - run.unchanged} records")
    with rolled_back():
        # As the scheduler runs it: from the watermark on, so only what changed is fetched.
        watermark_seconds, watermark_run = _sync_timed(state.source)
    return Measurement(
        seconds=seconds,
        count=run.fetched,
        extra={
            "incremental_run_seconds": round(watermark_seconds, 3),
            "incremental_run_fetched": watermark_run.fetched,
        },
    )


scenario(
    name="ingestion_incremental",
    description=(
        "A second sync after the first, with nothing changed in the CRM: every contact read again "
        "and recognised as unchanged by its content hash (timed); and the scheduler's incremental "
        "run from the watermark, which fetches only the last minutes (in 'Also')."
    ),
    unit="records",
    setup=_incremental_setup,
    teardown=_crm_teardown,
    needs_clients=True,
    cap_note=CAP_NOTE,
)(_incremental_run)


# --- Memory ---------------------------------------------------------------------------------------


@dataclass
class _MemoryState:
    sizes: tuple[int, int]
    sources: tuple[Source, Source]
    stack: contextlib.ExitStack


def _memory_setup(context: Context) -> _MemoryState:
    large = min(context.size, int(context.options.get("memory_records", MEMORY_RECORDS)))
    small = max(large // 10, 1)
    stack = contextlib.ExitStack()
    sources = []
    for index, records in enumerate((small, large)):
        base_url = stack.enter_context(fake_crm_process(contacts=records))
        sources.append(crm_source_configure(base_url=base_url, team=_team(), key=f"bench-memory-{index}"))
    vacuum_analyze(*SYNC_TABLES)
    return _MemoryState(sizes=(small, large), sources=tuple(sources), stack=stack)


def _memory_teardown(context: Context, state: _MemoryState) -> None:
    state.stack.close()
    Source.objects.filter(pk__in=[source.pk for source in state.sources]).delete()


def sync_probe(*, source_key: str) -> dict:
    """One full sync of the source, rolled back: its duration and this process's memory around it."""
    source = Source.objects.get(key=source_key)
    rss_before = rss_mb()
    peak_reset()
    with rolled_back():
        seconds, run = _sync_timed(source)
    return {"records": run.fetched, "seconds": seconds, "rss_before_mb": rss_before, "peak_rss_mb": peak_mb()}


def _probe(context: Context, source: Source) -> dict:
    if not context.isolated:
        return sync_probe(source_key=source.key)
    # A process of its own: its peak is this sync's alone, not what earlier work left allocated.
    output = subprocess.run(  # noqa: S603 - our own module
        [sys.executable, "-m", "benchmarks", "--probe-sync", source.key],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def _memory_run(context: Context, state: _MemoryState) -> Measurement:
    small, large = (_probe(context, source) for source in state.sources)
    return Measurement(
        seconds=large["seconds"],
        count=large["records"],
        peak_rss_mb=large["peak_rss_mb"],
        extra={
            "small_sync_records": small["records"],
            "small_sync_peak_rss_mb": small["peak_rss_mb"],
            "large_sync_peak_rss_mb": large["peak_rss_mb"],
            "rss_before_sync_mb": large["rss_before_mb"],
            "peak_growth_mb_from_small_to_large": round(large["peak_rss_mb"] - small["peak_rss_mb"], 1),
        },
    )


scenario(
    name="memory_sync",
    description=(
        "Peak resident memory of a full sync at two sizes, a tenfold apart, each in a fresh process: "
        "the engine holds one batch (and the pages fetched ahead), never the whole source."
    ),
    unit="records",
    setup=_memory_setup,
    teardown=_memory_teardown,
    needs_clients=True,
    cap_note="The larger sync has at most 10,000 records (option `memory_records`), the smaller a tenth.",
)(_memory_run)


# --- A bulk load ----------------------------------------------------------------------------------


@dataclass
class _BulkState:
    team_id: int
    rows: list[dict]


def _book_rows(count: int) -> list[dict]:
    """A back-office export of `count` clients, as rows the bulk load takes."""
    return [
        {
            "record_id": f"BO-{person.number + 1:07d}",
            "changed_at": person.modified_at,
            "first_name": person.first_name,
            "last_name_prefix": person.infix,
            "last_name": person.last_name,
            "birth_date": person.date_of_birth,
            "email": person.email,
            "phone": person.phone.replace(" ", ""),
            "street": person.street,
            "house_number": str(person.house_number),
            "postcode": person.postcode,
            "city": person.city,
            "client_since": date(2026, 1, 1) - (person.modified_at - person.created_at),
        }
        for person in people(count, seed=4242)
    ]


def _bulk_setup(context: Context) -> _BulkState:
    count = min(context.size, int(context.options.get("bulk_rows", BULK_ROWS)))
    vacuum_analyze(*SYNC_TABLES)
    return _BulkState(team_id=_team().pk, rows=_book_rows(count))


def _bulk_run(context: Context, state: _BulkState) -> Measurement:
    if context.isolated:
        # As a load runs in production: outside a transaction, so its batches load in lanes side by
        # side (ingestion.services.bulk_load.PARALLEL_LANES), committed; removed again untimed.
        try:
            report = clients_bulk_load(source_key=BULK_SOURCE_KEY, team_id=state.team_id, rows=state.rows)
            again = clients_bulk_load(source_key=BULK_SOURCE_KEY, team_id=state.team_id, rows=state.rows)
        finally:
            _bulk_loaded_delete()
    else:
        with rolled_back():
            report = clients_bulk_load(source_key=BULK_SOURCE_KEY, team_id=state.team_id, rows=state.rows)
            again = clients_bulk_load(source_key=BULK_SOURCE_KEY, team_id=state.team_id, rows=state.rows)
    if report.created != len(state.rows) or again.unchanged != len(state.rows):
        raise RuntimeError(f"the bulk load did not create every row once: {report}, then {again}")
    return Measurement(
        seconds=report.seconds,
        count=report.rows,
        extra={"reload_unchanged_seconds": round(again.seconds, 3)},
    )


def _bulk_loaded_delete() -> None:
    """Remove the clients a committed load created (untimed). Nothing refers to them yet, so the
    foreign-key triggers are skipped where the benchmark's role may (a superuser): with them, each
    deleted row is looked up in every table that refers to clients, a minute per run."""
    with transaction.atomic(), connection.cursor() as cursor:
        try:
            with transaction.atomic():
                cursor.execute("SET LOCAL session_replication_role = replica")
        except DatabaseError:
            pass  # not allowed: the slow way, with every check
        cursor.execute("DELETE FROM clients_client WHERE source = %s", [BULK_SOURCE_KEY])
    vacuum_analyze("clients_client")


def _bulk_baseline(context: Context, state: _BulkState) -> Baseline:
    sample = state.rows[:BASELINE_SAMPLE]
    with rolled_back():
        started = time.perf_counter()
        now = timezone.now()
        for row in sample:
            client_row_save_one_by_one(source_key=BULK_SOURCE_KEY, team_id=state.team_id, row=row, now=now)
        seconds = time.perf_counter() - started
    return Baseline(
        seconds=seconds * len(state.rows) / len(sample),
        sample_count=len(sample),
        sample_seconds=seconds,
        method="one ORM save() per new client row",
    )


scenario(
    name="bulk_load_staging",
    description=(
        "The first load of a book: client rows COPY-ed into a staging table, then one UPDATE of "
        "changed and one INSERT of new clients (ingestion.services.bulk_load), in two lanes side by "
        "side, committed. Loading the same rows again changes nothing (its time in 'Also')."
    ),
    unit="rows",
    setup=_bulk_setup,
    baseline=_bulk_baseline,
    needs_clients=True,
    cap_note="Rows per load are capped at 200,000 (option `bulk_rows`).",
)(_bulk_run)


# The scale-out scenario (Celery workers) lives in a module of its own; importing it registers it.
from . import ingestion_scale_out  # noqa: E402, F401
