"""Celery entry points for syncs. Thin: they take ids, call one service and own their retries."""

import logging
import threading

from celery import group, shared_task
from django.conf import settings
from django.db import connection

from .connectors.base import QuotaExhausted, RateLimited, TransientSourceError
from .models import Source, SyncRun
from .services import reliability, sync, sync_partitions

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6


def _backoff_seconds(attempt: int, error: Exception) -> float:
    """Exponential backoff (30 s, 60 s, 2 min, ...) but never sooner than the source asked."""
    asked = getattr(error, "retry_after_seconds", None) or 0
    return max(asked, 30 * 2**attempt)


@shared_task(bind=True, max_retries=MAX_ATTEMPTS, acks_late=True)
def sync_source(self, source_id: int, trigger: str = SyncRun.Trigger.SCHEDULE, user_id: int | None = None):
    """One incremental sync; a retry resumes from the last committed page.

    Attempts are counted in PostgreSQL (`TaskAttempt`), not only in the message: past
    SYNC_MAX_ATTEMPTS the sync is dead-lettered and stops until an admin retries it (a "Sync now"
    by a person counts as that), whether it failed, crashed or took its worker down every time.
    """
    from django.contrib.auth import get_user_model

    task, key = reliability.SYNC_TASK, reliability.sync_work_key(source_id)
    if trigger == SyncRun.Trigger.MANUAL:
        reliability.task_attempt_retry_quietly(task=task, key=key)
    elif reliability.task_attempt_is_dead_lettered(task=task, key=key):
        logger.info("sync of source %s not started: it is dead-lettered until an admin retries it", source_id)
        return None
    attempt = reliability.task_attempt_begin(task=task, key=key)
    if attempt > reliability.SYNC_MAX_ATTEMPTS:
        reliability.task_attempt_dead_letter(task=task, key=key)
        return None
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    try:
        run = sync.source_sync(source_id=source_id, trigger=trigger, user=user)
    except (RateLimited, TransientSourceError) as error:
        reliability.task_attempt_failed(task=task, key=key, error=error)
        if reliability.task_attempts_without_progress(task=task, key=key) >= reliability.SYNC_MAX_ATTEMPTS:
            reliability.task_attempt_dead_letter(task=task, key=key, error=error)
            return None
        if self.request.is_eager:
            return None  # recorded on the run and the source; the next scheduled run resumes it
        raise self.retry(exc=error, countdown=_backoff_seconds(self.request.retries, error)) from error
    except QuotaExhausted:
        reliability.task_attempt_not_counted(task=task, key=key)
        return None  # the source is parked until its quota resets; the schedule picks it up then
    except Exception as error:
        reliability.task_attempt_failed(task=task, key=key, error=error)
        if reliability.task_attempts_without_progress(task=task, key=key) >= reliability.SYNC_MAX_ATTEMPTS:
            reliability.task_attempt_dead_letter(task=task, key=key, error=error)
        raise
    if run.status == SyncRun.Status.SKIPPED:
        reliability.task_attempt_not_counted(task=task, key=key)
    else:
        reliability.task_attempt_succeeded(task=task, key=key)
    return run.pk


def sync_source_enqueue(*, source_id: int, user_id: int | None = None) -> None:
    """Start a "Sync now": on a worker, or (demo, no broker) in a thread so the page shows progress."""
    if settings.CELERY_TASK_ALWAYS_EAGER and settings.STEWARD_SYNC_IN_THREAD_WHEN_EAGER:
        thread = threading.Thread(
            target=_sync_in_thread, args=(source_id, user_id), name=f"sync-{source_id}", daemon=True
        )
        thread.start()
        # Most syncs of a demo source finish in well under a second: wait that long, so the page
        # after the redirect already shows the new run (or its progress) rather than the last one.
        thread.join(timeout=1.0)
        return
    sync_source.delay(source_id, SyncRun.Trigger.MANUAL, user_id)


def _sync_in_thread(source_id: int, user_id: int | None) -> None:
    try:
        sync_source.apply(args=(source_id, SyncRun.Trigger.MANUAL, user_id))
    finally:
        connection.close()  # the thread's own database connection


@shared_task(bind=True, max_retries=MAX_ATTEMPTS, acks_late=True)
def sync_source_records(self, source_id: int, record_ids: list[str]):
    """A targeted sync of the records a webhook named."""
    try:
        return sync.source_records_sync(source_id=source_id, record_ids=record_ids).pk
    except (RateLimited, TransientSourceError) as error:
        if self.request.is_eager:
            return None
        raise self.retry(exc=error, countdown=_backoff_seconds(self.request.retries, error)) from error


@shared_task(acks_late=True)
def reconcile_source_deletions(source_id: int):
    """Nightly: records gone from the source are soft-deleted here."""
    return sync.source_reconcile_deletions(source_id=source_id).pk


@shared_task
def sync_all_sources():
    """Enqueue a sync of every enabled pullable source (a fallback schedule for beat)."""
    for source_id in Source.objects.filter(enabled=True).exclude(kind=Source.Kind.FILE).values_list("pk", flat=True):
        sync_source.delay(source_id, SyncRun.Trigger.SCHEDULE)


@shared_task
def reconcile_due_work():
    """Every few minutes (beat): re-enqueue what PostgreSQL says is due, whatever Redis lost."""
    return reliability.work_reconcile()


# --- A full sync in ranges, read by several workers (services/sync_partitions.py) ----------------


@shared_task(acks_late=True)
def sync_source_partitioned(source_id: int, parts: int = 2, trigger: str = SyncRun.Trigger.MANUAL):
    """Plan a full sync in `parts` ranges and hand each range to a worker (a Celery group)."""
    run = sync_partitions.source_sync_partitioned_start(source_id=source_id, parts=parts, trigger=trigger)
    if run.status == SyncRun.Status.RUNNING:
        indexes = list(run.parts.values_list("index", flat=True))
        group(sync_source_partition.s(run.pk, index) for index in indexes).apply_async()
    return run.pk


@shared_task(bind=True, max_retries=MAX_ATTEMPTS, acks_late=True)
def sync_source_partition(self, run_id: int, index: int):
    """One range of a partitioned sync; delivered again after a crash, it resumes where it stopped."""
    try:
        return sync_partitions.source_sync_partition(run_id=run_id, index=index).pk
    except (RateLimited, TransientSourceError) as error:
        if self.request.is_eager:
            raise
        raise self.retry(exc=error, countdown=_backoff_seconds(self.request.retries, error)) from error
