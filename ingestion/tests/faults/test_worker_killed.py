"""A Celery worker killed with SIGKILL mid-sync, at seeded points, loses and duplicates nothing.

Real processes: `celery -A config worker` children on Redis (db 7, or STEWARD_FAULTS_REDIS_URL),
the test's PostgreSQL database, and a fake HubSpot of 10,000 contacts (100,000 under `make soak`)
in this process. The fault script kills the worker right after the fake served page k; the test
then checks the cursor never ran ahead of the data committed with it, lets the dead worker's lock
go stale (as ten minutes would), and asks the reconciler (the beat task) to pick the sync up again
on a fresh worker. At the end the unified view equals that of a clean sync of the same source.
"""

import json
import os
import threading
import time

import pytest
from django.utils import timezone

from ingestion.demo import crm_source_configure
from ingestion.fake_sources.faults import FaultScript
from ingestion.fake_sources.generator import dutch_contacts
from ingestion.fake_sources.hubspot import FakeHubSpot
from ingestion.fake_sources.server import running
from ingestion.models import Source, SourceRecord, SyncRun
from ingestion.services.sync import LOCK_STALE_AFTER, source_sync

from .harness import (
    SOAK,
    WorkerRelay,
    database_url,
    redis_flush,
    seeded_points,
    send_task,
    snapshot_difference,
    unified_snapshot,
    unified_view_clear,
    wait_until,
    with_unique_emails,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REDIS_URL = os.environ.get("STEWARD_FAULTS_REDIS_URL", "redis://127.0.0.1:6379/7")
SIZE = 100_000 if SOAK else 10_000
KILLS = 12 if SOAK else 3
SEED = int(os.environ.get("STEWARD_FAULTS_SEED", "20261123"))
PAGE = 100  # HubSpot's page size


def committed_ids_match_cursor(source: Source, all_ids: list[str]) -> list[str]:
    """Findings if the resume cursor is ahead of (or behind) the records committed with it."""
    stored = set(SourceRecord.objects.filter(source_key=source.key).values_list("record_id", flat=True))
    if not source.resume_cursor:
        # Nothing checkpointed: a first full sync must then have committed nothing either.
        return [] if not stored else [f"no cursor but {len(stored)} records committed"]
    state = json.loads(source.resume_cursor)
    assert state["mode"] == "list" and not state["archived"], state
    before_cursor = {record_id for record_id in all_ids if int(record_id) < int(state["after"])}
    findings = []
    if before_cursor - stored:
        findings.append(f"cursor after {state['after']} but {len(before_cursor - stored)} records before it missing")
    if stored - before_cursor:
        findings.append(f"{len(stored - before_cursor)} records committed beyond the cursor {state['after']}")
    return findings


def test_a_worker_killed_at_seeded_pages_resumes_to_exactly_the_clean_result(team, settings):
    settings.STEWARD_AFTER_SYNC_TASKS = []  # as in the workers (worker_settings)
    redis_flush(REDIS_URL)
    contacts = with_unique_emails(dutch_contacts(SIZE, seed=SEED % 1000))
    fake = FakeHubSpot(contacts)
    script = FaultScript(seed=SEED).attach(fake)
    started = time.monotonic()
    points = seeded_points(SEED, KILLS, 2, SIZE // PAGE - 1)
    # One worker per kill and one to finish, each loaded while the one before works.
    relay = WorkerRelay(len(points) + 1, redis_url=REDIS_URL, database_url=database_url())
    with relay, running(fake) as base_url:
        source = crm_source_configure(base_url=base_url, team=team)
        all_ids = fake.contact_ids()
        unified_view_clear(source)  # a run interrupted before (--reuse-db) left nothing behind

        # The reference: a clean sync of the same source, in this process.
        clean = source_sync(source_id=source.pk)
        assert clean.status == SyncRun.Status.SUCCEEDED and clean.created == SIZE
        expected = unified_snapshot()
        unified_view_clear(source)
        clean_seconds = time.monotonic() - started

        # The run under fire: killed right after the fake served each seeded page.
        current: dict = {}
        killed = threading.Event()

        def kill_worker(server, point):
            current["worker"].kill()
            current["killed_at_page"] = point
            killed.set()

        for point in points:
            script.after_page(point, lambda server, point=point: kill_worker(server, point))
        script.pages_served = 0
        findings = []
        try:
            current["worker"] = relay.start_next()
            send_task(REDIS_URL, "ingestion.tasks.sync_source", source.pk, SyncRun.Trigger.SCHEDULE)
            for _ in points:
                assert killed.wait(timeout=120), f"no kill happened; worker log:\n{current['worker'].log()}"
                killed.clear()
                source.refresh_from_db()
                findings += committed_ids_match_cursor(source, all_ids)
                # Ten minutes pass: the dead worker's lock goes stale. Then beat runs the reconciler.
                Source.objects.filter(pk=source.pk).update(locked_at=timezone.now() - LOCK_STALE_AFTER * 2)
                current["worker"] = relay.start_next()
                send_task(REDIS_URL, "ingestion.tasks.reconcile_due_work")
            wait_until(
                lambda: SyncRun.objects.filter(source=source, status=SyncRun.Status.SUCCEEDED).exists(),
                timeout=600 if SOAK else 120,
                interval=0.5,
                what=f"the resumed sync to finish; worker log:\n{current['worker'].log()}",
            )
        finally:
            relay.stop()
        actual = unified_snapshot()

    findings += snapshot_difference(expected, actual)
    runs = list(SyncRun.objects.filter(source=source).values_list("status", flat=True))
    print(
        f"\nworker killed {len(points)} times at pages {points} of {SIZE // PAGE}; "
        f"{len(expected['records'])} records compared; runs {runs}; findings: {len(findings)}; "
        f"clean sync {clean_seconds:.1f}s, total {time.monotonic() - started:.1f}s"
    )
    assert findings == [], "\n".join(findings)
    assert runs.count(SyncRun.Status.SUCCEEDED) == 1
    # Every interrupted run was closed by the reconciler, none is left "running".
    assert SyncRun.Status.RUNNING not in runs
    source.refresh_from_db()
    assert source.resume_cursor == "" and source.watermark is not None
