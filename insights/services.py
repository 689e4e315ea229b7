"""Writes of insights: rebuilding the summary tables the pages read.

`response_facts_refresh` rebuilds the facts of the alerts raised since a date and then the weekly
sums the page reads (`response_weeks_refresh`); `retention_snapshots_refresh` computes the retention
page's figures per team.

Set-based, in SQL: alerts are taken in keyset chunks of CHUNK_SIZE ids; per chunk, in one transaction,
one DELETE of their facts and one INSERT ... SELECT that computes every column from the alerts, their
clients, the messages that served them and their bookings (window functions pick each alert's first
channel). No row passes through Python, so a chunk costs the same few statements whether it holds ten
alerts or twenty thousand; the same SQL runs on PostgreSQL and SQLite, only the time-zone and hour
arithmetic differ (Django's own functions on SQLite).
"""

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.utils import timezone

from accounts.models import Team
from alerts.models import Alert
from clients.models import Client
from followup.models import Booking, Message, MessageAlert

from .models import ResponseFact, ResponseWeek, RetentionSnapshot

CHUNK_SIZE = 20_000


@dataclass
class RefreshReport:
    alerts: int = 0
    rows: int = 0
    weeks: int = 0  # rows of ResponseWeek written
    seconds: float = 0.0


def week_start(day: date) -> date:
    """The Monday of the week `day` lies in: trends are weekly, weeks start on Monday (ISO 8601)."""
    return day - timedelta(days=day.weekday())


def response_facts_refresh(*, since: date | None = None, now: datetime | None = None) -> RefreshReport:
    """Rebuild the response facts of every alert raised on or after `since` (None: every alert).

    Each chunk commits on its own; rerunning gives the same rows (idempotent). Rows of alerts that no
    longer exist go with them (the foreign key cascades).
    """
    started = time.monotonic()
    now = now or timezone.now()
    report = RefreshReport()
    alerts = Alert.objects.order_by("pk")
    if since is not None:
        alerts = alerts.filter(opened_at__date__gte=since)
    last = 0
    while True:
        # Keyset chunks of the chosen alerts: the id of the CHUNK_SIZE-th next one bounds the chunk.
        ids = alerts.filter(pk__gt=last).values_list("pk", flat=True)
        bound = list(ids[CHUNK_SIZE - 1 : CHUNK_SIZE])
        high = bound[0] if bound else None
        if high is None and not ids.exists():
            break
        with transaction.atomic():
            _delete_facts(last, high, since)
            alerts_done, rows = _insert_facts(last, high, since, now)
        report.alerts += alerts_done
        report.rows += rows
        if high is None:
            break
        last = high
    # VACUUM cannot run inside a transaction (a caller's atomic block, or a test): skip it there.
    if connection.vendor == "postgresql" and report.rows and not connection.in_atomic_block:
        # Every refresh replaces rows: fresh statistics keep the planner on the (team, week) index, and
        # reclaiming the dead rows keeps the scans short (autovacuum may come much later).
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {_table(ResponseFact)}")
    report.weeks = response_weeks_refresh(since=since, now=now)
    report.seconds = time.monotonic() - started
    return report


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _chosen_alerts(low: int, high: int | None, since: date | None) -> tuple[str, list]:
    """WHERE clause (over alias `a`) of the alerts of a chunk: ids in (low, high], raised on or after
    `since` in the current time zone (the ORM's `opened_at__date__gte`)."""
    where, params = ["a.id > %s"], [low]
    if high is not None:
        where.append("a.id <= %s")
        params.append(high)
    if since is not None:
        day, day_params = connection.ops.datetime_cast_date_sql("a.opened_at", (), timezone.get_current_timezone_name())
        where.append(f"{day} >= %s")
        params += [*day_params, connection.ops.adapt_datefield_value(since)]
    return " AND ".join(where), params


def _id_range(column: str, low: int, high: int | None) -> tuple[str, list]:
    """`column` in (low, high]: lets the planner read a chunk's messages and bookings by index range
    instead of hashing every row of those tables against the chunk."""
    return (f"{column} > %s AND {column} <= %s", [low, high]) if high is not None else (f"{column} > %s", [low])


def _hours(later: str, earlier: str) -> str:
    """SQL of the hours from `earlier` to `later` (NULL when either is): exact microseconds on both
    backends, so the figures are the ones Python's datetime arithmetic gives."""
    if connection.vendor == "postgresql":
        return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 3600.0)::float8"
    return f"(django_timestamp_diff({later}, {earlier}) / 3600000000.0)"


def _week_of(column: str) -> tuple[str, tuple]:
    """SQL of the Monday (local date) of the week a timestamp lies in."""
    trunc, params = connection.ops.datetime_trunc_sql("week", column, (), timezone.get_current_timezone_name())
    return (f"({trunc})::date" if connection.vendor == "postgresql" else f"date({trunc})"), params


def _delete_facts(low: int, high: int | None, since: date | None) -> None:
    where, params = _chosen_alerts(low, high, since)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {_table(ResponseFact)} WHERE alert_id IN (SELECT a.id FROM {_table(Alert)} a WHERE {where})",  # noqa: S608 - quoted tables; values are parameters
            params,
        )


def _insert_facts(low: int, high: int | None, since: date | None, now: datetime) -> tuple[int, int]:
    """INSERT ... SELECT of the facts of a chunk of alerts, every column computed in SQL; returns the
    alerts of the chunk and the rows written.

    Per alert and channel it was messaged through (messages actually sent): the first message and the
    first response through it, the meetings booked from it (bookings not cancelled; advice: held). The
    primary row is the first channel (by first message, then channel); it carries the alert's first
    response over all channels and all its meetings. An alert never messaged gets one row, channel "",
    primary. Resolution (resolved alerts with a close time) is on every row.
    """
    where, where_params = _chosen_alerts(low, high, since)
    message_range, message_params = _id_range("ma.alert_id", low, high)
    booking_range, booking_params = _id_range("b.alert_id", low, high)
    week, week_params = _week_of("a.opened_at")
    held, cancelled, resolved = Booking.Status.HELD, Booking.Status.CANCELLED, Alert.Status.RESOLVED
    yes, no = ("TRUE", "FALSE") if connection.vendor == "postgresql" else ("1", "0")
    columns = [
        "alert_id", "channel", "is_primary", "team_id", "alert_type_id", "segment", "quadrant", "raised_at",
        "week", "sent_at", "responded", "hours_to_response", "meetings_booked", "advice_given",
        "alert_hours_to_resolution", "alert_hours_to_first_response", "alert_meetings_booked",
        "alert_advice_given", "refreshed_at",
    ]  # fmt: skip
    sql = f"""
        INSERT INTO {_table(ResponseFact)} ({", ".join(map(connection.ops.quote_name, columns))})
        WITH chosen AS (
            SELECT a.id, a.team_id, a.alert_type_id, c.segment, a.quadrant, a.opened_at, {week} AS week,
                   CASE WHEN a.status = %s AND a.closed_at IS NOT NULL
                        THEN {_hours("a.closed_at", "a.opened_at")} END AS hours_to_resolution
            FROM {_table(Alert)} a JOIN {_table(Client)} c ON c.id = a.client_id
            WHERE {where}
        ),
        pairs AS (
            SELECT ma.alert_id, ma.channel, MIN(m.sent_at) AS sent_at, MIN(m.responded_at) AS responded_at
            FROM {_table(MessageAlert)} ma JOIN {_table(Message)} m ON m.id = ma.message_id
            WHERE m.sent_at IS NOT NULL AND {message_range} AND ma.alert_id IN (SELECT id FROM chosen)
            GROUP BY ma.alert_id, ma.channel
        ),
        ranked AS (
            SELECT p.*,
                   ROW_NUMBER() OVER (PARTITION BY p.alert_id ORDER BY p.sent_at, p.channel) AS channel_order,
                   MIN(p.sent_at) OVER (PARTITION BY p.alert_id) AS first_sent,
                   MIN(p.responded_at) OVER (PARTITION BY p.alert_id) AS first_response
            FROM pairs p
        ),
        booked AS (
            SELECT b.alert_id, COALESCE(m.channel, '') AS channel, COUNT(*) AS meetings,
                   SUM(CASE WHEN b.status = %s THEN 1 ELSE 0 END) AS advice
            FROM {_table(Booking)} b LEFT JOIN {_table(Message)} m ON m.id = b.message_id
            WHERE b.status <> %s AND {booking_range} AND b.alert_id IN (SELECT id FROM chosen)
            GROUP BY b.alert_id, COALESCE(m.channel, '')
        ),
        per_alert AS (
            SELECT alert_id, SUM(meetings) AS meetings, SUM(advice) AS advice FROM booked GROUP BY alert_id
        )
        SELECT r.alert_id, r.channel, r.channel_order = 1, a.team_id, a.alert_type_id, a.segment, a.quadrant,
               a.opened_at, a.week, r.sent_at, r.responded_at IS NOT NULL,
               {_hours("r.responded_at", "r.sent_at")}, COALESCE(b.meetings, 0), COALESCE(b.advice, 0),
               a.hours_to_resolution,
               CASE WHEN r.channel_order = 1 THEN {_hours("r.first_response", "r.first_sent")} END,
               CASE WHEN r.channel_order = 1 THEN COALESCE(t.meetings, 0) ELSE 0 END,
               CASE WHEN r.channel_order = 1 THEN COALESCE(t.advice, 0) ELSE 0 END,
               %s
        FROM ranked r
        JOIN chosen a ON a.id = r.alert_id
        LEFT JOIN booked b ON b.alert_id = r.alert_id AND b.channel = r.channel
        LEFT JOIN per_alert t ON t.alert_id = r.alert_id
        UNION ALL
        SELECT a.id, '', {yes}, a.team_id, a.alert_type_id, a.segment, a.quadrant, a.opened_at, a.week,
               NULL, {no}, NULL, 0, 0, a.hours_to_resolution, NULL,
               COALESCE(t.meetings, 0), COALESCE(t.advice, 0), %s
        FROM chosen a LEFT JOIN per_alert t ON t.alert_id = a.id
        WHERE NOT EXISTS (SELECT 1 FROM pairs p WHERE p.alert_id = a.id)
    """  # noqa: S608 - SQL of this module and quoted tables; values are parameters
    refreshed = connection.ops.adapt_datetimefield_value(now)
    params = [*week_params, resolved, *where_params, *message_params, held, cancelled, *booking_params]
    params += [refreshed, refreshed]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.rowcount
        cursor.execute(f"SELECT COUNT(*) FROM {_table(Alert)} a WHERE {where}", where_params)  # noqa: S608
        (alerts,) = cursor.fetchone()
    return alerts, rows


# --- Weekly sums: what the page reads ---------------------------------------------------------------

# A digest keeps up to this many hours per cell: all of them while there are no more (medians of a
# small group are then exact), else this many evenly spaced quantiles, each standing for n/32 values.
DIGEST_POINTS = 32
_QUANTILES = (np.arange(DIGEST_POINTS) + 0.5) / DIGEST_POINTS
CELL = ["week", "team_id", "alert_type_id", "segment", "quadrant", "channel"]
_SUMS = [
    "sent",
    "responded",
    "meetings_booked",
    "advice_given",
    "alert_meetings_booked",
    "alert_advice_given",
]
# digest field: (value column of the facts, the rows it is taken over)
_DIGESTS = {
    "response_hours": ("hours_to_response", "messaged"),
    "resolution_hours_messaged": ("alert_hours_to_resolution", "messaged"),
    "first_response_hours": ("alert_hours_to_first_response", "primary"),
    "resolution_hours": ("alert_hours_to_resolution", "primary"),
}


def hours_digest(values) -> bytes:
    """How many values, then the sorted values (or DIGEST_POINTS quantiles of them), packed as
    little-endian float64s (ResponseWeek.digest unpacks them)."""
    values = np.sort(pd.Series(values, dtype="float64").dropna().to_numpy())  # None and NaN: no value
    return _packed(values)


def _packed(sorted_hours: np.ndarray) -> bytes:
    points = np.quantile(sorted_hours, _QUANTILES) if len(sorted_hours) > DIGEST_POINTS else sorted_hours
    return np.concatenate([[len(sorted_hours)], points]).astype("<f8").tobytes()


def response_weeks_refresh(*, since: date | None = None, now: datetime | None = None) -> int:
    """Rebuild the weekly sums of every week from the one `since` lies in (None: all weeks), from the
    facts; returns the rows written. One transaction: the page sees the old sums or the new ones.

    A week at a time, in pandas: a week of facts of a million-client book is some 50,000 rows.
    """
    now = now or timezone.now()
    facts = ResponseFact.objects.order_by()
    stale = ResponseWeek.objects.all()
    if since is not None:
        facts = facts.filter(week__gte=week_start(since))
        stale = stale.filter(week__gte=week_start(since))
    weeks = sorted(set(facts.values_list("week", flat=True).distinct()))
    written = 0
    with transaction.atomic():
        stale.delete()
        for week in weeks:
            rows = _week_rows(week, now)
            ResponseWeek.objects.bulk_create(rows, batch_size=2_000)
            written += len(rows)
    if connection.vendor == "postgresql" and written and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(ResponseWeek._meta.db_table)}")
    return written


def _week_rows(week: date, now: datetime) -> list[ResponseWeek]:
    values = [*CELL[1:], "is_primary", "responded", "sent", *_SUMS[2:], "hours_to_response"]
    values += ["alert_hours_to_resolution", "alert_hours_to_first_response"]
    facts = (
        ResponseFact.objects.filter(week=week)
        .order_by()
        .annotate(sent=ExpressionWrapper(Q(sent_at__isnull=False), output_field=BooleanField()))
    )
    frame = pd.DataFrame.from_records(list(facts.values_list(*values)), columns=values)
    if frame.empty:
        return []
    frame["sent"] = frame["sent"].astype(int)
    frame["responded"] = frame["responded"].astype(int)
    frame["primary"] = frame["is_primary"].astype(int)
    frame["messaged"] = frame["channel"].ne("")
    cell = CELL[1:]
    grouped = frame.groupby(cell, sort=False)
    sums = grouped[["primary", *_SUMS]].sum()
    sums["facts"] = grouped.size()
    digests = {
        field: _digests(frame[frame["messaged"] if rows == "messaged" else frame["is_primary"]], cell, column)
        for field, (column, rows) in _DIGESTS.items()
    }
    empty = b""
    rows = []
    for key, counts in sums.iterrows():  # a few hundred cells a week, whatever the book's size
        team_id, alert_type_id, segment, quadrant, channel = key
        rows.append(
            ResponseWeek(
                week=week,
                team_id=int(team_id),
                alert_type_id=int(alert_type_id),
                segment=segment,
                quadrant=quadrant,
                channel=channel,
                facts=int(counts["facts"]),
                primary_facts=int(counts["primary"]),
                **{name: int(counts[name]) for name in _SUMS},
                **{field: digest.get(key, empty) for field, digest in digests.items()},
                refreshed_at=now,
            )
        )
    return rows


def _digests(frame: pd.DataFrame, cell: list[str], column: str) -> dict[tuple, bytes]:
    """`hours_digest` of `column` per cell: one sort of the week's values by cell and value, then a
    slice per cell (no pandas object per cell: a week has a few thousand cells and digests)."""
    chosen = frame.loc[frame[column].notna(), [*cell, column]]
    if chosen.empty:
        return {}
    grouped = chosen.groupby(cell, sort=False)
    codes = grouped.ngroup().to_numpy()
    keys = list(grouped.size().index)  # in the order of the codes (first appearance)
    values = chosen[column].to_numpy(dtype=float)
    order = np.lexsort((values, codes))
    codes, values = codes[order], values[order]
    bounds = np.searchsorted(codes, np.arange(len(keys) + 1))
    digests = {}
    for number, key in enumerate(keys):
        digests[key] = _packed(values[bounds[number] : bounds[number + 1]])
    return digests


# --- Retention -------------------------------------------------------------------------------------


def retention_snapshots_refresh(*, now: datetime | None = None) -> int:
    """Compute the retention figures for all teams and for each team, and replace the snapshots.

    Returns how many were written. The figures are those of `insights.selectors.retention_compute`,
    computed for every team at once (`retention_compute_every_team`).
    """
    from .selectors import retention_compute_every_team, retention_figures_json

    now = now or timezone.now()
    team_ids = list(Team.objects.order_by("pk").values_list("pk", flat=True))
    snapshots = [
        RetentionSnapshot(team_id=team_id, figures=retention_figures_json(figures), computed_at=now)
        for team_id, figures in retention_compute_every_team(team_ids).items()
    ]
    with transaction.atomic():
        RetentionSnapshot.objects.all().delete()
        RetentionSnapshot.objects.bulk_create(snapshots)
    return len(snapshots)
