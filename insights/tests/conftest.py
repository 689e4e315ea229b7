"""A small hand-made follow-up history whose figures can be worked out on paper (see test_metrics)."""

import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert, AlertType
from clients.tests.factories import ClientFactory
from followup.models import Booking, Message, MessageAlert
from insights.services import response_facts_refresh, week_start

_keys = itertools.count()


def at(day: date, hour: int) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()) + timedelta(hours=hour))


def raise_alert(client, key: str, quadrant: str, opened_at: datetime, **fields) -> Alert:
    alert_type, _ = AlertType.objects.get_or_create(key=key, defaults={"name": key.replace("_", " ").capitalize()})
    return Alert.objects.create(
        alert_type=alert_type,
        client=client,
        team=client.team,
        quadrant=quadrant,
        opened_at=opened_at,
        **fields,
    )


def send(alert: Alert, channel: str, sent_at: datetime, responded_at: datetime | None = None) -> Message:
    message = Message.objects.create(
        client=alert.client,
        team=alert.team,
        channel=channel,
        purpose="service",
        language="nl",
        status="responded" if responded_at else "delivered",
        queued_at=sent_at,
        sent_at=sent_at,
        responded_at=responded_at,
        idempotency_key=f"test-{next(_keys)}",
    )
    MessageAlert.objects.create(message=message, alert=alert, channel=channel)
    return message


def book(alert: Alert, message: Message | None, starts_at: datetime, status: str) -> Booking:
    return Booking.objects.create(
        client=alert.client,
        advisor=alert.client.advisor,
        team=alert.team,
        alert=alert,
        message=message,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=1),
        status=status,
    )


@dataclass
class History:
    first_week: date
    alerts: dict


@pytest.fixture
def history(advisor, advisor_other_team) -> History:
    """Two weeks of Team Noord's follow-up, and one alert of Team Zuid that Noord must never count.

    Week 0 (a Monday three weeks ago):
      a1  fixed-rate, Premium, urgent: email sent Mon 10:00, answered 14:00 (4 h); SMS sent 10:00,
          never answered; resolved Wed 09:00 (48 h after raising); a meeting booked through the email
          and held.
      a2  fixed-rate, Basic, urgent: email sent Tue 09:00, answered 19:00 (10 h); resolved Fri 09:00
          (72 h); a meeting booked through the email, not held yet.
      a3  under-insured, Basic, not urgent: email sent Tue 12:00, never answered; dismissed.
    Week 1:
      a4  under-insured, Premium, not urgent: raised Monday, never messaged.
    Team Zuid, week 0: z1 fixed-rate, Premium: SMS sent and answered within the hour.
    """
    monday = week_start(timezone.localdate()) - timedelta(weeks=3)
    tue, wed, fri = (monday + timedelta(days=n) for n in (1, 2, 4))
    premium = ClientFactory(team=advisor.team, advisor=advisor, household=None, segment="premium")
    basic = ClientFactory(team=advisor.team, advisor=advisor, household=None, segment="basic")
    zuid = ClientFactory(team=advisor_other_team.team, advisor=advisor_other_team, household=None, segment="premium")

    a1 = raise_alert(
        premium, "fixed_rate_ending", "urgent_sensitive", at(monday, 9), status="resolved", closed_at=at(wed, 9)
    )
    email = send(a1, "email", at(monday, 10), at(monday, 14))
    send(a1, "sms", at(monday, 10))
    book(a1, email, at(wed, 15), Booking.Status.HELD)

    a2 = raise_alert(
        basic, "fixed_rate_ending", "urgent_sensitive", at(tue, 9), status="resolved", closed_at=at(fri, 9)
    )
    email = send(a2, "email", at(tue, 9), at(tue, 19))
    book(a2, email, at(fri, 15), Booking.Status.BOOKED)

    a3 = raise_alert(basic, "home_underinsured", "later_routine", at(tue, 9), status="dismissed", closed_at=at(fri, 9))
    send(a3, "email", at(tue, 12))

    a4 = raise_alert(premium, "home_underinsured", "later_routine", at(monday + timedelta(weeks=1), 9))

    z1 = raise_alert(zuid, "fixed_rate_ending", "urgent_sensitive", at(monday, 9))
    send(z1, "sms", at(monday, 10), at(monday, 10) + timedelta(minutes=30))

    response_facts_refresh()
    return History(first_week=monday, alerts={"a1": a1, "a2": a2, "a3": a3, "a4": a4, "z1": z1})
