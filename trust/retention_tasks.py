"""Celery entry point of the retention job (nightly, scheduled by migration in Celery beat)."""

from celery import shared_task

from .retention import retention_apply


@shared_task(name="trust.retention_apply")
def retention_apply_task() -> list[str]:
    """Apply the privacy register's retention periods; returns what it did, for the task result."""
    return retention_apply().lines()
