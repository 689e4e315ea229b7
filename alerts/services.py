"""Writes to alerts: reconciling with the framework's findings, and the lifecycle people drive."""

import hashlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from clients.bulk import EqualsAny, copy_tuples, rows_insert, rows_update
from clients.models import Client
from framework.models import Rule

from .models import Alert, AlertEvent, AlertType, Quadrant
from .selectors import COUNTS_GENERATION_KEY

# A dismissed alert stays dismissed until its values change materially or this period passes.
DISMISSAL_PERIOD = timedelta(days=90)


@dataclass(frozen=True)
class Finding:
    """One rule firing for one client: what the alert should say."""

    client_id: int
    alert_type: str
    alert_type_name: str = ""
    rule_key: str = ""
    segment: str = ""
    rule_id: int | None = None
    rule_version_id: int | None = None
    message: str = ""
    values: dict = field(default_factory=dict)
    explanation: list = field(default_factory=list)
    granulation: dict = field(default_factory=dict)
    due_date: date | None = None

    @property
    def fingerprint(self) -> str:
        """Changes when the values change materially (not when only today's date moved on).

        md5 of the values as PostgreSQL writes them as jsonb text, so the set-based path computes
        the same fingerprint in SQL (`md5(CAST(values AS text))`, framework.staging).
        """
        material = {key: value for key, value in self.values.items() if not key.startswith("days_")}
        return values_fingerprint(material)


def jsonb_text(value) -> str:
    """`value` as PostgreSQL writes a jsonb value as text: object keys by length, then by their bytes."""
    if isinstance(value, dict):
        items = sorted(((str(key), item) for key, item in value.items()), key=lambda pair: _key_order(pair[0]))
        pairs = (f"{json.dumps(key, ensure_ascii=False)}: {jsonb_text(item)}" for key, item in items)
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(jsonb_text(item) for item in value) + "]"
    if value is None or isinstance(value, str | bool | int | float):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(str(value), ensure_ascii=False)


def _key_order(key: str) -> tuple[int, bytes]:
    encoded = key.encode()
    return len(encoded), encoded


def values_fingerprint(material: dict) -> str:
    return hashlib.md5(jsonb_text(material).encode(), usedforsecurity=False).hexdigest()


@dataclass
class ReconcileCounts:
    """What a reconciliation did, in all and per rule (by key; the alert type where no rule is known)."""

    opened: int = 0
    kept: int = 0
    updated: int = 0
    closed: int = 0
    suppressed: int = 0
    opened_ids: list[int] = field(default_factory=list)
    by_type: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    def tally(self, alert_type: str, what: str, count: int = 1) -> None:
        setattr(self, what, getattr(self, what) + count)
        self.by_type[alert_type][what] += count

    def add(self, other: "ReconcileCounts") -> None:
        for name in ("opened", "kept", "updated", "closed", "suppressed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.opened_ids += other.opened_ids
        for alert_type, counter in other.by_type.items():
            self.by_type[alert_type].update(counter)


def alert_counts_invalidate() -> None:
    """Counts of alerts kept in the cache (`selectors.quadrant_counts_cached`) are out of date."""
    try:
        cache.incr(COUNTS_GENERATION_KEY)
    except ValueError:  # not set yet (or evicted): any new value starts a new generation
        cache.set(COUNTS_GENERATION_KEY, int(time.time() * 1000), None)


def alert_types_ensure(findings: list[Finding]) -> dict[str, int]:
    """The id of every alert type named by the findings, creating new types as rules introduce them."""
    keys = {finding.alert_type: finding.alert_type_name or finding.alert_type for finding in findings}
    existing = dict(AlertType.objects.filter(key__in=keys).values_list("key", "pk"))
    missing = [AlertType(key=key, name=name) for key, name in keys.items() if key not in existing]
    AlertType.objects.bulk_create(missing, ignore_conflicts=True)
    if missing:
        existing = dict(AlertType.objects.filter(key__in=keys).values_list("key", "pk"))
    return existing


# The live alert's columns reconciling compares with a finding (read as tuples: a model instance per
# alert costs more than the comparison, with hundreds of thousands of alerts in a nightly run).
_LIVE_COLUMNS = ("pk", "client_id", "alert_type_id", "values_fingerprint", "segment", "due_date", "values",
                 "rule_id", "rule_version_id", "status")  # fmt: skip
_UPDATED_FIELDS = ["segment", "due_date", "message", "values", "explanation", "granulation", "values_fingerprint",
                   "rule_id", "rule_version_id", "updated_at"]  # fmt: skip


@transaction.atomic
def alerts_reconcile(
    *,
    findings: Iterable[Finding],
    client_ids: set[int],
    alert_type_keys: set[str] | None = None,
    now: datetime | None = None,
    client_id_range: tuple[int, int] | None = None,
) -> ReconcileCounts:
    """Make the live alerts of these clients match the findings: open, keep, update, close.

    `client_ids` is the scope evaluated: a live alert of a client in scope without a finding is
    resolved by itself ("the condition no longer holds"). `alert_type_keys`, when given, limits the
    closing to these types (a partial evaluation of some rules must not close the others' alerts).
    `client_id_range` (start, stop), when every id of the scope lies in it, lets the reads use an id
    range instead of a list of ten thousand ids. Set-based: a fixed number of queries per call,
    whatever the number of clients in it; rows travel as tuples and dicts (COPY on PostgreSQL).
    """
    now = now or timezone.now()
    findings = [finding for finding in findings if finding.client_id in client_ids]
    type_ids = alert_types_ensure(findings)
    counts = ReconcileCounts()

    def in_scope(queryset: QuerySet) -> QuerySet:
        if client_id_range is not None:
            return queryset.filter(client_id__gte=client_id_range[0], client_id__lt=client_id_range[1])
        return queryset.filter(EqualsAny(F("client_id"), sorted(client_ids)))

    live = in_scope(Alert.objects.filter(status__in=Alert.LIVE_STATUSES))
    if alert_type_keys is not None:
        live = live.filter(alert_type__key__in=alert_type_keys | set(type_ids))
    live_by_key = {(row[1], row[2]): row for row in live.values_list(*_LIVE_COLUMNS) if row[1] in client_ids}
    dismissed = {
        (client_id, type_id): fingerprint
        for client_id, type_id, fingerprint in in_scope(
            Alert.objects.filter(status=Alert.Status.DISMISSED, closed_at__gte=now - DISMISSAL_PERIOD)
        ).values_list("client_id", "alert_type_id", "values_fingerprint")
    }
    owners = (
        {}
        if not findings
        else {
            pk: (team_id, advisor_id)
            for pk, team_id, advisor_id in Client.objects.filter(
                EqualsAny(F("pk"), sorted({f.client_id for f in findings}))
            ).values_list("pk", "team_id", "advisor_id")
        }
    )

    to_open, to_update, seen = [], [], set()
    for finding in findings:  # per finding: build the alert row; all writes below are bulk
        key = (finding.client_id, type_ids[finding.alert_type])
        if key in seen:
            continue  # two rules raising the same type for one client: the first (highest) wins
        seen.add(key)
        fingerprint = finding.fingerprint
        alert = live_by_key.get(key)
        if alert is None:
            if dismissed.get(key) == fingerprint:
                counts.tally(finding.rule_key or finding.alert_type, "suppressed")
                continue
            team_id, advisor_id = owners[finding.client_id]
            to_open.append(
                {
                    "alert_type_id": key[1],
                    "segment": finding.segment,
                    "client_id": finding.client_id,
                    "team_id": team_id,
                    "assigned_to_id": advisor_id,  # a new alert goes to the client's own advisor
                    "rule_id": finding.rule_id,
                    "rule_version_id": finding.rule_version_id,
                    "message": finding.message,
                    "values": finding.values,
                    "explanation": finding.explanation,
                    "granulation": finding.granulation,
                    "values_fingerprint": fingerprint,
                    "due_date": finding.due_date,
                    "opened_at": now,
                    "updated_at": now,
                }
            )
            counts.tally(finding.rule_key or finding.alert_type, "opened")
            continue
        counts.tally(finding.rule_key or finding.alert_type, "kept")
        _pk, _client, _type, stored_fingerprint, segment, due_date, values, _rule, rule_version_id, _status = alert
        if (
            stored_fingerprint != fingerprint
            or segment != finding.segment
            or due_date != finding.due_date
            or values != finding.values
            or rule_version_id != finding.rule_version_id
        ):
            to_update.append(
                {
                    "id": alert[0],
                    "segment": finding.segment,
                    "due_date": finding.due_date,
                    "message": finding.message,
                    "values": finding.values,
                    "explanation": finding.explanation,
                    "granulation": finding.granulation,
                    "values_fingerprint": fingerprint,
                    "rule_id": finding.rule_id,
                    "rule_version_id": finding.rule_version_id,
                    "updated_at": now,
                }
            )

    if to_open:
        # Placed on the canvas before they are written (priority is in the dashboard's indexes, so
        # placing them after would write every new alert twice), by the hooks of later steps.
        for hook_path in settings.STEWARD_ALERTS_PLACE_NEW:
            import_string(hook_path)(rows=to_open)
    counts.opened_ids = rows_insert(Alert, to_open, now=now)
    counts.updated = rows_update(Alert, to_update, _UPDATED_FIELDS)  # kept alerts whose values moved on

    to_close = [alert for key, alert in live_by_key.items() if key not in seen]
    if to_close:
        type_keys = dict(AlertType.objects.filter(pk__in={a[2] for a in to_close}).values_list("pk", "key"))
        closing_rules = {alert[7] for alert in to_close if alert[7]}
        rule_keys = dict(Rule.objects.filter(pk__in=closing_rules).values_list("pk", "key")) if closing_rules else {}
        for alert in to_close:
            counts.tally(rule_keys.get(alert[7]) or type_keys[alert[2]], "closed")
    reason = _("The condition no longer holds.")
    if to_close:
        Alert.objects.filter(EqualsAny(F("pk"), [alert[0] for alert in to_close])).update(
            status=Alert.Status.RESOLVED, status_reason=reason, closed_at=now, updated_at=now
        )
    raised = _("Raised by the framework.")
    rows_insert(
        AlertEvent,
        [
            {
                "alert_id": pk,
                "at": now,
                "by_id": None,
                "from_status": "",
                "to_status": Alert.Status.OPEN,
                "reason": raised,
            }
            for pk in counts.opened_ids
        ]
        + [
            {
                "alert_id": alert[0],
                "at": now,
                "by_id": None,
                "from_status": alert[9],
                "to_status": Alert.Status.RESOLVED,
                "reason": reason,
            }
            for alert in to_close
        ],
    )
    if to_open or to_update or to_close:
        transaction.on_commit(alert_counts_invalidate)
    if to_update:
        # Alerts that moved to another segment (a deadline came closer) take their new card's place;
        # later steps (the canvas) do that, named in settings so this step never imports them.
        for hook_path in settings.STEWARD_AFTER_ALERTS_OPENED:
            import_string(hook_path)(alert_ids=[row["id"] for row in to_update])
    return counts


# --- Reconciling from the framework's staging table (PostgreSQL) ----------------------------------

_STAGE_COLUMNS = """client_id bigint, alert_type_id bigint, rule_id bigint, rule_version_id bigint, segment text,
    "values" jsonb, fingerprint text, message text, due_date date, team_id bigint, advisor_id bigint,
    granulation jsonb, live boolean, changed boolean, suppressed boolean, PRIMARY KEY (client_id, alert_type_id)"""
# The distinct places of the new alerts, as the canvas's hook gave them.
_PLACE_COLUMNS = "alert_type_id bigint, segment text, granulation jsonb, due_date date, priority integer, quadrant text"


def staged_table_reset_sql(name: str, columns: str, *, few: bool = False) -> list[str]:
    """The statements that empty a temporary table (this connection's only), as framework.staging
    empties its own."""
    from framework.staging import temporary_table_empty_sql

    return temporary_table_empty_sql(name, columns, few=few)


_LIVE_SQL = "('open', 'in_progress', 'snoozed')"  # Alert.LIVE_STATUSES, as SQL
# A live alert `a` that its finding `x` rewrites: its fingerprint, segment, due date, values or rule
# version moved on. Found while staging, where the alert is read anyway, so a night with nothing
# changed runs no UPDATE at all.
_CHANGED_SQL = (
    "a.values_fingerprint <> x.fingerprint OR a.segment <> x.segment OR a.due_date IS DISTINCT FROM x.due_date"
    ' OR a."values" <> x."values" OR a.rule_version_id IS DISTINCT FROM x.rule_version_id'
)

# Sequential scans off for this transaction's next statements, and back to what they were (kept in
# a setting of our own, so putting it back needs no round trip of its own).
# And at least 64 MB for each sort: a chunk's findings (with their messages and values, ~11 MB for
# 24,000) are sorted twice in the staging, and with PostgreSQL's default of 4 MB both sorts spilled
# to disk ("external merge"); what that cost was within the noise of a chunk at a million clients.
_SEQSCAN_OFF = (
    "SELECT set_config('steward.alerts_seqscan', current_setting('enable_seqscan'), true),"
    " set_config('enable_seqscan', 'off', true),"
    " set_config('steward.alerts_work_mem', current_setting('work_mem'), true),"
    " set_config('work_mem', CASE WHEN pg_size_bytes(current_setting('work_mem')) < 67108864"
    " THEN '64MB' ELSE current_setting('work_mem') END, true)"
)
_SEQSCAN_RESTORE = (
    "SELECT set_config('enable_seqscan', current_setting('steward.alerts_seqscan'), true),"
    " set_config('work_mem', current_setting('steward.alerts_work_mem'), true)"
)


# No savepoint of its own (two round trips per client): an error in it aborts the caller's transaction
# on PostgreSQL anyway, and its caller (alerts.evaluation) lets it end the run.
@transaction.atomic(savepoint=False)
def alerts_reconcile_staged(
    *,
    rule_keys: dict[int, str],
    client_id_range: tuple[int, int] | None = None,
    client_ids=None,
    now: datetime | None = None,
    today: date | None = None,
    message_sql: tuple[str, tuple] | None = None,
    only_client_ids=None,
) -> ReconcileCounts:
    """`alerts_reconcile` for findings already in the staging table (framework.staging), in SQL.

    The same decisions, set-based in a fixed number of statements and with no Python per alert:
    per client and alert type the first rule's finding counts; a live alert is kept, and
    rewritten only when its fingerprint, segment, due date, values or rule version changed; a
    dismissed alert with the same fingerprint within DISMISSAL_PERIOD suppresses a new one; a new
    alert goes to the client's advisor, is placed on the canvas (the STEWARD_ALERTS_PLACE_NEW hooks,
    called once per distinct place, not per alert) and gets its event; a live alert of a current
    client in scope without a finding is resolved, with its event. `rule_keys` names the rules by id
    for the counts. The scope is every current client with an id in `client_id_range` [start, stop)
    or in `client_ids`; with a range, `only_client_ids` narrows it to those clients (the others of the
    range were skipped: their alerts are left alone). `message_sql`
    (`framework.staging.findings_message_sql`, SQL over the staged finding `s`): the findings were
    staged without their messages, which are made here for the alerts opened or rewritten only.
    """
    from framework.selectors import age_band_sql
    from framework.staging import STAGING_TABLE, statements_run

    now = now or timezone.now()
    today = today or timezone.localdate()
    counts = ReconcileCounts()
    if client_id_range is not None:  # the current clients of the range
        # The clients by the range too: without it the planner merged the chunk's alerts with the
        # clients' whole primary key from the first id on (a chunk late in the book read all of it).
        scope_sql = "a.client_id >= %s AND a.client_id < %s"
        scope_params = [*client_id_range, *client_id_range]
        if only_client_ids is not None:
            scope_sql += " AND a.client_id = ANY(%s)"
            scope_params = [*client_id_range, sorted(only_client_ids), *client_id_range]
        current_sql = (
            "AND EXISTS (SELECT 1 FROM clients_client c WHERE c.id = a.client_id AND c.deleted_at IS NULL"
            " AND c.id >= %s AND c.id < %s)"
        )
    else:  # these clients, as named
        scope_sql, scope_params, current_sql = "a.client_id = ANY(%s)", [sorted(client_ids)], ""
    alert, event, alert_type = Alert._meta.db_table, AlertEvent._meta.db_table, AlertType._meta.db_table
    client = Client._meta.db_table
    message, message_params = message_sql if message_sql is not None else ("s.message", ())

    few = client_id_range is None
    dismissal_since = now - DISMISSAL_PERIOD
    # Per client and type the first rule's finding, with its granulation and owners, and whether a
    # live alert exists (kept) or a dismissal of the same finding suppresses a new one: each probe
    # of the alerts once per finding, here, not again in every statement below (they read cold
    # index pages of a table of millions: most of a chunk's time once were these probes).
    # A few clients' owners by their ids: joined as a table, the planner (which knows nothing of the
    # staging table's size) merged it with the clients' whole primary key up to the client, 40 ms at
    # a client id of 75,000. OFFSET 0 keeps it an index probe per finding.
    client_join = (
        f"CROSS JOIN LATERAL (SELECT c.team_id, c.advisor_id FROM {client} c"  # noqa: S608 - a model's table
        " WHERE c.id = f.client_id OFFSET 0) c"
        if few
        # A chunk's clients by their range as well: a merge join would otherwise walk the clients'
        # primary key from the first id (at a million clients the last chunks read the whole index).
        else f"JOIN {client} c ON c.id = f.client_id AND c.id >= %s AND c.id < %s"
    )
    stage = (
        f"""INSERT INTO fw_stage
        SELECT y.*, NOT y.live AND EXISTS (SELECT 1 FROM {alert} d WHERE d.client_id = y.client_id
            AND d.alert_type_id = y.alert_type_id AND d.status = 'dismissed' AND d.closed_at >= %s
            AND d.values_fingerprint = y.fingerprint)
        FROM (SELECT x.*, a.id IS NOT NULL AS live, a.id IS NOT NULL AND ({_CHANGED_SQL}) AS changed
        FROM (SELECT DISTINCT ON (f.client_id, t.id)
            f.client_id, t.id AS alert_type_id, f.rule_id, f.rule_version_id, f.segment, f."values",
            f.fingerprint, f.message, f.due_date, c.team_id, c.advisor_id,
            jsonb_build_object(
                'age_band', {age_band_sql("f.age")},
                'household_type', COALESCE(NULLIF(f.household_type, ''), 'unknown'),
                'days_to_deadline', f.due_date - CAST(%s AS date),
                'discrepancy_count', count(*) OVER (PARTITION BY f.client_id),
                'urgency', f.urgency,
                'branch', f.branch
            ) AS granulation
        FROM {STAGING_TABLE} f
        JOIN {alert_type} t ON t.key = f.alert_type
        {client_join}
        ORDER BY f.client_id, t.id, f.position) x
        LEFT JOIN LATERAL (SELECT a.id, a.values_fingerprint, a.segment, a.due_date, a."values", a.rule_version_id
            FROM {alert} a WHERE a.client_id = x.client_id AND a.alert_type_id = x.alert_type_id
            AND a.status IN {_LIVE_SQL}) a ON true
        OFFSET 0) y""",  # noqa: S608 - table names of models and constants
        [dismissal_since, today, *([] if few else client_id_range)],
    )
    # The alerts are read by index, always: they are millions, a chunk's are thousands. A plan made
    # while the table looked empty (the first chunk of a night, on each worker) scanned it whole per
    # finding while other workers filled it (minutes, not 0.3 s); one client's UPDATE below hashed
    # the whole table (30 ms, not 1). Not while the canvas's hook runs: its queries are its own.
    staged = [
        *staged_table_reset_sql("fw_stage", _STAGE_COLUMNS, few=few),
        _SEQSCAN_OFF,
        stage,
        "SELECT rule_id, live, suppressed, count(*), count(*) FILTER (WHERE changed) FROM fw_stage GROUP BY 1, 2, 3",
    ]

    with connection.cursor() as cursor:
        # The alert types the findings name (and whether each exists), then their staging, in one
        # round trip: a type is new only when a rule introduces it, and then the staging is redone.
        types, *results = statements_run(
            cursor,
            [
                f"""SELECT f.position, f.alert_type, EXISTS (SELECT 1 FROM {alert_type} t WHERE t.key = f.alert_type)
                FROM (SELECT DISTINCT position, alert_type FROM {STAGING_TABLE}) f ORDER BY f.position""",  # noqa: S608 - module constants
                *staged,
            ],
        )
        named = {}
        for position, key, _exists in types:
            named.setdefault(key, position)
        if not all(exists for _position, _key, exists in types):
            statements_run(cursor, [_SEQSCAN_RESTORE])
            # New types get the name of the first rule that raises them.
            names = dict(Rule.objects.filter(pk__in=rule_keys).values_list("key", "name"))
            by_position = list(rule_keys.values())
            alert_types_ensure(
                [
                    Finding(client_id=0, alert_type=key, alert_type_name=names.get(by_position[position], key))
                    for key, position in named.items()
                ]
            )
            results = statements_run(cursor, staged)
        staged_rows = sum(count for _rule, _live, _suppressed, count, _changed in results[-1])
        changed = sum(changed for *_group, changed in results[-1])
        if staged_rows > 1000:  # estimates for the joins below; costs more than it saves when small
            cursor.execute("ANALYZE fw_stage (client_id, alert_type_id)")
        # What is live now: kept (and changed), or new.
        waiting = Counter()
        for rule_id, live, suppressed, count, _changed in results[-1]:
            if live:
                counts.tally(rule_keys.get(rule_id, ""), "kept", count)
            elif suppressed:
                counts.tally(rule_keys.get(rule_id, ""), "suppressed", count)
            else:
                waiting[rule_id] += count

        # Kept alerts whose values moved on.
        update = (
            f"""UPDATE {alert} a SET segment = s.segment, due_date = s.due_date, message = {message},
                "values" = s."values", explanation = '[]', granulation = s.granulation,
                values_fingerprint = s.fingerprint, rule_id = s.rule_id, rule_version_id = s.rule_version_id,
                updated_at = %s
            FROM fw_stage s
            WHERE s.changed AND a.client_id = s.client_id AND a.alert_type_id = s.alert_type_id
                AND a.status IN {_LIVE_SQL}
            RETURNING a.id""",  # noqa: S608
            [*message_params, now],
        )
        # New alerts, placed on the canvas (below), and their events.
        new_sql = "FROM fw_stage s WHERE NOT s.live AND NOT s.suppressed"
        insert = (
            f"""WITH opened AS (
                INSERT INTO {alert} (alert_type_id, segment, client_id, team_id, rule_id, rule_version_id, message,
                    "values", explanation, granulation, values_fingerprint, due_date, priority, quadrant, status,
                    snoozed_until, status_reason, assigned_to_id, opened_at, updated_at, closed_at)
                SELECT s.alert_type_id, s.segment, s.client_id, s.team_id, s.rule_id, s.rule_version_id, {message},
                    s."values", '[]', s.granulation, s.fingerprint, s.due_date, COALESCE(p.priority, 0),
                    COALESCE(p.quadrant, %s), 'open', NULL, '', s.advisor_id, %s, %s, NULL
                FROM (SELECT s.* {new_sql}) s
                LEFT JOIN fw_place p ON p.alert_type_id = s.alert_type_id AND p.segment = s.segment
                    AND p.granulation = s.granulation
                    AND COALESCE(p.due_date, 'infinity') = COALESCE(s.due_date, 'infinity')
                RETURNING id, rule_id
            ), events AS (
                INSERT INTO {event} (alert_id, at, by_id, from_status, to_status, reason)
                SELECT id, %s, NULL, '', 'open', %s FROM opened
            )
            SELECT rule_id, count(*) FROM opened GROUP BY rule_id""",  # noqa: S608
            [*message_params, Quadrant.UNPLACED, now, now, now, str(_("Raised by the framework."))],
        )
        # Live alerts of current clients in scope that no finding asks for: resolved. (With nothing
        # staged, every live alert of the scope.)
        reason = str(_("The condition no longer holds."))
        unasked = (
            "AND NOT EXISTS (SELECT 1 FROM fw_stage s"
            " WHERE s.client_id = a.client_id AND s.alert_type_id = a.alert_type_id)"
            if staged_rows
            else ""
        )
        close = (
            f"""WITH closing AS (
                SELECT a.id, a.status, a.rule_id, a.alert_type_id FROM {alert} a
                WHERE {scope_sql} AND a.status IN {_LIVE_SQL} {current_sql} {unasked}
                FOR UPDATE OF a
            ), closed AS (
                UPDATE {alert} a SET status = 'resolved', status_reason = %s, closed_at = %s, updated_at = %s
                FROM closing WHERE a.id = closing.id
            ), events AS (
                INSERT INTO {event} (alert_id, at, by_id, from_status, to_status, reason)
                SELECT id, %s, NULL, status, 'resolved', %s FROM closing
            )
            SELECT COALESCE(r.key, t.key), count(*) FROM closing
            JOIN {alert_type} t ON t.id = closing.alert_type_id
            LEFT JOIN {Rule._meta.db_table} r ON r.id = closing.rule_id
            GROUP BY 1""",  # noqa: S608
            [*scope_params, reason, now, now, now, reason],
        )

        # In as few round trips as may be: the canvas's hook (Python, with queries of its own, under
        # the usual planner settings) comes between the update and the new alerts when there are any.
        batch = [update] if changed else []
        if waiting.total():
            batch += staged_table_reset_sql("fw_place", _PLACE_COLUMNS, few=few)
        if settings.STEWARD_ALERTS_PLACE_NEW and waiting.total():
            batch += [
                _SEQSCAN_RESTORE,
                f"SELECT DISTINCT s.alert_type_id, s.segment, s.granulation, s.due_date {new_sql}",
            ]
            results = statements_run(cursor, batch)
            places = [
                {"alert_type_id": type_id, "segment": segment,
                 "granulation": json.loads(granulation) if isinstance(granulation, str) else granulation,
                 "due_date": due_date}
                for type_id, segment, granulation, due_date in results[-1]
            ]  # fmt: skip
            for hook_path in settings.STEWARD_ALERTS_PLACE_NEW:
                import_string(hook_path)(rows=places)
            copy_tuples(
                cursor,
                "fw_place",
                ["alert_type_id", "segment", "granulation", "due_date", "priority", "quadrant"],
                (
                    (p["alert_type_id"], p["segment"], json.dumps(p["granulation"]), p["due_date"],
                     p.get("priority", 0), p.get("quadrant", Quadrant.UNPLACED))
                    for p in places
                ),
            )  # fmt: skip
            if len(places) > 1000:
                cursor.execute("ANALYZE fw_place")
            updated_ids = [row[0] for row in results[0]] if changed else []
            batch = [_SEQSCAN_OFF]
        else:
            updated_ids = None
        if waiting.total():
            batch.append(insert)
        results = statements_run(cursor, [*batch, close, _SEQSCAN_RESTORE])
        if updated_ids is None:
            updated_ids = [row[0] for row in results[0]] if changed else []
        counts.updated = len(updated_ids)
        if waiting.total():
            for rule_id, count in results[-3]:
                counts.tally(rule_keys.get(rule_id, ""), "opened", count)
        for key, count in results[-2]:
            counts.tally(key, "closed", count)

    if counts.opened or counts.updated or counts.closed:
        transaction.on_commit(alert_counts_invalidate)
    if updated_ids:
        for hook_path in settings.STEWARD_AFTER_ALERTS_OPENED:
            import_string(hook_path)(alert_ids=updated_ids)
    return counts


# --- The lifecycle people drive -------------------------------------------------------------------


def _transition(alerts: QuerySet[Alert], *, to_status: str, user, reason: str, now: datetime, **fields) -> int:
    """Move these alerts to a status in one UPDATE, with one event each. Returns how many moved."""
    moving = list(alerts.values_list("pk", "status"))
    if not moving:
        return 0
    transaction.on_commit(alert_counts_invalidate)
    closing = to_status in (Alert.Status.RESOLVED, Alert.Status.DISMISSED)
    Alert.objects.filter(pk__in=[pk for pk, _status in moving]).update(
        status=to_status, status_reason=reason, updated_at=now, closed_at=now if closing else None, **fields
    )
    AlertEvent.objects.bulk_create(
        AlertEvent(alert_id=pk, at=now, by=user, from_status=status, to_status=to_status, reason=reason)
        for pk, status in moving
    )
    return len(moving)


@transaction.atomic
def alerts_snooze(*, alerts: QuerySet[Alert], until: date, user, reason: str = "") -> int:
    if until <= timezone.localdate():
        raise ValidationError(_("Snooze until a date in the future."))
    live = alerts.filter(status__in=Alert.LIVE_STATUSES)
    return _transition(
        live,
        to_status=Alert.Status.SNOOZED,
        user=user,
        reason=reason or _("Snoozed until %(date)s.") % {"date": until},
        now=timezone.now(),
        snoozed_until=until,
    )


@transaction.atomic
def alerts_start(*, alerts: QuerySet[Alert], user) -> int:
    live = alerts.filter(status__in=(Alert.Status.OPEN, Alert.Status.SNOOZED))
    return _transition(
        live,
        to_status=Alert.Status.IN_PROGRESS,
        user=user,
        reason=_("Work started."),
        now=timezone.now(),
        snoozed_until=None,
    )


@transaction.atomic
def alerts_resolve(*, alerts: QuerySet[Alert], user, reason: str = "") -> int:
    live = alerts.filter(status__in=Alert.LIVE_STATUSES)
    return _transition(
        live, to_status=Alert.Status.RESOLVED, user=user, reason=reason or _("Resolved."), now=timezone.now()
    )


@transaction.atomic
def alerts_dismiss(*, alerts: QuerySet[Alert], user, reason: str) -> int:
    """Dismiss with a reason; it stays dismissed until its values change or DISMISSAL_PERIOD passes."""
    if not reason.strip():
        raise ValidationError(_("Say why the alert is dismissed."))
    live = alerts.filter(status__in=Alert.LIVE_STATUSES)
    return _transition(live, to_status=Alert.Status.DISMISSED, user=user, reason=reason.strip(), now=timezone.now())


@transaction.atomic
def alerts_assign(*, alerts: QuerySet[Alert], assignee, user) -> int:
    """Give these alerts to an advisor of their team."""
    live = alerts.filter(status__in=Alert.LIVE_STATUSES)
    if assignee is not None and live.exclude(team_id=assignee.team_id).exists():
        raise ValidationError(_("An alert can only be assigned to an advisor of the client's team."))
    now = timezone.now()
    moving = list(live.values_list("pk", "status"))
    transaction.on_commit(alert_counts_invalidate)
    Alert.objects.filter(pk__in=[pk for pk, _s in moving]).update(assigned_to=assignee, updated_at=now)
    name = assignee.get_full_name() or assignee.username if assignee else _("nobody")
    AlertEvent.objects.bulk_create(
        AlertEvent(
            alert_id=pk,
            at=now,
            by=user,
            from_status=status,
            to_status=status,
            reason=_("Assigned to %(name)s.") % {"name": name},
        )
        for pk, status in moving
    )
    return len(moving)


@transaction.atomic
def alerts_wake_snoozed(*, today: date | None = None) -> int:
    """Snoozed alerts whose date has come are open again (run daily by beat)."""
    today = today or timezone.localdate()
    due = Alert.objects.filter(status=Alert.Status.SNOOZED, snoozed_until__lte=today)
    return _transition(
        due,
        to_status=Alert.Status.OPEN,
        user=None,
        reason=_("The snooze date has come."),
        now=timezone.now(),
        snoozed_until=None,
    )


def alert_explanation_record(*, alert: Alert, explanation) -> None:
    """Keep the values an alert was explained with (sources and ages) the first time it is looked at.

    Whole-book evaluations store the reported values only; the full explanation is made in memory
    per client, so it is recorded when someone first needs it (and then kept for the file).
    """
    if alert.explanation or explanation is None:
        return
    alert.explanation = [
        {
            "name": used.name,
            "value": str(used.value) if used.value is not None else None,
            "source": used.source,
            "source_label": str(used.source_label),
            "as_of": used.as_of.isoformat() if used.as_of else None,
            "age_days": used.age_days,
            "note": str(used.note),
        }
        for used in explanation.used
    ]
    Alert.objects.filter(pk=alert.pk, explanation=[]).update(explanation=alert.explanation)
