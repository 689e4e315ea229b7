"""The framework, dashboard, canvas and scale-out scenarios at a tiny size: each produces its figures.

No timing is asserted. What is asserted is what the figures rest on: the baselines evaluate the same
rules (zen-engine agrees with the set-based evaluation client by client), a second evaluation with
nothing changed opens and closes nothing, a move re-prioritises every alert of its card, and every
run leaves the book as it was.
"""

import pytest

from alerts.models import Alert, AlertType
from benchmarks.database import book_ensure
from benchmarks.naive_framework import orm_loop_evaluate, sample_client_ids
from benchmarks.registry import Context, scenarios_load
from benchmarks.runner import run_scenario
from framework.selectors import framework_evaluate, framework_version_active

TINY = 200
MINE = ("framework_full", "framework_steady", "framework_incremental", "dashboard", "canvas_move", "framework_scaleout")


@pytest.fixture
def book(settings):
    settings.STEWARD_AFTER_SYNC_TASKS = []
    book_ensure(TINY, log=lambda text: None)


def context(**options) -> Context:
    return Context(size=TINY, runs=1, log=lambda text: None, options={"orm_sample": 20, "zen_sample": 100, **options})


@pytest.mark.django_db
def test_every_framework_scenario_produces_its_figures_and_leaves_no_alert_behind(book):
    registry = scenarios_load()
    assert set(MINE) <= set(registry)
    results = {name: run_scenario(registry[name], context()) for name in MINE}

    for result in results.values():
        assert result.count > 0 and result.seconds > 0 and result.peak_rss_mb > 0
    full = results["framework_full"]
    assert full.count == TINY and full.extra["alerts_opened"] > 0 and full.extra["chunks"] >= 1
    assert full.baseline_seconds > 0 and full.ratio > 0 and full.baseline["sample_count"] == 20
    assert full.extra["zen_engine_sample"] == 100 and full.extra["zen_engine_seconds"] > 0
    assert full.extra["zen_agrees_with_set_based_pct"] == 100.0
    steady = results["framework_steady"].extra
    assert steady["alerts_opened"] == 0 and steady["alerts_closed"] == 0 and steady["alerts_kept"] > 0
    incremental = results["framework_incremental"]
    assert incremental.count == TINY and incremental.extra["p95_ms"] >= incremental.extra["p50_ms"] > 0
    assert incremental.extra["alerts_opened"] > 0  # the changed fixed-rate periods raise alerts
    dashboard = results["dashboard"].extra
    assert dashboard["live_alerts"] >= 1_000 and dashboard["p95_ms"] > 0 and dashboard["filtered_p95_ms"] > 0
    assert results["canvas_move"].count == 50 and results["canvas_move"].ratio > 0
    scaleout = results["framework_scaleout"]
    assert scaleout.extra["chunk_tasks"] >= 1 and scaleout.extra["alerts_opened"] == full.extra["alerts_opened"]
    assert scaleout.extra["workers"] == 2 and scaleout.baseline_seconds > 0 and scaleout.ratio > 0
    # Rolled back or removed: no alert and no stand-in type is left for the next scenario.
    assert not Alert.objects.exists()
    assert not AlertType.objects.filter(key__startswith="bench_").exists()


@pytest.mark.django_db
def test_the_orm_loop_baseline_fires_the_same_rules_as_the_set_based_evaluation(book):
    version = framework_version_active()
    ids = sample_client_ids(40)
    expected = {client_id: set() for client_id in ids}
    for result in framework_evaluate(version=version, client_ids=ids):
        expected[result.client_id].add(result.rule.key)
    assert orm_loop_evaluate(version=version, client_ids=ids) == expected
    assert any(expected.values())


@pytest.mark.django_db
def test_the_filtered_dashboard_page_is_one_where_the_advisor_has_alerts(book):
    from datetime import timedelta

    from django.utils import timezone

    from alerts.models import Quadrant
    from benchmarks.scenarios.dashboard import FILTERED, _advisor, _filtered_path, _top_up

    advisor = _advisor()
    _top_up(50, advisor.pk, advisor.team_id)
    mine = Alert.objects.filter(assigned_to=advisor)
    mine.update(quadrant=Quadrant.UNPLACED, due_date=None)
    assert _filtered_path(advisor) == "/dashboard/?quadrant=unplaced"  # a million clients, no canvas: none due

    soon = timezone.localdate() + timedelta(days=10)
    mine.filter(pk__in=list(mine.values_list("pk", flat=True)[:3])).update(
        quadrant=Quadrant.LATER_ROUTINE, due_date=soon
    )
    assert _filtered_path(advisor) == "/dashboard/?quadrant=later_routine&due=90"

    mine.filter(quadrant=Quadrant.LATER_ROUTINE).update(quadrant=Quadrant.URGENT_SENSITIVE)
    assert _filtered_path(advisor) == FILTERED
