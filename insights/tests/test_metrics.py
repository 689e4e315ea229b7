"""The response figures, pinned on the hand-made history of conftest.py (worked out on paper there)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from clients.tests.factories import ClientFactory
from followup.models import Booking, Message
from insights.models import ResponseFact
from insights.selectors import InsightFilters, facts_visible_to, metrics_by, weekly_trend
from insights.services import response_facts_refresh, week_start

from .conftest import at, book, raise_alert, send

pytestmark = pytest.mark.django_db


def period(history, **kwargs) -> InsightFilters:
    start = history.first_week
    return InsightFilters(start=start, end=start + timedelta(weeks=2), **kwargs)


def by_key(rows):
    return {row.key: row for row in rows}


def test_per_channel_each_messaged_alert_counts_once_per_channel(history, advisor):
    rows = by_key(metrics_by(facts_visible_to(advisor, period(history)), "channel"))
    email, sms, total = rows["email"], rows["sms"], rows[""]
    assert (email.alerts_raised, email.messages_sent, email.responses) == (3, 3, 2)
    assert email.rate.estimate == pytest.approx(2 / 3)
    # Wilson 95%: (p + z²/2n ± z·√(p(1-p)/n + z²/4n²)) / (1 + z²/n) with p = 2/3, n = 3, z = 1.959964.
    assert (round(email.rate.low, 4), round(email.rate.high, 4)) == (0.2077, 0.9385)
    assert email.hours_to_first_response == pytest.approx(7.0)  # median of 4 h and 10 h
    assert email.hours_to_resolution == pytest.approx(60.0)  # median of 48 h and 72 h; a3 was dismissed
    assert (email.meetings_booked, email.advice_given) == (2, 1)
    assert (sms.alerts_raised, sms.messages_sent, sms.responses, sms.rate.estimate) == (1, 1, 0, 0.0)
    assert (round(sms.rate.low, 4), round(sms.rate.high, 4)) == (0.0, 0.7935)
    assert sms.hours_to_first_response is None
    assert total.label == "Total" and (total.messages_sent, total.responses) == (4, 2)


def test_per_alert_type_an_alert_messaged_twice_is_one_alert_with_its_first_response(history, advisor):
    rows = by_key(metrics_by(facts_visible_to(advisor, period(history)), "alert_type"))
    fixed = rows[str(history.alerts["a1"].alert_type_id)]
    home = rows[str(history.alerts["a3"].alert_type_id)]
    assert (fixed.alerts_raised, fixed.messages_sent, fixed.responses) == (2, 3, 2)
    assert fixed.hours_to_first_response == pytest.approx(7.0)
    assert fixed.hours_to_resolution == pytest.approx(60.0)
    assert (fixed.meetings_booked, fixed.advice_given) == (2, 1)
    assert (home.alerts_raised, home.messages_sent, home.responses) == (2, 1, 0)
    assert home.hours_to_first_response is None and home.hours_to_resolution is None
    total = rows[""]
    assert (total.alerts_raised, total.messages_sent, total.responses, total.meetings_booked) == (4, 4, 2, 2)
    assert total.rate.estimate == 0.5


def test_per_segment_and_quadrant(history, advisor):
    facts = facts_visible_to(advisor, period(history))
    segments = by_key(metrics_by(facts, "segment"))
    assert (segments["premium"].alerts_raised, segments["premium"].messages_sent) == (2, 2)
    assert segments["premium"].hours_to_first_response == pytest.approx(4.0)
    assert (segments["basic"].alerts_raised, segments["basic"].responses) == (2, 1)
    quadrants = by_key(metrics_by(facts, "quadrant"))
    assert quadrants["urgent_sensitive"].alerts_raised == 2 and quadrants["later_routine"].alerts_raised == 2


def test_an_advisor_counts_only_their_own_team_and_back_office_may_choose(history, advisor, back_office):
    noord_total = metrics_by(facts_visible_to(advisor, period(history, team_id=None)), "channel")[-1]
    assert noord_total.messages_sent == 4
    # The team filter of an advisor is ignored: another team's id changes nothing.
    zuid_id = history.alerts["z1"].team_id
    assert metrics_by(facts_visible_to(advisor, period(history, team_id=zuid_id)), "channel")[-1].messages_sent == 4
    assert metrics_by(facts_visible_to(back_office, period(history)), "channel")[-1].messages_sent == 5
    zuid = by_key(metrics_by(facts_visible_to(back_office, period(history, team_id=zuid_id)), "channel"))
    assert (zuid["sms"].messages_sent, zuid["sms"].hours_to_first_response) == (1, pytest.approx(0.5))


def test_weekly_trend_per_team(history, advisor, back_office):
    filters = period(history, metric="response_rate")
    trend = weekly_trend(facts_visible_to(advisor, filters), filters)
    assert trend.weeks == [history.first_week, history.first_week + timedelta(weeks=1)]
    assert [series["label"] for series in trend.series] == ["Team Noord"]
    assert trend.series[0]["values"] == [50.0, None]  # 2 of 4 in week 0; nothing sent in week 1
    raised = period(history, metric="alerts_raised", dimension="alert_type")
    trend = weekly_trend(facts_visible_to(back_office, raised), raised)
    assert {series["label"]: series["values"] for series in trend.series} == {
        "Team Noord": [3, 1],
        "Team Zuid": [1, None],
    }


def test_the_refresh_is_idempotent_and_follows_new_responses(history, advisor):
    before = ResponseFact.objects.count()
    response_facts_refresh()
    assert ResponseFact.objects.count() == before == 6  # a1 twice, a2, a3, a4 (not messaged), z1
    a3_email = history.alerts["a3"].followup_messages.get()
    a3_email.responded_at = a3_email.sent_at + timedelta(hours=2)
    a3_email.save()
    response_facts_refresh(since=history.first_week)
    email = by_key(metrics_by(facts_visible_to(advisor, period(history)), "channel"))["email"]
    assert (email.responses, email.hours_to_first_response) == (3, pytest.approx(4.0))  # median of 2, 4, 10


def test_the_facts_rows_of_alerts_messaged_unsent_and_booked_without_a_message(advisor):
    """The rows the SQL rebuild writes, column by column: a message never sent does not count, a
    cancelled meeting neither; a meeting booked without a message counts for the alert only; the week
    is the Monday of the local day the alert was raised (00:30 on a Monday here is Sunday in UTC)."""
    client = ClientFactory(team=advisor.team, advisor=advisor, household=None, segment="plus")
    monday = week_start(timezone.localdate()) - timedelta(weeks=2)
    quiet = raise_alert(client, "fixed_rate_ending", "urgent_sensitive", at(monday, 0) + timedelta(minutes=30))
    book(quiet, None, at(monday, 15), Booking.Status.HELD)
    book(quiet, None, at(monday, 16), Booking.Status.CANCELLED)
    busy = raise_alert(
        client, "fixed_rate_ending", "urgent_sensitive", at(monday, 9), status="resolved", closed_at=at(monday, 21)
    )
    sms = send(busy, "sms", at(monday, 11), at(monday, 11) + timedelta(minutes=90))
    letter = send(busy, "email", at(monday, 10))
    Message.objects.filter(pk=send(busy, "portal", at(monday, 9)).pk).update(sent_at=None, status="queued")
    book(busy, sms, at(monday, 17), Booking.Status.BOOKED)
    book(busy, letter, at(monday, 18), Booking.Status.HELD)

    response_facts_refresh()
    rows = {(row.alert_id, row.channel): row for row in ResponseFact.objects.filter(alert__client=client)}
    assert set(rows) == {(quiet.pk, ""), (busy.pk, "email"), (busy.pk, "sms")}
    lonely = rows[(quiet.pk, "")]
    assert (lonely.is_primary, lonely.sent_at, lonely.responded, lonely.week) == (True, None, False, monday)
    assert (lonely.meetings_booked, lonely.alert_meetings_booked, lonely.alert_advice_given) == (0, 1, 1)
    assert lonely.alert_hours_to_resolution is None and lonely.alert_hours_to_first_response is None
    email, text = rows[(busy.pk, "email")], rows[(busy.pk, "sms")]
    assert (email.is_primary, text.is_primary) == (True, False)  # the first message went by email
    assert (email.responded, email.hours_to_response, email.meetings_booked, email.advice_given) == (False, None, 1, 1)
    assert (text.responded, text.hours_to_response, text.meetings_booked, text.advice_given) == (True, 1.5, 1, 0)
    assert email.alert_hours_to_resolution == text.alert_hours_to_resolution == 12.0
    assert email.alert_hours_to_first_response == 2.5  # sent 10:00 by email, first answer 12:30 by SMS
    assert (email.alert_meetings_booked, email.alert_advice_given) == (2, 1)
    assert (text.alert_hours_to_first_response, text.alert_meetings_booked, text.alert_advice_given) == (None, 0, 0)
    assert email.sent_at == at(monday, 10) and email.raised_at == busy.opened_at and email.segment == "plus"
