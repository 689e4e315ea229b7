"""Applying the framework to the book: findings in, alerts reconciled, in chunks of clients.

The whole book is evaluated in chunks of client ids, so memory stays flat and a firm with several
worker machines can run chunks in parallel; one changed client is a chunk of one.
"""

from dataclasses import dataclass, field
from datetime import date
from functools import cache

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Max, Min
from django.utils import timezone
from django.utils.module_loading import import_string

from clients.models import Client
from framework.changes import (
    book_due,
    changes_of_gone_clients_clear,
    changes_take,
    clients_due,
    evaluations_record,
    rules_key,
    run_writes_mark,
)
from framework.selectors import RuleResult, framework_evaluate, framework_version_active
from framework.staging import (
    findings_message_sql,
    findings_stage,
    range_narrowable,
    staging_supported,
    version_active_fingerprinted,
    version_programs,
)

from .models import Alert
from .services import Finding, ReconcileCounts, alerts_reconcile, alerts_reconcile_staged

CHUNK_SIZE = 10_000  # client ids per chunk; SQLite allows 32,766 query parameters
# A range of the book with at most this many clients due tonight is not run as a range: its due
# clients are evaluated by name, together with other such ranges' (a range's machinery costs about
# 80 ms at a million clients however few of its clients are due; by name, about 0.5 ms a client).
SPARSE_RANGE_MAX_DUE = 150


def finding_from_result(result: RuleResult) -> Finding:
    granulation = result.granulation
    return Finding(
        client_id=result.client_id,
        alert_type=result.alert_type,
        alert_type_name=result.rule.name,
        rule_key=result.rule.key,
        segment=result.granule,
        rule_id=result.rule.pk,
        rule_version_id=result.rule.version_id,
        message=result.message,
        values={key: _json(value) for key, value in result.values.items()},
        granulation={
            "age_band": granulation.age_band,
            "household_type": granulation.household_type,
            "days_to_deadline": granulation.days_to_deadline,
            "discrepancy_count": granulation.discrepancy_count,
            "urgency": result.urgency,
            "branch": result.branch,
        },
        due_date=result.deadline,
    )


def _json(value):
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


@dataclass
class RunSummary:
    counts: ReconcileCounts = field(default_factory=ReconcileCounts)
    clients: int = 0
    chunks: int = 0
    skipped: int = 0  # clients whose file and horizon said nothing could have changed (not evaluated)


def client_id_chunks(chunk_size: int | None = None, *, bounds: dict | None = None):
    """Current clients' ids in ranges, each range one chunk (a chunk task, when scaled out)."""
    chunk_size = chunk_size or CHUNK_SIZE
    bounds = bounds or Client.objects.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return
    for start in range(bounds["low"], bounds["high"] + 1, chunk_size):
        yield start, start + chunk_size


def framework_run_range(
    *, start: int, stop: int, version=None, today: date | None = None, everyone: bool = False
) -> RunSummary:
    """Evaluate and reconcile the clients with ids in [start, stop)."""
    client_ids = set(
        Client.objects.filter(pk__gte=start, pk__lt=stop, deleted_at__isnull=True).values_list("pk", flat=True)
    )
    return framework_run(client_ids=client_ids, version=version, today=today, id_range=(start, stop), everyone=everyone)


@dataclass
class BookPlan:
    """Tonight's whole-book run, planned from one read of who is due (`framework.changes.book_due`):
    the ranges run as ranges (many due), the due clients of the other ranges in batches by name, and
    those other ranges' clients that are not due, whose alerts are kept as they are."""

    version: object
    today: date
    low: int = 0  # the first client id: ranges start from it
    ranges: list[tuple[int, int]] = field(default_factory=list)
    batches: list[list[int]] = field(default_factory=list)
    quiet: list[tuple[int, int, int, int]] = field(default_factory=list)  # start, stop, clients, due

    @property
    def chunks(self) -> int:
        return len(self.ranges) + len(self.batches)


def book_plan(*, version, today: date) -> BookPlan:
    """Plan a night over the book (PostgreSQL): a range with at most `SPARSE_RANGE_MAX_DUE` clients
    due is not run as a range (about a thousand clients are due on a night at a million); its due
    clients are evaluated by name in batches of up to `CHUNK_SIZE`."""
    plan = BookPlan(version=version, today=today)
    bounds = Client.objects.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return plan
    plan.low = bounds["low"]
    key = rules_key(version_programs(version))
    per_range = book_due(key=key, today=today, low=bounds["low"], size=CHUNK_SIZE)
    waiting: list[int] = []
    for start, stop in client_id_chunks(bounds=bounds):
        clients, due = per_range.get((start - bounds["low"]) // CHUNK_SIZE, (0, []))
        if len(due) > SPARSE_RANGE_MAX_DUE:
            plan.ranges.append((start, stop))
        else:
            plan.quiet.append((start, stop, clients, len(due)))
            waiting += due
    plan.batches = [waiting[offset : offset + CHUNK_SIZE] for offset in range(0, len(waiting), CHUNK_SIZE)]
    return plan


def book_plan_quiet_record(plan: BookPlan) -> RunSummary:
    """The clients of the quiet ranges that are not due: their live alerts kept (counted, in one
    statement over the book), and each range recorded as run (trust.duty_of_care), as a run over
    the range records it."""
    summary = RunSummary()
    quiet = [(start, stop, clients, due) for start, stop, clients, due in plan.quiet if clients > due]
    if not quiet:
        return summary
    started_at = timezone.now()
    due = [client_id for batch in plan.batches for client_id in batch]
    kept = _live_alerts_by_range(low=plan.low, size=CHUNK_SIZE, excluding=due)
    with transaction.atomic():
        for start, stop, clients, _due in quiet:
            counts = ReconcileCounts(kept=kept.get((start - plan.low) // CHUNK_SIZE, 0))
            summary.counts.add(counts)
            for path in settings.STEWARD_AFTER_FRAMEWORK_RUN:
                import_string(path)(
                    version=plan.version, client_ids=None, clients=clients, id_range=(start, stop),
                    counts=counts, started_at=started_at,
                )  # fmt: skip
    summary.clients = summary.skipped = sum(clients - due for _start, _stop, clients, due in quiet)
    return summary


def book_night_plan(*, today: date | None = None) -> BookPlan | None:
    """For the nightly task: the marks of gone clients cleared, tonight's plan made and its quiet
    ranges recorded; None where nights are not planned (SQLite: every range is run)."""
    if not staging_supported():
        return None
    version = framework_version_active()
    if version is None:
        return BookPlan(version=None, today=today or timezone.localdate())
    changes_of_gone_clients_clear()
    plan = book_plan(version=version, today=today or timezone.localdate())
    book_plan_quiet_record(plan)
    return plan


def _book_run_planned(*, version, today: date) -> RunSummary:
    """A night over the book, as `book_plan` plans it, run here (the nightly task sends the same
    ranges and batches to the workers instead)."""
    plan = book_plan(version=version, today=today)
    summary = book_plan_quiet_record(plan)
    runs = [framework_run_range(start=start, stop=stop, version=version, today=today) for start, stop in plan.ranges]
    runs += [framework_run(client_ids=set(batch), version=version, today=today) for batch in plan.batches]
    for run in runs:
        summary.counts.add(run.counts)
        summary.clients += run.clients
        summary.skipped += run.skipped
    summary.chunks = plan.chunks
    return summary


def framework_run(
    *,
    client_ids: set[int] | None = None,
    version=None,
    today: date | None = None,
    id_range: tuple | None = None,
    everyone: bool = False,
) -> RunSummary:
    """Evaluate the (active) framework for these clients, or the whole book, and reconcile their alerts.

    Over the book (or a range of it), a client whose file did not change since its last evaluation,
    under the same rules and before its date horizon, is skipped (on PostgreSQL; framework.changes,
    framework.horizon): nothing could have changed for it. `everyone` evaluates every client anyway.
    Named clients (those a sync changed) are always evaluated.
    """
    fingerprint = None
    if version is None and client_ids is not None and staging_supported():
        # The active version and its rules' fingerprint in one query: one changed client's run
        # then reads no rules (`version_programs` keeps them per fingerprint).
        version, fingerprint = version_active_fingerprinted()
    elif version is None:
        version = framework_version_active()
    summary = RunSummary()
    if version is None:
        return summary
    if client_ids is None:
        if staging_supported():
            changes_of_gone_clients_clear()
            if not everyone:
                return _book_run_planned(version=version, today=today or timezone.localdate())
        for start, stop in client_id_chunks():
            chunk = framework_run_range(start=start, stop=stop, version=version, today=today, everyone=everyone)
            summary.counts.add(chunk.counts)
            summary.clients += chunk.clients
            summary.skipped += chunk.skipped
            summary.chunks += 1
        return summary
    if staging_supported():
        return _framework_run_staged(
            version=version,
            client_ids=client_ids,
            today=today or timezone.localdate(),
            id_range=id_range,
            fingerprint=fingerprint,
            everyone=everyone,
        )
    ids = sorted(client_ids)
    # A range's clients are read by their id range, not by a list of ten thousand ids (which costs
    # more to send, quote and parse than the queries cost to run).
    client_id_range = id_range if id_range is not None and len(ids) <= CHUNK_SIZE else None
    for offset in range(0, len(ids), CHUNK_SIZE):
        chunk_ids = set(ids[offset : offset + CHUNK_SIZE])
        started_at = timezone.now()
        results = framework_evaluate(
            version=version, client_ids=chunk_ids, today=today, client_id_range=client_id_range
        )
        counts = alerts_reconcile(
            findings=[finding_from_result(r) for r in results], client_ids=chunk_ids, client_id_range=client_id_range
        )
        summary.counts.add(counts)
        # Later steps record the run (which version ran when, on whom), e.g. for the duty-of-care file.
        for path in settings.STEWARD_AFTER_FRAMEWORK_RUN:
            import_string(path)(
                version=version, client_ids=chunk_ids, id_range=id_range, counts=counts, started_at=started_at
            )
        summary.clients += len(chunk_ids)
        summary.chunks += 1
    return summary


def _framework_run_staged(
    *,
    version,
    client_ids: set[int],
    today: date,
    id_range: tuple | None,
    fingerprint: str | None = None,
    everyone: bool = False,
) -> RunSummary:
    """`framework_run` in SQL (PostgreSQL): each chunk's findings staged and reconciled by the database,
    with no Python per client or alert (framework.staging, alerts.services.alerts_reconcile_staged).

    A chunk by range evaluates only its clients that are due (`framework.changes.clients_due`), with
    the range's feature table narrowed to them; the others keep their alerts as they are, counted as
    kept."""
    summary = RunSummary()
    programs = version_programs(version, fingerprint=fingerprint)
    rule_keys = {rule.pk: rule.key for rule, _program in programs}
    key = rules_key(programs)
    ids = sorted(client_ids)
    whole_range = id_range is not None and len(ids) <= CHUNK_SIZE
    # A chunk by range is staged without messages (framework.staging): the reconcile makes them.
    message_sql = findings_message_sql(programs) if whole_range else None
    narrowable = whole_range and range_narrowable(programs, today)
    for offset in range(0, len(ids), CHUNK_SIZE):
        chunk_ids = ids[offset : offset + CHUNK_SIZE]
        started_at = timezone.now()
        scope = {"client_id_range": id_range} if whole_range else {"client_ids": chunk_ids}
        with transaction.atomic():
            with connection.cursor() as cursor:
                run_writes_mark(cursor)
            skipped = []
            if not whole_range:
                changes_take(chunk_ids)
            elif not everyone:
                due = clients_due(client_id_range=id_range, key=key, today=today)
                if len(due) < len(chunk_ids):
                    skipped = sorted(set(chunk_ids).difference(due))
                    # The range's machinery (its feature table) for a few due clients, too: by name
                    # each costs several times more (a night's 14% of a million: 61 s against 44 s
                    # for everyone by range).
                    if not due:
                        scope = {}
                    elif narrowable:
                        scope = {"client_id_range": id_range, "only_client_ids": due}
                    else:
                        scope = {"client_ids": due}
            counts = ReconcileCounts()
            if scope:
                findings_stage(programs=programs, today=today, **scope)
                chunk_message_sql = message_sql if "client_id_range" in scope else None
                counts = alerts_reconcile_staged(
                    rule_keys=rule_keys, today=today, message_sql=chunk_message_sql, **scope
                )
                # Narrowed, the range's feature table holds the due clients only: the range is them.
                record_scope = {name: value for name, value in scope.items() if name != "only_client_ids"}
                evaluations_record(programs=programs, today=today, key=key, **record_scope)
            with connection.cursor() as cursor:
                run_writes_mark(cursor, on=False)
            if skipped:
                counts.kept += _live_alerts_count(id_range, evaluated=due)
            for path in settings.STEWARD_AFTER_FRAMEWORK_RUN:
                import_string(path)(
                    version=version, client_ids=set(chunk_ids), id_range=id_range, counts=counts, started_at=started_at
                )
        summary.counts.add(counts)
        summary.clients += len(chunk_ids)
        summary.skipped += len(skipped)
        summary.chunks += 1
        if counts.opened >= STALE_STATISTICS_MIN_OPENED:
            alert_statistics_refresh_if_stale(opened=counts.opened)
    return summary


def _live_alerts_count(id_range: tuple[int, int], *, evaluated: list[int]) -> int:
    """The live alerts of the clients of a range that a run skipped: kept, as they are. (By the
    range: by the skipped clients' ids, ten thousand probes cost four times more.)"""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {Alert._meta.db_table} WHERE client_id >= %s AND client_id < %s"  # noqa: S608
            " AND client_id NOT IN (SELECT unnest(CAST(%s AS bigint[]))) AND status = ANY(%s)"
            f" AND client_id IN (SELECT id FROM {Client._meta.db_table} WHERE id >= %s AND id < %s"
            " AND deleted_at IS NULL)",
            [*id_range, evaluated, [status.value for status in Alert.LIVE_STATUSES], *id_range],
        )
        return cursor.fetchone()[0]


def _live_alerts_by_range(*, low: int, size: int, excluding: list[int]) -> dict[int, int]:
    """The live alerts of current clients, other than `excluding`, per range of `size` ids from `low`."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (a.client_id - %s) / %s, count(*) FROM {Alert._meta.db_table} a"  # noqa: S608
            " WHERE a.status = ANY(%s) AND a.client_id NOT IN (SELECT unnest(CAST(%s AS bigint[])))"
            f" AND a.client_id IN (SELECT id FROM {Client._meta.db_table} WHERE deleted_at IS NULL) GROUP BY 1",
            [low, size, [status.value for status in Alert.LIVE_STATUSES], excluding],
        )
        return dict(cursor.fetchall())


# A chunk that opened at least this many alerts checks the planner's picture of the alerts table.
STALE_STATISTICS_MIN_OPENED = 1_000
STALE_STATISTICS_SHARE = 0.2


def alert_statistics_refresh_if_stale(*, opened: int) -> bool:
    """ANALYZE the alerts table when a chunk just opened more than a fifth of what its statistics say
    it holds (PostgreSQL). True when it did.

    A firm's first night (or any run after the table was emptied) starts from statistics of an empty
    table, and the next statements of the run are planned by them: the probe whether a finding's
    alert is live became one hashed scan of every live alert, and the updates walked a whole queue
    index, once per chunk, so each chunk cost more than the one before (1.7 s to 2.6 s over the ten
    chunks of 100,000 clients). Autovacuum would catch up within a minute or so, but only with what
    is committed. Outside a transaction the ANALYZE holds its lock for its own ~0.1 s only.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [Alert._meta.db_table])
        row = cursor.fetchone()
        known = max(row[0], 0) if row else 0
        if opened <= STALE_STATISTICS_SHARE * known:
            return False
        cursor.execute(f"ANALYZE {Alert._meta.db_table} ({', '.join(_alert_columns_planned())})")
    return True


@cache
def _alert_columns_planned() -> list[str]:
    """The alerts' columns whose statistics plans use: all but the free text and JSON ones.

    Nobody filters or joins on a message or the values, and their statistics were half of each
    ANALYZE's time (0.39 s against 0.18 s for 120,000 alerts: the sample is read either way, the
    JSON decoded only for its own statistics). Autovacuum's ANALYZE still covers every column.
    """
    quote = connection.ops.quote_name
    return [
        quote(field.column)
        for field in Alert._meta.concrete_fields
        if not isinstance(field, (models.TextField, models.JSONField))
    ]
