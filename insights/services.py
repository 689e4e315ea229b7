"""Writes of insights: rebuilding the summary table the pages read (`response_facts_refresh`).

Set-based: alerts are taken in keyset chunks of CHUNK_SIZE ids; per chunk three queries (the alerts
with their client's segment, the messages that served them, their bookings), pandas to fold them into
one row per alert and channel, then one DELETE and one bulk INSERT in a transaction. A chunk costs the
same number of queries whether it holds ten alerts or twenty thousand.
"""

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd
from django.db import connection, transaction
from django.utils import timezone

from alerts.models import Alert
from followup.models import Booking, MessageAlert

from .models import ResponseFact

CHUNK_SIZE = 20_000
HOUR = pd.Timedelta(hours=1)


@dataclass
class RefreshReport:
    alerts: int = 0
    rows: int = 0
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
        chunk = list(
            alerts.filter(pk__gt=last).values_list(
                "pk", "team_id", "alert_type_id", "client__segment", "quadrant", "opened_at", "status", "closed_at"
            )[:CHUNK_SIZE]
        )
        if not chunk:
            break
        last = chunk[-1][0]
        rows = _facts_for(chunk, now)
        with transaction.atomic():
            ResponseFact.objects.filter(alert_id__in=[row[0] for row in chunk]).delete()
            _write(rows)
        report.alerts += len(chunk)
        report.rows += len(rows)
    # VACUUM cannot run inside a transaction (a caller's atomic block, or a test): skip it there.
    if connection.vendor == "postgresql" and report.rows and not connection.in_atomic_block:
        # Every refresh replaces rows: fresh statistics keep the planner on the (team, week) index, and
        # reclaiming the dead rows keeps the scans short (autovacuum may come much later).
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(ResponseFact._meta.db_table)}")
    report.seconds = time.monotonic() - started
    return report


def _facts_for(chunk: list[tuple], now: datetime) -> list[dict]:
    columns = ["alert_id", "team_id", "alert_type_id", "segment", "quadrant", "opened_at", "status", "closed_at"]
    alerts = pd.DataFrame.from_records(chunk, columns=columns).set_index("alert_id")
    alert_ids = alerts.index.tolist()
    tz = timezone.get_current_timezone()
    alerts["opened_at"] = pd.to_datetime(alerts["opened_at"], utc=True)
    alerts["closed_at"] = pd.to_datetime(alerts["closed_at"], utc=True)
    local_day = alerts["opened_at"].dt.tz_convert(tz).dt.normalize().dt.tz_localize(None)
    alerts["week"] = (local_day - pd.to_timedelta(local_day.dt.day_of_week, unit="D")).dt.date
    resolved = alerts["status"].eq(Alert.Status.RESOLVED) & alerts["closed_at"].notna()
    alerts["hours_to_resolution"] = ((alerts["closed_at"] - alerts["opened_at"]) / HOUR).where(resolved)

    # Messages actually sent, per alert and channel: the first one, and the first response to any.
    sent = pd.DataFrame.from_records(
        MessageAlert.objects.filter(alert_id__in=alert_ids, message__sent_at__isnull=False).values_list(
            "alert_id", "channel", "message__sent_at", "message__responded_at"
        ),
        columns=["alert_id", "channel", "sent_at", "responded_at"],
    )
    sent["sent_at"] = pd.to_datetime(sent["sent_at"], utc=True)
    sent["responded_at"] = pd.to_datetime(sent["responded_at"], utc=True)
    pairs = sent.groupby(["alert_id", "channel"]).agg(sent_at=("sent_at", "min"), responded_at=("responded_at", "min"))

    # Meetings: bookings of the alert that were not cancelled; advice: the meeting was held.
    bookings = pd.DataFrame.from_records(
        Booking.objects.filter(alert_id__in=alert_ids)
        .exclude(status=Booking.Status.CANCELLED)
        .values_list("alert_id", "message__channel", "status"),
        columns=["alert_id", "channel", "status"],
    )
    bookings["held"] = bookings["status"].eq(Booking.Status.HELD).astype(int)
    bookings["channel"] = bookings["channel"].fillna("")
    per_channel = bookings.groupby(["alert_id", "channel"]).agg(meetings=("held", "size"), advice=("held", "sum"))
    per_alert = bookings.groupby("alert_id").agg(meetings=("held", "size"), advice=("held", "sum"))

    if not pairs.empty:
        pairs = pairs.join(per_channel, how="left").fillna({"meetings": 0, "advice": 0}).reset_index()
        first = pairs.sort_values(["alert_id", "sent_at", "channel"]).drop_duplicates("alert_id")
        primary = set(zip(first["alert_id"], first["channel"], strict=True))
        by_alert = pairs.groupby("alert_id").agg(first_sent=("sent_at", "min"), first_response=("responded_at", "min"))
        alerts = alerts.join(by_alert, how="left")
    else:
        pairs = pd.DataFrame(columns=["alert_id", "channel", "sent_at", "responded_at", "meetings", "advice"])
        primary = set()
        alerts["first_sent"] = pd.NaT
        alerts["first_response"] = pd.NaT
    alerts["hours_to_first_response"] = (alerts["first_response"] - alerts["first_sent"]) / HOUR
    alerts = alerts.join(per_alert, how="left").fillna({"meetings": 0, "advice": 0})

    # One frame of every row to write: the messaged (alert, channel) pairs, then the never-messaged alerts.
    never_messaged = alerts.index.difference(pd.Index(pairs["alert_id"].unique()))
    lonely = pd.DataFrame(
        {
            "alert_id": never_messaged,
            "channel": "",
            "sent_at": pd.NaT,
            "responded_at": pd.NaT,
            "meetings": 0,
            "advice": 0,
        }
    )
    rows = pd.concat([pairs, lonely], ignore_index=True) if len(lonely) else pairs
    rows["is_primary"] = [
        channel == "" or (alert_id, channel) in primary
        for alert_id, channel in zip(rows["alert_id"], rows["channel"], strict=True)
    ]
    rows["hours_to_response"] = (rows["responded_at"] - rows["sent_at"]) / HOUR
    rows = rows.merge(
        alerts.rename(columns={"opened_at": "raised_at", "meetings": "alert_meetings", "advice": "alert_advice"}),
        left_on="alert_id",
        right_index=True,
    )
    facts = []
    for row in rows.itertuples(index=False):  # plain values per row for the writer; no query
        # Resolution is the alert's, on every row (per channel: how fast alerts messaged through it
        # were resolved); the rest of the alert's outcome only on its primary row, so sums count it once.
        alert_level = {
            "alert_hours_to_resolution": _number(row.hours_to_resolution),
            "alert_hours_to_first_response": None,
            "alert_meetings_booked": 0,
            "alert_advice_given": 0,
        }
        if row.is_primary:
            alert_level |= {
                "alert_hours_to_first_response": _number(row.hours_to_first_response),
                "alert_meetings_booked": int(row.alert_meetings),
                "alert_advice_given": int(row.alert_advice),
            }
        facts.append(
            dict(
                alert_id=int(row.alert_id),
                channel=row.channel,
                is_primary=row.is_primary,
                team_id=int(row.team_id),
                alert_type_id=int(row.alert_type_id),
                segment=row.segment,
                quadrant=row.quadrant,
                raised_at=row.raised_at.to_pydatetime(),
                week=row.week,
                sent_at=None if pd.isna(row.sent_at) else row.sent_at.to_pydatetime(),
                responded=pd.notna(row.responded_at),
                hours_to_response=_number(row.hours_to_response),
                meetings_booked=int(row.meetings),
                advice_given=int(row.advice),
                refreshed_at=now,
                **alert_level,
            )
        )
    return facts


def _write(rows: list[dict]) -> None:
    """Insert the rows: COPY on PostgreSQL (several times faster than a multi-row INSERT of 20,000
    rows of 18 columns, and no model instances), bulk_create elsewhere."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        ResponseFact.objects.bulk_create([ResponseFact(**row) for row in rows], batch_size=2_000)
        return
    names = list(rows[0])
    columns = [ResponseFact._meta.get_field(name.removesuffix("_id")).column for name in names]
    quote = connection.ops.quote_name
    sql = f"COPY {quote(ResponseFact._meta.db_table)} ({', '.join(map(quote, columns))}) FROM STDIN"
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row([row[name] for name in names])


def _number(value) -> float | None:
    return None if pd.isna(value) else float(value)
