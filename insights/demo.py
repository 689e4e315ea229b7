"""The demo's history: 26 weeks of follow-up (alerts, messages, responses, bookings) and revenue.

The demo book is loaded today, so without this the insights would have nothing to look back on.
Deterministic (seeded) and plausible rather than realistic: response rates differ by channel, client
segment and quadrant; SMS goes first for Premium clients after a playbook change ten weeks ago, so the
trend shows the change. Written with bulk_create, a few statements per table. `history_generate` is
also used to give a benchmark book the same history.
"""

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from alerts.models import Alert, AlertType, Quadrant
from canvas.models import PlacementChange
from clients.models import Client, ClientRevenue
from followup.models import Booking, Message, MessageAlert, PlaybookChange

from .services import response_facts_refresh, week_start

DEMO_SEED = 7
DEMO_WEEKS = 26
KEY_PREFIX = "demo-history-"
ALERTS_PER_CLIENT_PER_WEEK = 0.04

# How likely a client answers a message, and how fast (median hours), per channel.
RESPONSE_RATE = {"email": 0.16, "sms": 0.33, "whatsapp": 0.40, "phone": 0.55, "letter": 0.07, "push": 0.20}
RESPONSE_HOURS = {"email": 20, "sms": 4, "whatsapp": 3, "phone": 0.5, "letter": 96, "push": 6}
SEGMENT_FACTOR = {"basic": 0.85, "plus": 1.0, "premium": 1.25}
QUADRANT_FACTOR = {
    Quadrant.URGENT_SENSITIVE: 1.2,
    Quadrant.URGENT_ROUTINE: 1.1,
    Quadrant.LATER_SENSITIVE: 1.0,
    Quadrant.LATER_ROUTINE: 0.8,
    Quadrant.UNPLACED: 0.9,
}
SENSITIVE = (Quadrant.URGENT_SENSITIVE, Quadrant.LATER_SENSITIVE)
# First channels, before and after the playbook change (Premium clients only).
CHANNELS_BEFORE = (("email", 0.6), ("letter", 0.15), ("phone", 0.1), ("sms", 0.15))
CHANNELS_PREMIUM_AFTER = (("sms", 0.45), ("email", 0.35), ("phone", 0.2))
REMINDER = {"email": "sms", "letter": "email", "sms": "email", "phone": "email"}
PLAYBOOK_CHANGE_WEEKS_AGO = 10


def _pick(rng: random.Random, weighted) -> str:
    values, weights = zip(*weighted, strict=True)
    return rng.choices(values, weights)[0]


def _lognormal_hours(rng: random.Random, median: float, sigma: float = 0.9) -> timedelta:
    return timedelta(hours=median * math.exp(rng.gauss(0, sigma)))


@dataclass
class HistoryReport:
    alerts: int = 0
    messages: int = 0
    bookings: int = 0
    revenue_rows: int = 0
    notes: list = field(default_factory=list)


def history_generate(*, clients: list[tuple], weeks: int, seed: int, now: datetime | None = None) -> HistoryReport:
    """Alerts raised over the past `weeks` for these clients ((id, team_id, advisor_id, segment) rows),
    with the messages, responses and bookings of their follow-up. Historical alerts are closed, or live
    only where the client has no live alert of the type yet (one live alert per client and type)."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not a secret
    now = now or timezone.now()
    report = HistoryReport()
    types = list(AlertType.objects.order_by("pk"))
    if not types or not clients:
        return report
    quadrants = _quadrant_per_type(types)
    live = set(Alert.objects.filter(status__in=Alert.LIVE_STATUSES).values_list("client_id", "alert_type_id"))
    change_at = timezone.make_aware(
        datetime.combine(
            week_start(timezone.localdate(now)) - timedelta(weeks=PLAYBOOK_CHANGE_WEEKS_AGO), datetime.min.time()
        )
    ) + timedelta(hours=10)
    first_monday = week_start(timezone.localdate(now)) - timedelta(weeks=weeks)
    alerts, plans = [], []
    for week in range(weeks):
        monday = timezone.make_aware(datetime.combine(first_monday + timedelta(weeks=week), datetime.min.time()))
        for client_id, team_id, advisor_id, segment in rng.sample(
            clients, k=max(1, int(len(clients) * ALERTS_PER_CLIENT_PER_WEEK))
        ):
            alert_type = rng.choice(types)
            quadrant = quadrants[alert_type.pk]
            opened_at = monday + timedelta(days=rng.randrange(5), hours=rng.randrange(7, 18), minutes=rng.randrange(60))
            if opened_at >= now:
                continue
            alert = Alert(
                alert_type=alert_type,
                client_id=client_id,
                team_id=team_id,
                assigned_to_id=advisor_id,
                quadrant=quadrant,
                message=f"{alert_type.name} (demo history)",
                opened_at=opened_at,
                updated_at=opened_at,
            )
            plan = _follow_up(rng, alert, segment, advisor_id, opened_at >= change_at, now)
            if plan["closed_at"] is None or plan["closed_at"] >= now:
                if (client_id, alert_type.pk) in live:
                    plan["closed_at"], plan["status"] = now - timedelta(minutes=1), Alert.Status.DISMISSED
                else:
                    live.add((client_id, alert_type.pk))
                    plan["closed_at"], plan["status"] = None, Alert.Status.IN_PROGRESS
            alert.status, alert.closed_at = plan["status"], plan["closed_at"]
            alert.updated_at = plan["closed_at"] or opened_at
            alerts.append(alert)
            plans.append(plan)
    with transaction.atomic():
        Alert.objects.bulk_create(alerts, batch_size=2_000)
        messages, links, booking_plans = [], [], []
        for alert, plan in zip(alerts, plans, strict=True):
            for channel, sent_at, responded_at in plan["messages"]:
                message = Message(
                    client_id=alert.client_id,
                    team_id=alert.team_id,
                    channel=channel,
                    purpose="advice" if alert.quadrant in SENSITIVE else "service",
                    language="nl",
                    subject=alert.message,
                    status=Message.Status.RESPONDED if responded_at else Message.Status.DELIVERED,
                    queued_at=sent_at,
                    send_after=sent_at,
                    sent_at=sent_at,
                    delivered_at=sent_at + timedelta(minutes=1),
                    responded_at=responded_at,
                    idempotency_key=f"{KEY_PREFIX}{seed}-{alert.pk}-{channel}",
                )
                messages.append(message)
                links.append((message, alert, channel))
                if plan["booking"] and responded_at and plan["booking"][0] == channel:
                    booking_plans.append((message, alert, plan["booking"]))
        Message.objects.bulk_create(messages, batch_size=2_000)
        MessageAlert.objects.bulk_create(
            [MessageAlert(message=message, alert=alert, channel=channel) for message, alert, channel in links],
            batch_size=5_000,
        )
        taken: set = set(Booking.objects.filter(status=Booking.Status.BOOKED).values_list("advisor_id", "starts_at"))
        bookings = []
        for message, alert, (_channel, starts_at, status, advisor_id) in booking_plans:
            if advisor_id is None:
                continue
            while status == Booking.Status.BOOKED and (advisor_id, starts_at) in taken:
                starts_at += timedelta(hours=1)
            taken.add((advisor_id, starts_at))
            bookings.append(
                Booking(
                    client_id=alert.client_id,
                    advisor_id=advisor_id,
                    team_id=alert.team_id,
                    alert=alert,
                    message=message,
                    starts_at=starts_at,
                    ends_at=starts_at + timedelta(hours=1),
                    status=status,
                    created_at=message.responded_at,
                )
            )
        Booking.objects.bulk_create(bookings, batch_size=2_000)
    report.alerts, report.messages, report.bookings = len(alerts), len(messages), len(bookings)
    return report


def _quadrant_per_type(types) -> dict[int, str]:
    """Each type's quadrant as the canvas placed its live alerts, else a spread over the four."""
    placed = dict(
        Alert.objects.exclude(quadrant=Quadrant.UNPLACED).order_by().values_list("alert_type_id", "quadrant").distinct()
    )
    spread = [Quadrant.URGENT_SENSITIVE, Quadrant.URGENT_ROUTINE, Quadrant.LATER_SENSITIVE, Quadrant.LATER_ROUTINE]
    return {alert_type.pk: placed.get(alert_type.pk, spread[index % 4]) for index, alert_type in enumerate(types)}


def _follow_up(rng, alert: Alert, segment: str, advisor_id, after_change: bool, now) -> dict:
    """What happened after the alert was raised: messages, the response, a booking, the resolution."""
    weighted = CHANNELS_PREMIUM_AFTER if after_change and segment == "premium" else CHANNELS_BEFORE
    first = _pick(rng, weighted)
    channels = [first] + ([REMINDER[first]] if rng.random() < 0.3 else [])
    factor = SEGMENT_FACTOR.get(segment, 1.0) * QUADRANT_FACTOR.get(alert.quadrant, 1.0)
    messages, first_response, booking = [], None, None
    sent_at = alert.opened_at + timedelta(hours=rng.uniform(1, 30))
    for channel in channels:
        if sent_at >= now:
            break
        responded_at = None
        if rng.random() < min(0.95, RESPONSE_RATE[channel] * factor):
            responded_at = sent_at + _lognormal_hours(rng, RESPONSE_HOURS[channel])
            if responded_at >= now:
                responded_at = None
        messages.append((channel, sent_at, responded_at))
        if responded_at and first_response is None:
            first_response = responded_at
            booking_chance = 0.45 if alert.quadrant in SENSITIVE else 0.15
            if rng.random() < booking_chance:
                day = timezone.localdate(responded_at) + timedelta(days=rng.randint(2, 10))
                starts_at = timezone.make_aware(datetime.combine(day, datetime.min.time())) + timedelta(
                    hours=rng.choice([9, 10, 11, 13, 14, 15, 16])
                )
                if starts_at < now:
                    status = Booking.Status.HELD if rng.random() < 0.85 else Booking.Status.CANCELLED
                else:
                    status = Booking.Status.BOOKED
                booking = (channel, starts_at, status, advisor_id)
        sent_at = sent_at + timedelta(days=rng.uniform(3, 7))
    if first_response is not None:
        closed_at, status = first_response + _lognormal_hours(rng, 72), Alert.Status.RESOLVED
    elif rng.random() < 0.6:
        closed_at, status = alert.opened_at + timedelta(days=30), Alert.Status.DISMISSED
    else:
        closed_at, status = alert.opened_at + timedelta(days=rng.uniform(14, 40)), Alert.Status.RESOLVED
    return {"messages": messages, "booking": booking, "closed_at": closed_at, "status": status}


def revenue_generate(*, client_ids: list[int] | None = None, years: int = 5, seed: int, today=None) -> int:
    """Fees and commission per client and year (the last `years` calendar years, this one so far).

    Premium clients pay more fees; commission follows the products a client holds, in broad strokes.
    Clients who already have revenue rows are left alone (safe to run again).
    """
    rng = random.Random(seed)  # noqa: S311 - demo data, not a secret
    today = today or timezone.localdate()
    clients = Client.objects.filter(deleted_at__isnull=True).exclude(revenues__isnull=False)
    if client_ids is not None:
        clients = clients.filter(pk__in=client_ids)
    fee_range = {"basic": (0, 450), "plus": (250, 1200), "premium": (900, 3200)}
    rows = []
    for client_id, segment, client_since in clients.values_list("pk", "segment", "client_since").iterator():
        low, high = fee_range.get(segment, (0, 450))
        commission_level = rng.lognormvariate(math.log(300), 0.9)
        for year in range(today.year - years + 1, today.year + 1):
            if client_since and client_since.year > year:
                continue
            share = (today.timetuple().tm_yday / 365) if year == today.year else 1.0
            # Fees only in a year with advice (not every year for the smaller segments).
            fees = rng.uniform(low, high) if rng.random() < (0.9 if segment == "premium" else 0.5) else 0
            commission = commission_level * rng.uniform(0.7, 1.3)
            rows.append(
                ClientRevenue(
                    client_id=client_id,
                    year=year,
                    fees=Decimal(str(round(fees * share, 2))),
                    commission=Decimal(str(round(commission * share, 2))),
                )
            )
    ClientRevenue.objects.bulk_create(rows, batch_size=5_000)
    return len(rows)


def _change_markers_create(now) -> None:
    """The decisions the demo history reacts to: a playbook change and a canvas move in the past."""
    from django.contrib.auth import get_user_model

    back_office = get_user_model().objects.filter(username="backoffice").first()
    this_week = timezone.make_aware(datetime.combine(week_start(timezone.localdate(now)), datetime.min.time()))
    PlaybookChange.objects.create(
        at=this_week - timedelta(weeks=PLAYBOOK_CHANGE_WEEKS_AGO) + timedelta(hours=10),
        by=back_office,
        summary="Premium clients: SMS first, then email (demo history)",
    )
    alert_type = AlertType.objects.order_by("pk").first()
    if alert_type is not None:
        PlacementChange.objects.create(
            alert_type=alert_type,
            user=back_office,
            at=this_week - timedelta(weeks=18) + timedelta(days=2, hours=11),
            to_urgency=80,
            to_advice_sensitivity=70,
        )


def demo_history_load(*, stdout) -> None:
    """Give the demo book 26 weeks of follow-up history and five years of revenue; safe to run again."""
    from enrichment.services import facts_refresh

    now = timezone.now()
    if Message.objects.filter(idempotency_key__startswith=KEY_PREFIX).exists():
        stdout.write("Insights history: already loaded.")
        return
    clients = list(
        Client.objects.filter(deleted_at__isnull=True)
        .order_by("pk")
        .values_list("pk", "team_id", "advisor_id", "segment")
    )
    revenue_rows = revenue_generate(seed=DEMO_SEED)
    report = history_generate(clients=clients, weeks=DEMO_WEEKS, seed=DEMO_SEED, now=now)
    _change_markers_create(now)
    # Client value and churn signals are facts: derive them again now that revenue exists.
    facts_refresh()
    refreshed = response_facts_refresh()
    stdout.write(
        f"Insights history: {report.alerts:,} alerts over {DEMO_WEEKS} weeks, {report.messages:,} messages, "
        f"{report.bookings:,} bookings, {revenue_rows:,} revenue rows; {refreshed.rows:,} response facts "
        f"in {refreshed.seconds:.1f} s ({settings.STEWARD_DEMO_CLIENTS:,} demo clients)."
    )
