"""Celery entry points of insights: rebuilding the summary table (django-celery-beat, migration 0002)."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from .services import response_facts_refresh, week_start

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
