"""Recommendations: only with enough data on both sides, and never without the interval."""

import math
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert, AlertType
from clients.tests.factories import ClientFactory
from insights.models import ResponseFact
from insights.selectors import InsightFilters, channel_recommendations, facts_visible_to
from insights.services import response_weeks_refresh, week_start
from insights.stats import rate_ratio_interval, wilson_interval

pytestmark = pytest.mark.django_db


def test_wilson_interval_matches_the_closed_form():
    interval = wilson_interval(2, 3)
    assert interval.estimate == pytest.approx(2 / 3)
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.2077, 0.9385)
    assert wilson_interval(0, 10).low == 0.0 and round(wilson_interval(0, 10).high, 4) == 0.2775
    assert wilson_interval(5, 0) is None


def test_katz_interval_of_a_rate_ratio():
    # 40/100 against 20/100: ratio 2, SE(ln) = √(1/40 − 1/100 + 1/20 − 1/100) = √0.055.
    interval = rate_ratio_interval(40, 100, 20, 100)
    assert interval.estimate == pytest.approx(2.0)
    spread = 1.959964 * math.sqrt(0.055)
    assert interval.low == pytest.approx(2 * math.exp(-spread), abs=1e-5)
    assert (round(interval.low, 3), round(interval.high, 3)) == (1.263, 3.167)
    assert rate_ratio_interval(0, 100, 20, 100) is None  # no response on one side: no interval, no claim


def _facts(advisor, segment: str, channel: str, sent: int, responded: int):
    """`sent` alerts of one client segment messaged through `channel`, `responded` of them answered."""
    client = ClientFactory(team=advisor.team, advisor=advisor, household=None, segment=segment)
    alert_type = AlertType.objects.get_or_create(key="fixed_rate_ending", defaults={"name": "Fixed rate"})[0]
    now = timezone.now() - timedelta(days=8)
    alerts = Alert.objects.bulk_create(
        [
            Alert(alert_type=alert_type, client=client, team=advisor.team, status="resolved", opened_at=now)
            for _ in range(sent)
        ]
    )
    ResponseFact.objects.bulk_create(
        [
            ResponseFact(
                alert=alert,
                channel=channel,
                is_primary=True,
                team=advisor.team,
                alert_type=alert_type,
                segment=segment,
                quadrant="urgent_sensitive",
                raised_at=now,
                week=week_start(timezone.localdate(now)),
                sent_at=now,
                responded=index < responded,
                refreshed_at=now,
            )
            for index, alert in enumerate(alerts)
        ]
    )
    response_weeks_refresh()  # the page reads the weekly sums of the facts


def recommendations_for(advisor):
    return channel_recommendations(
        facts_visible_to(advisor, InsightFilters.last_weeks(4)), group_dimensions=("segment",)
    )


def test_no_recommendation_below_the_minimum_sample_however_large_the_difference(advisor):
    _facts(advisor, "premium", "sms", sent=99, responded=60)
    _facts(advisor, "premium", "email", sent=99, responded=5)
    assert recommendations_for(advisor) == []


def test_a_clear_difference_with_enough_messages_is_recommended_with_its_interval(advisor):
    _facts(advisor, "premium", "sms", sent=100, responded=40)
    _facts(advisor, "premium", "email", sent=100, responded=20)
    [recommendation] = recommendations_for(advisor)
    assert (recommendation.better, recommendation.worse, recommendation.group_key) == ("sms", "email", "premium")
    assert (round(recommendation.ratio.low, 3), round(recommendation.ratio.high, 3)) == (1.263, 3.167)
    assert recommendation.text == (
        "For Premium, SMS gets 2.0× the response rate of Email (40% vs 20%; n = 100 vs 100; "  # noqa: RUF001
        "95% interval of the ratio 1.3–3.2×)."  # noqa: RUF001
    )


def test_no_recommendation_when_the_interval_includes_no_difference(advisor):
    _facts(advisor, "basic", "sms", sent=100, responded=25)
    _facts(advisor, "basic", "email", sent=100, responded=20)  # ratio 1.25, interval about 0.75–2.1
    assert recommendations_for(advisor) == []


def test_another_teams_messages_never_make_an_advisors_recommendation(advisor, advisor_other_team):
    _facts(advisor_other_team, "premium", "sms", sent=200, responded=100)
    _facts(advisor_other_team, "premium", "email", sent=200, responded=20)
    assert recommendations_for(advisor) == []
    assert len(recommendations_for(advisor_other_team)) == 1
