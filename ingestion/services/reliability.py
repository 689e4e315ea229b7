"""Background work that survives its broker: attempts counted in PostgreSQL, dead letters, a reconciler.

Redis holds only messages in flight; PostgreSQL holds what is due. So:
- `task_attempt_begin` counts an attempt before the work starts (committed), and
  `task_attempt_dead_letter` stops work that failed `max_attempts` times: it is never requeued
  until an admin retries it (`task_attempt_retry`).
- `work_reconcile` (the beat task `ingestion.tasks.reconcile_due_work`, every few minutes)
  re-enqueues what PostgreSQL says is due, whatever Redis lost: syncs interrupted part-way
  (a resume cursor, or a run still marked running whose worker is gone) and syncs overdue for their
  schedule. Later steps add their own reconcilers to `settings.STEWARD_RECONCILERS` (follow-up:
  unsent messages), each a dotted path to a function returning how many items it re-enqueued.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from ..models import Source, SyncRun, TaskAttempt
from .sync import LOCK_STALE_AFTER

logger = logging.getLogger(__name__)

SYNC_TASK = "ingestion.tasks.sync_source"
# Attempts of one sync (Celery retries, redeliveries after a dead worker, scheduled runs) before it
# is dead-lettered. With the task's backoff (30 s doubling) that is about an hour of trying.
SYNC_MAX_ATTEMPTS = 8
# A sync is overdue when no run started for this many of its intervals (its beat message was lost).
OVERDUE_AFTER_INTERVALS = 2


def sync_work_key(source_id: int) -> str:
    return f"source:{source_id}"


# --- Attempts and dead letters --------------------------------------------------------------------


def task_attempt_begin(*, task: str, key: str, now: datetime | None = None) -> int:
    """Count one more attempt and commit it before the work starts; returns the attempt number."""
    now = now or timezone.now()
    with transaction.atomic():
        updated = TaskAttempt.objects.filter(task=task, key=key).update(attempts=F("attempts") + 1, last_attempt_at=now)
        if not updated:
            try:
                with transaction.atomic():
                    TaskAttempt.objects.create(task=task, key=key, attempts=1, last_attempt_at=now)
            except IntegrityError:  # a concurrent first attempt created it
                TaskAttempt.objects.filter(task=task, key=key).update(attempts=F("attempts") + 1, last_attempt_at=now)
    return TaskAttempt.objects.values_list("attempts", flat=True).get(task=task, key=key)


def task_attempt_not_counted(*, task: str, key: str) -> None:
    """Take back an attempt that did no work (another run held the source)."""
    TaskAttempt.objects.filter(task=task, key=key, attempts__gt=0).update(attempts=F("attempts") - 1)


def task_attempt_failed(*, task: str, key: str, error: BaseException) -> None:
    TaskAttempt.objects.filter(task=task, key=key).update(last_error=f"{type(error).__name__}: {error}"[:5000])


def sync_attempts_progressed(*, source_id: int) -> None:
    """A sync committed a page: its attempts so far made progress, so they no longer count.

    Called inside the batch's transaction, with the cursor it moves: the bound is on attempts that
    get nowhere. A long sync interrupted more than SYNC_MAX_ATTEMPTS times (a worker killed, a
    deploy) still finishes, while one that fails at the same page every time is still stopped.
    """
    TaskAttempt.objects.filter(task=SYNC_TASK, key=sync_work_key(source_id), attempts__gt=0).update(attempts=0)


def task_attempts_without_progress(*, task: str, key: str) -> int:
    """Attempts counted since the work last succeeded or (a sync) last committed a page."""
    return TaskAttempt.objects.filter(task=task, key=key).values_list("attempts", flat=True).first() or 0


def task_attempt_succeeded(*, task: str, key: str) -> None:
    """The work succeeded: its count starts again from zero next time."""
    TaskAttempt.objects.filter(task=task, key=key).delete()


def task_attempt_dead_letter(*, task: str, key: str, error: BaseException | None = None) -> None:
    """Stop the work: no retry, no reconciling, no schedule, until an admin retries it."""
    updates: dict = {"dead_lettered_at": timezone.now()}
    if error is not None:
        updates["last_error"] = f"{type(error).__name__}: {error}"[:5000]
    TaskAttempt.objects.filter(task=task, key=key, dead_lettered_at__isnull=True).update(**updates)
    logger.error("%s %s dead-lettered after repeated failures", task, key)


def task_attempt_is_dead_lettered(*, task: str, key: str) -> bool:
    return TaskAttempt.objects.filter(task=task, key=key, dead_lettered_at__isnull=False).exists()


def task_attempt_retry_quietly(*, task: str, key: str) -> None:
    """A person asked for the work ("Sync now"): its count starts again, a dead letter is lifted."""
    TaskAttempt.objects.filter(task=task, key=key).update(attempts=0, dead_lettered_at=None)


def task_attempt_retry(*, attempt: TaskAttempt) -> None:
    """An admin retries dead-lettered work: the count starts again and the work is enqueued."""
    TaskAttempt.objects.filter(pk=attempt.pk).update(attempts=0, dead_lettered_at=None)
    if attempt.task == SYNC_TASK and attempt.key.startswith("source:"):
        from ..tasks import sync_source

        source_id = int(attempt.key.removeprefix("source:"))
        transaction.on_commit(lambda: sync_source.delay(source_id, SyncRun.Trigger.MANUAL))


# --- The reconciler -------------------------------------------------------------------------------


def sync_runs_abandoned_close(*, now: datetime | None = None) -> set[int]:
    """Runs still marked running whose worker is gone (the source's lock is free or stale) failed.

    Returns the sources of those runs: their sync was interrupted and is due again.
    """
    now = now or timezone.now()
    live_lock = Q(source__locked_at__gte=now - LOCK_STALE_AFTER) & ~Q(source__lock_token="")
    # Only incremental runs hold the source's lock; webhook and deletion-check runs do not.
    abandoned = SyncRun.objects.filter(
        status=SyncRun.Status.RUNNING, trigger__in=[SyncRun.Trigger.SCHEDULE, SyncRun.Trigger.MANUAL]
    ).exclude(live_lock)
    source_ids = set(abandoned.values_list("source_id", flat=True))
    abandoned.update(status=SyncRun.Status.FAILED, finished_at=now, error="the worker stopped before the run finished")
    return source_ids


def syncs_due_enqueue(*, now: datetime | None = None) -> int:
    """Enqueue the syncs PostgreSQL says are due: interrupted part-way, or overdue for their schedule.

    Never a source whose lock is live (its run is going on), parked for quota, disabled, or
    dead-lettered. Enqueuing one twice is harmless: the second run is a logged no-op.
    """
    from ..tasks import sync_source

    now = now or timezone.now()
    abandoned = sync_runs_abandoned_close(now=now)
    dead = {
        int(key.removeprefix("source:"))
        for key in TaskAttempt.objects.filter(task=SYNC_TASK, dead_lettered_at__isnull=False).values_list(
            "key", flat=True
        )
    }
    candidates = (
        Source.objects.filter(enabled=True)
        .exclude(kind=Source.Kind.FILE)
        .exclude(Q(lock_token__gt="") & Q(locked_at__gte=now - LOCK_STALE_AFTER))
        .exclude(parked_until__gt=now)
        .annotate(last_started=Max("runs__started_at"))
    )
    due = []
    for source in candidates:  # one row per source: a handful
        if source.pk in dead:
            continue
        interrupted = bool(source.resume_cursor) or source.pk in abandoned
        overdue = source.sync_interval_minutes and (
            source.last_started is None
            or source.last_started < now - timedelta(minutes=source.sync_interval_minutes * OVERDUE_AFTER_INTERVALS)
        )
        if interrupted or overdue:
            due.append(source.pk)
    for source_id in due:
        sync_source.delay(source_id, SyncRun.Trigger.SCHEDULE)
    if due:
        logger.info("reconciler re-enqueued the syncs of sources %s", due)
    return len(due)


def work_reconcile() -> dict[str, int]:
    """Run every reconciler named in settings.STEWARD_RECONCILERS; returns what each re-enqueued."""
    done = {}
    for path in settings.STEWARD_RECONCILERS:
        try:
            done[path] = import_string(path)()
        except Exception:  # one broken reconciler must not stop the others
            logger.exception("reconciler %s failed", path)
    return done
