"""The insights scenario at a tiny size: it produces its figures and leaves no history behind.

No timing is asserted. What is asserted is what the figures rest on: the generated history reaches
the weekly sums and the retention snapshots, both pages answer, the old page's queries run for the
baseline, and the teardown removes every alert, message and summary row it made.
"""

import pytest

from alerts.models import Alert
from benchmarks.database import book_ensure
from benchmarks.registry import Context, scenarios_load
from benchmarks.runner import run_scenario
from clients.models import ClientRevenue
from followup.models import Message
from insights.models import ResponseFact, ResponseWeek, RetentionSnapshot

TINY = 200


@pytest.mark.django_db
def test_the_insights_scenario_times_the_refresh_and_both_pages_and_cleans_up(settings):
    settings.STEWARD_AFTER_SYNC_TASKS = []
    book_ensure(TINY, log=lambda text: None)

    result = run_scenario(scenarios_load()["insights"], Context(size=TINY, runs=1, log=lambda text: None))

    extra = result.extra
    assert result.count == 3 and result.seconds > 0
    assert extra["alerts"] > 0 and extra["response_facts"] >= extra["alerts"] and extra["response_weeks"] > 0
    assert extra["retention_snapshots"] >= 3  # all teams, Team Noord, Team Zuid
    assert extra["index_p95_ms"] >= extra["index_p50_ms"] > 0
    assert extra["retention_p95_ms"] >= extra["retention_p50_ms"] > 0
    assert result.baseline_seconds > 0 and result.baseline["sample_count"] == 3
    assert not Alert.objects.exists() and not Message.objects.exists() and not ClientRevenue.objects.exists()
    assert not (ResponseFact.objects.exists() or ResponseWeek.objects.exists() or RetentionSnapshot.objects.exists())
