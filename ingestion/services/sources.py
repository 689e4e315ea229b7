"""Configuring sources: credentials and schedules."""

import json

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from ..models import Source


def source_credentials_set(*, source: Source, credentials: dict) -> None:
    """Store credentials encrypted; they are never shown back or logged."""
    source.credentials = json.dumps(credentials) if credentials else None
    source.save(update_fields=["credentials"])


@transaction.atomic
def source_schedule_save(*, source: Source) -> None:
    """Keep the source's periodic tasks in django-celery-beat in step with its settings.

    Each pullable source gets an incremental sync every `sync_interval_minutes` and a nightly
    deletion check; both show (and can be paused) in Django admin under Periodic tasks.
    """
    pullable = source.kind != Source.Kind.FILE
    sync_name, reconcile_name = f"Sync {source.key}", f"Deletion check {source.key}"
    if not pullable or not source.enabled or not source.sync_interval_minutes:
        PeriodicTask.objects.filter(name__in=[sync_name, reconcile_name]).update(enabled=False)
        return
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=source.sync_interval_minutes, period=IntervalSchedule.MINUTES
    )
    PeriodicTask.objects.update_or_create(
        name=sync_name,
        defaults={
            "task": "ingestion.tasks.sync_source",
            "interval": interval,
            "crontab": None,
            "args": json.dumps([source.pk]),
            "enabled": True,
        },
    )
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="30",
        hour="2",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone="Europe/Amsterdam",
    )
    PeriodicTask.objects.update_or_create(
        name=reconcile_name,
        defaults={
            "task": "ingestion.tasks.reconcile_source_deletions",
            "crontab": nightly,
            "interval": None,
            "args": json.dumps([source.pk]),
            "enabled": True,
        },
    )
