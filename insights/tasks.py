"""Celery entry points of insights: rebuilding the summary tables (django-celery-beat, migrations 0002
and 0004), and the refresh a back-office user asks for on the page."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from .services import response_facts_refresh, response_weeks_refresh, retention_snapshots_refresh, week_start

# Hourly: the cohorts still moving (alerts raised in the last five weeks get most of their responses
# then). Nightly: the year shown at most on the page, so late responses and resolutions land too.
RECENT_WEEKS = 5
YEAR_WEEKS = 53


def _since(weeks: int):
    return week_start(timezone.localdate()) - timedelta(weeks=weeks)


@shared_task(acks_late=True)
def refresh_recent_response_facts() -> dict:
    report = response_facts_refresh(since=_since(RECENT_WEEKS))
    return {"alerts": report.alerts, "rows": report.rows, "seconds": round(report.seconds, 2)}


@shared_task(acks_late=True)
def refresh_response_facts() -> dict:
    report = response_facts_refresh(since=_since(YEAR_WEEKS))
    return {"alerts": report.alerts, "rows": report.rows, "seconds": round(report.seconds, 2)}


@shared_task(acks_late=True)
def refresh_retention_snapshots() -> dict:
    return {"snapshots": retention_snapshots_refresh()}


@shared_task(acks_late=True)
def refresh_insights() -> dict:
    """On request: the recent weeks' response facts, the year's weekly sums (from the facts as they
    are: cheap, and it fills the sums of a fresh install) and the retention snapshots."""
    recent = refresh_recent_response_facts()
    return {**recent, "weeks": response_weeks_refresh(since=_since(YEAR_WEEKS)), **refresh_retention_snapshots()}
