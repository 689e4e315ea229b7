"""A full sync split into ranges that Celery workers read side by side.

One sync is one process: it fetches, maps, matches and writes one batch after another, and on a
machine with more cores than that process can use, a large first load of a CRM is slower than it
has to be. Here the source's record space is split into ranges (the connector says how:
`Connector.partition_cursors`; HubSpot splits its contact ids), and each range is read by a worker
of its own (`tasks.sync_source_partition`, dispatched as a group).

The engine's guarantees hold per range: every batch is one transaction that writes its records and
the range's resume cursor together (`SyncRunPart.cursor`), so a worker killed mid-range resumes
exactly after its last committed batch when the task is delivered again (acks_late). The run holds
the source's lock (a conditional UPDATE) from the start until its last range finishes: every batch
refreshes it and checks it is still the run's (a batch that finds its lock taken over rolls back).
The range that finishes last moves the watermark and releases the lock.

What differs from one process: records of ranges written at the same time are not matched with each
other (as records of one batch are not), so two records of one person in two ranges of a first load
become two clients where one process would have linked the second to the first (a duplicate the
review queue and a later sync see like any other).
"""

import logging

from django.db import transaction
from django.utils import timezone

from ..connectors.base import SourceError
from ..models import Source, SyncRun, SyncRunPart
from .sync import (
    PageOutcome,
    _pages_fetched_ahead,
    _pages_sync,
    _run_failed,
    connector_for,
    mapping_rules,
    source_lock_acquire,
    source_lock_release,
)

logger = logging.getLogger(__name__)


class LockLost(SourceError):
    """Another run took the source over (this run's lock went stale): stop without writing."""

    retryable = False


def source_sync_partitioned_start(
    *, source_id: int, parts: int, trigger: str = SyncRun.Trigger.MANUAL, user=None, connector=None
) -> SyncRun:
    """Claim the source and plan a full sync in up to `parts` ranges; returns the run.

    The run's ranges (`run.parts`) are then read by `source_sync_partition`, one call per range,
    in any order and side by side. A source that cannot be split gets one range. A run that finds
    the source busy is SKIPPED, as a plain sync is.
    """
    token = source_lock_acquire(source_id=source_id)
    source = Source.objects.get(pk=source_id)
    if token is None:
        return SyncRun.objects.create(
            source=source, trigger=trigger, status=SyncRun.Status.SKIPPED, finished_at=timezone.now(), triggered_by=user
        )
    run = SyncRun.objects.create(source=source, trigger=trigger, triggered_by=user, cursor_before="")
    own_connector = connector is None
    try:
        connector = connector or connector_for(source)
        cursors = connector.partition_cursors(parts) or [""]
        SyncRunPart.objects.bulk_create(
            SyncRunPart(run=run, index=index, start_cursor=cursor or "", lock_token=token)
            for index, cursor in enumerate(cursors)
        )
    except SourceError as error:
        _run_failed(source, run, error)
        source_lock_release(source_id=source_id, token=token)
        raise
    finally:
        if own_connector and connector is not None and hasattr(connector, "close"):
            connector.close()
    return run


def source_sync_partition(*, run_id: int, index: int, connector=None) -> SyncRunPart:
    """Read one range of a partitioned sync, from where it stopped; finish the run if it is the last.

    Delivered twice (a worker died), it resumes after the range's last committed batch; a range
    already finished does nothing. Retryable source errors are raised for the task to retry (the
    run stays open); any other error fails the run and releases the source.
    """
    part = SyncRunPart.objects.select_related("run__source").get(run_id=run_id, index=index)
    run, source = part.run, part.run.source
    if part.finished_at is not None or run.status != SyncRun.Status.RUNNING:
        return part
    high_water = {"value": part.high_water}

    def checkpoint(next_cursor: str, outcome: PageOutcome) -> None:
        now = timezone.now()
        # Still ours? The same conditional UPDATE that keeps the lock fresh for a plain sync.
        if not Source.objects.filter(pk=source.pk, lock_token=part.lock_token).update(locked_at=now):
            raise LockLost(f"the lock on {source.key} was taken over; range {index} stops")
        high_water["value"] = max(filter(None, [high_water["value"], outcome.high_water]), default=None)
        SyncRunPart.objects.filter(pk=part.pk).update(
            cursor=next_cursor, high_water=high_water["value"], finished_at=None if next_cursor else now
        )

    own_connector = connector is None
    try:
        connector = connector or connector_for(source)
        start = part.cursor or part.start_cursor or None
        _pages_sync(
            source=source,
            run=run,
            pages=_pages_fetched_ahead(connector, start, None),
            rules=mapping_rules(source),
            checkpoint=checkpoint,
        )
    except SourceError as error:
        if error.retryable and not isinstance(error, LockLost):
            raise  # the task retries this range; the run stays open
        _partitioned_run_failed(run, part.lock_token, error)
        raise
    finally:
        if own_connector and connector is not None and hasattr(connector, "close"):
            connector.close()
    partitioned_run_finish_if_done(run_id=run_id)
    part.refresh_from_db()
    return part


def partitioned_run_finish_if_done(*, run_id: int) -> SyncRun:
    """When every range has finished: move the watermark, mark the run succeeded, release the lock.

    Each range calls this after its last batch; the run's row lock makes exactly one of them
    finish it (ranges finishing together wait for each other here, for a moment).
    """
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().select_related("source").get(pk=run_id)
        parts = list(run.parts.all())
        if run.status != SyncRun.Status.RUNNING or any(part.finished_at is None for part in parts):
            return run
        source, now = run.source, timezone.now()
        watermark = max(filter(None, [source.watermark, *(part.high_water for part in parts)]), default=None)
        Source.objects.filter(pk=source.pk).update(
            watermark=watermark,
            resume_cursor="",
            resume_since=None,
            resume_high_water=None,
            health=Source.Health.HEALTHY,
            last_error="",
            last_success_at=now,
            consecutive_failures=0,
            parked_until=None,
        )
        SyncRun.objects.filter(pk=run.pk).update(
            status=SyncRun.Status.SUCCEEDED, finished_at=now, cursor_after=watermark.isoformat() if watermark else ""
        )
        source_lock_release(source_id=source.pk, token=parts[0].lock_token if parts else "")
    logger.info("partitioned sync %s of %s finished: %s ranges", run_id, source.key, len(parts))
    run.refresh_from_db()
    return run


def _partitioned_run_failed(run: SyncRun, token: str, error: SourceError) -> None:
    _run_failed(run.source, run, error)
    source_lock_release(source_id=run.source_id, token=token)
