"""The advisory framework over the whole book: a full evaluation, a steady-state run, one changed client.

A full evaluation is what the nightly `evaluate_all` does: every rule of the active framework over
every current client, in chunks of client ids, and the alerts reconciled (opened, kept, updated,
closed) and placed on the canvas. Every run is rolled back, so each starts from the same book.
In the bench database the steady state and one changed client (and the dashboard) start from one
full evaluation, committed by the first of them (`evaluation_committed`), not one each.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from alerts.evaluation import framework_run
from alerts.models import Alert
from clients.models import Client, LoanPart
from enrichment.models import ClientFacts
from framework.models import ClientChange, ClientEvaluation
from framework.selectors import client_snapshots, framework_evaluate, framework_version_active

from ..database import HeldTransaction, committed, rolled_back, vacuum_analyze
from ..naive_framework import orm_loop_evaluate, sample_client_ids, zen_decision, zen_evaluate, zen_features
from ..registry import Baseline, Context, Measurement, scenario

ORM_SAMPLE = 300  # clients of the per-client ORM loop (about 360 clients/s on the benchmark machine)
ZEN_SAMPLE = 3_000  # clients evaluated by zen-engine
INCREMENTAL_CLIENTS = 200


def facts_ensure(log) -> None:
    """The rules read ClientFacts; a freshly generated book has none yet (enrichment derives them)."""
    from enrichment.services import facts_refresh

    clients = Client.objects.filter(deleted_at__isnull=True).count()
    if ClientFacts.objects.count() >= clients:
        return
    started = time.perf_counter()
    facts_refresh()
    log(f"  derived the facts of {clients:,} clients in {time.perf_counter() - started:.0f} s")
    vacuum_analyze()


def alerts_clear() -> None:
    """No alerts at all, and no client evaluated: a from-scratch run must not find an earlier one's,
    nor skip a client it evaluated (alerts.evaluation), nor the next scenario.

    In the bench database (PostgreSQL, no transaction open) a TRUNCATE and fresh statistics; in the
    test suite's open transaction a DELETE.
    """
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE alerts_alert, alerts_alertevent, framework_clientevaluation, framework_clientchange CASCADE"
            )
        vacuum_analyze("alerts_alert", "alerts_alertevent", "framework_clientevaluation")
    else:
        Alert.objects.all().delete()
        ClientEvaluation.objects.all().delete()
        ClientChange.objects.all().delete()


def evaluation_committed(context: Context) -> float | None:
    """The book's full evaluation, committed, for the scenarios that start from an evaluated book
    (the steady state, one changed client, the dashboard): run once, by the first of them, and
    found by the others (the dashboard's teardown clears it). Its seconds, or None when it was there.
    """
    if Alert.objects.filter(status__in=Alert.LIVE_STATUSES, rule__isnull=False).exists():
        return None
    started = time.perf_counter()
    with transaction.atomic():
        framework_run()
    seconds = time.perf_counter() - started
    context.log(f"  a full evaluation, committed, in {seconds:.0f} s")
    vacuum_analyze("alerts_alert", "alerts_alertevent")
    return seconds


def _summary_extra(summary) -> dict:
    return {
        "alerts_opened": summary.counts.opened,
        "alerts_kept": summary.counts.kept,
        "alerts_updated": summary.counts.updated,
        "alerts_closed": summary.counts.closed,
        "chunks": summary.chunks,
    }


# --- A full evaluation from scratch ---------------------------------------------------------------


@dataclass
class _FullState:
    version: object
    clients: int
    zen_seconds: float = 0.0
    zen_sample: int = 0
    zen_agreement: float = 0.0
    extra: dict = field(default_factory=dict)
    runs_done: int = 0


def _full_setup(context: Context) -> _FullState:
    facts_ensure(context.log)
    if context.isolated and Alert.objects.exists():
        alerts_clear()  # from scratch: not over an evaluation another scenario committed
    version = framework_version_active()
    clients = Client.objects.filter(deleted_at__isnull=True).count()
    state = _FullState(version=version, clients=clients)
    _zen_measure(context, state)
    return state


def _zen_measure(context: Context, state: _FullState) -> None:
    """zen-engine over a sample (features read beforehand, untimed), extrapolated to the book."""
    today = timezone.localdate()
    ids = sample_client_ids(min(int(context.options.get("zen_sample", ZEN_SAMPLE)), state.clients))
    snapshots = client_snapshots(ids)  # untimed: zen-engine is handed the features
    features = [zen_features(snapshots[client_id], today) for client_id in ids]
    decision = zen_decision()
    seconds, fired = zen_evaluate(decision, features)
    # The set-based evaluation of the same clients, to check both read the rules the same way.
    expected = {client_id: set() for client_id in ids}
    for result in framework_evaluate(version=state.version, client_ids=ids, today=today):
        expected[result.client_id].add(result.rule.key)
    agreeing = sum(1 for client_id, keys in zip(ids, fired, strict=True) if expected[client_id] == keys)
    state.zen_sample = len(ids)
    state.zen_seconds = seconds * state.clients / len(ids)
    state.zen_agreement = round(100 * agreeing / len(ids), 1)


def _full_run(context: Context, state: _FullState) -> Measurement:
    # A rolled-back run leaves its millions of alert rows dead in the table and its indexes, which the
    # next run's probes would wade through; a nightly run in production starts from a vacuumed table.
    # In the bench database the table holds nothing else (see the setup): emptied, faster than a vacuum.
    if context.isolated:
        alerts_clear()
    else:
        vacuum_analyze("alerts_alert", "alerts_alertevent")
    # In the bench database the last run commits: the steady state, one changed client and the
    # dashboard start from an evaluated book (`evaluation_committed`), which need not be run again
    # (at a million clients, three and a half minutes).
    state.runs_done += 1
    keep = context.isolated and state.runs_done == context.runs
    with committed() if keep else rolled_back():
        started = time.perf_counter()
        summary = framework_run()
        seconds = time.perf_counter() - started
    if keep:
        vacuum_analyze("alerts_alert", "alerts_alertevent")
        context.log(f"  run {state.runs_done} is committed: the scenarios after this one start from its alerts")
    extra = _summary_extra(summary)
    extra.update(
        {
            "zen_engine_seconds": round(state.zen_seconds, 4),
            "zen_engine_sample": state.zen_sample,
            "zen_engine_ratio": round(state.zen_seconds / seconds, 1),
            "zen_agrees_with_set_based_pct": state.zen_agreement,
        }
    )
    return Measurement(seconds=seconds, count=summary.clients, extra=extra)


def _full_baseline(context: Context, state: _FullState) -> Baseline:
    ids = sample_client_ids(min(int(context.options.get("orm_sample", ORM_SAMPLE)), state.clients))
    with rolled_back():
        # From scratch, as the runs: not over the alerts of the run the bench database kept.
        Alert.objects.filter(client_id__in=ids).delete()
        ClientEvaluation.objects.filter(client_id__in=ids).delete()
        started = time.perf_counter()
        orm_loop_evaluate(version=state.version, client_ids=ids)
        seconds = time.perf_counter() - started
    return Baseline(
        seconds=seconds * state.clients / len(ids),
        sample_count=len(ids),
        sample_seconds=seconds,
        method="per client: the file loaded as ORM objects, every rule run in memory, one query and one "
        "save() per alert opened, kept or closed",
    )


scenario(
    name="framework_full",
    description=(
        "A full evaluation of the default framework over every client from scratch: every rule, the "
        "alerts opened and placed on the canvas, in chunks of client ids. Also: zen-engine evaluating "
        "the same rules as one decision table per client (sample, extrapolated)."
    ),
    unit="clients",
    setup=_full_setup,
    baseline=_full_baseline,
    needs_clients=True,
)(_full_run)


# --- Steady state: nothing changed since the last run ---------------------------------------------


@dataclass
class _HeldState:
    held: HeldTransaction | None
    first_run_seconds: float | None
    clients: int


def _held_setup(context: Context) -> _HeldState:
    facts_ensure(context.log)
    if context.isolated:  # the bench database: an evaluation committed once, shared (see above)
        seconds = evaluation_committed(context)
        return _HeldState(
            held=None, first_run_seconds=seconds, clients=Client.objects.filter(deleted_at__isnull=True).count()
        )
    held = HeldTransaction()  # the first evaluation lives until teardown, then is rolled back
    started = time.perf_counter()
    summary = framework_run()
    seconds = time.perf_counter() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE alerts_alert")
    return _HeldState(held=held, first_run_seconds=seconds, clients=summary.clients)


def _held_teardown(context: Context, state: _HeldState) -> None:
    if state.held is not None:
        state.held.roll_back()


def _steady_run(context: Context, state: _HeldState) -> Measurement:
    with rolled_back():
        started = time.perf_counter()
        summary = framework_run()
        seconds = time.perf_counter() - started
    if summary.counts.opened or summary.counts.closed:
        raise RuntimeError(f"a second evaluation with nothing changed opened or closed alerts: {summary.counts}")
    extra = _summary_extra(summary)
    extra["clients_skipped"] = summary.skipped
    # The next night, nothing changed in any file: only the clients whose date horizon came.
    with rolled_back():
        started = time.perf_counter()
        next_night = framework_run(today=timezone.localdate() + timedelta(days=1))
        extra["next_night_seconds"] = round(time.perf_counter() - started, 2)
    extra["next_night_clients_evaluated"] = next_night.clients - next_night.skipped
    extra["next_night_chunks"] = next_night.chunks  # ranges run as ranges, and batches of due clients by name
    extra["next_night_alerts_updated"] = next_night.counts.updated
    extra["next_night_alerts_opened"] = next_night.counts.opened
    extra["next_night_alerts_closed"] = next_night.counts.closed
    if state.first_run_seconds is not None:  # when this scenario ran the first evaluation itself
        extra["first_run_seconds"] = round(state.first_run_seconds, 2)
    return Measurement(seconds=seconds, count=summary.clients, extra=extra)


def _steady_baseline(context: Context, state: _HeldState) -> Baseline:
    """The same night evaluating every client again (what every night cost before clients were skipped)."""
    with rolled_back():
        started = time.perf_counter()
        summary = framework_run(everyone=True)
        seconds = time.perf_counter() - started
    return Baseline(
        seconds=seconds,
        sample_count=summary.clients,
        sample_seconds=seconds,
        method="every client evaluated again (everyone=True): every rule over every client, every alert "
        "recognised as kept, nothing written",
    )


scenario(
    name="framework_steady",
    description=(
        "A full evaluation right after another, the same day, with nothing changed: every client's "
        "file unchanged and before its date horizon, so skipped, its alerts kept as they are. Also: the "
        "next night with nothing changed (only the clients whose horizon came are evaluated)."
    ),
    unit="clients",
    setup=_held_setup,
    teardown=_held_teardown,
    baseline=_steady_baseline,
    needs_clients=True,
)(_steady_run)


# --- One changed client ---------------------------------------------------------------------------


def _incremental_run(context: Context, state: _HeldState) -> Measurement:
    ids = sample_client_ids(min(int(context.options.get("incremental_clients", INCREMENTAL_CLIENTS)), state.clients))
    soon = timezone.localdate() + timedelta(days=10)
    timings = []
    opened = 0
    with rolled_back():
        for client_id in ids:
            # The change a sync brings: a fixed-interest period that now ends in ten days (untimed).
            LoanPart.objects.filter(mortgage__client_id=client_id).update(fixed_rate_end_date=soon)
            started = time.perf_counter()
            summary = framework_run(client_ids={client_id})
            timings.append(time.perf_counter() - started)
            opened += summary.counts.opened
    timings.sort()
    return Measurement(
        seconds=sum(timings),
        count=len(ids),
        extra={
            "p50_ms": round(1000 * statistics.median(timings), 1),
            "p95_ms": round(1000 * timings[max(0, int(len(timings) * 0.95) - 1)], 1),
            "max_ms": round(1000 * timings[-1], 1),
            "alerts_opened": opened,
        },
    )


scenario(
    name="framework_incremental",
    description=(
        "One changed client evaluated on its own after a full evaluation (what a sync hands to the "
        "framework), one after another for a sample of clients: p50 and p95 per client."
    ),
    unit="clients",
    setup=_held_setup,
    teardown=_held_teardown,
    needs_clients=True,
)(_incremental_run)
