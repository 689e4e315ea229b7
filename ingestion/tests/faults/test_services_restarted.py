"""PostgreSQL crash-restarted and Redis emptied and restarted mid-sync: nothing is lost.

The test starts its own PostgreSQL cluster (initdb/pg_ctl in a temporary directory, on a free port)
and its own redis-server: the machine's shared services are never restarted. The schema and the
configured source are copied from the test database with pg_dump; a Celery worker runs the sync
against the throwaway cluster, which is restarted with `pg_ctl restart -m immediate` (a crash: no
checkpoint, every connection cut) right after the fake served a seeded page. Redis is then emptied
and restarted, so the task's message is gone: only PostgreSQL knows the sync is unfinished, and the
reconciler (the beat task) re-enqueues it from there. Later Redis is restarted again while a worker
is mid-sync. The result must equal a clean sync.
"""

import json
import os
import shutil
import subprocess
import threading
import time

import pytest
from django.conf import settings

from ingestion.demo import crm_source_configure
from ingestion.fake_sources.faults import FaultScript
from ingestion.fake_sources.generator import dutch_contacts
from ingestion.fake_sources.hubspot import FakeHubSpot
from ingestion.fake_sources.server import running
from ingestion.models import SyncRun
from ingestion.services.sync import source_sync

from .harness import (
    PG_BIN,
    PYTHON,
    ROOT,
    SOAK,
    CeleryWorker,
    ThrowawayPostgres,
    ThrowawayRedis,
    seeded_points,
    send_task,
    snapshot_difference,
    unified_snapshot,
    wait_until,
    with_unique_emails,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SIZE = 50_000 if SOAK else 5_000
SEED = int(os.environ.get("STEWARD_FAULTS_SEED", "20261123")) + 1

needs_binaries = pytest.mark.skipif(
    not (PG_BIN / "initdb").exists() or not shutil.which("redis-server"),
    reason=f"needs initdb in {PG_BIN} and redis-server",
)

SNAPSHOT_SCRIPT = """
import json, django
django.setup()
from ingestion.tests.faults.harness import unified_snapshot
from ingestion.models import Source, SyncRun, TaskAttempt
source = Source.objects.get()
print(json.dumps({
    "snapshot": unified_snapshot(),
    "runs": list(SyncRun.objects.values_list("status", flat=True)),
    "resume_cursor": source.resume_cursor,
    "dead_letters": TaskAttempt.objects.filter(dead_lettered_at__isnull=False).count(),
}))
"""


def in_throwaway(pg: ThrowawayPostgres, script: str) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "ingestion.tests.faults.worker_settings", "DATABASE_URL": pg.url}
    result = subprocess.run(
        [PYTHON, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def copy_test_database(pg: ThrowawayPostgres) -> None:
    """Schema and rows (the team, the configured source) of the test database, into the throwaway one."""
    db = settings.DATABASES["default"]
    pg.psql("CREATE DATABASE steward_faults")
    dump = subprocess.run(
        [
            str(PG_BIN / "pg_dump"),
            "-h",
            db["HOST"] or "127.0.0.1",
            "-p",
            str(db["PORT"] or 5432),
            "-U",
            db["USER"] or "postgres",
            "--no-owner",
            "--no-privileges",
            db["NAME"],
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    subprocess.run(
        [
            str(PG_BIN / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(pg.port),
            "-U",
            "postgres",
            "-d",
            "steward_faults",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
        ],
        input=dump.stdout,
        capture_output=True,
        check=True,
        timeout=120,
    )


@needs_binaries
def test_postgres_crash_restart_and_redis_loss_mid_sync_lose_nothing(team):
    started = time.monotonic()
    fake = FakeHubSpot(with_unique_emails(dutch_contacts(SIZE, seed=SEED % 1000)))
    script = FaultScript(seed=SEED).attach(fake)
    pg, redis_server = ThrowawayPostgres(), ThrowawayRedis()
    # Loaded while the cluster starts and the reference sync runs; it takes work when told.
    workers = [CeleryWorker(redis_url=redis_server.url, database_url=pg.url, name="pg").standby()]
    events = {name: threading.Event() for name in ("pg_restarted", "redis_restarted")}
    try:
        pg.start()
        redis_server.start()
        with running(fake) as base_url:
            source = crm_source_configure(base_url=base_url, team=team)
            copy_test_database(pg)
            clean = source_sync(source_id=source.pk)  # the reference, in the test database
            assert clean.status == SyncRun.Status.SUCCEEDED
            expected = unified_snapshot()

            pages = SIZE // 100
            crash_at, redis_at = seeded_points(SEED, 2, pages // 4, pages - 2)

            def crash_postgres(server):
                pg.restart_immediately()
                events["pg_restarted"].set()

            def restart_redis(server):
                redis_server.restart()
                events["redis_restarted"].set()

            script.pages_served = 0
            script.after_page(crash_at, crash_postgres)
            workers[-1].start()
            send_task(redis_server.url, "ingestion.tasks.sync_source", source.pk, SyncRun.Trigger.SCHEDULE)
            assert events["pg_restarted"].wait(timeout=180), workers[-1].log()
            # The worker's run broke off with the connection; its message is gone with Redis.
            redis_server.restart()
            # Ten minutes pass: the broken run's lock goes stale; beat runs the reconciler.
            pg.psql("UPDATE ingestion_source SET locked_at = now() - interval '1 hour'", "steward_faults")
            served_before = script.pages_served
            script.after_page(served_before + (redis_at - crash_at) % 10 + 3, restart_redis)
            send_task(redis_server.url, "ingestion.tasks.reconcile_due_work")
            assert events["redis_restarted"].wait(timeout=180), workers[-1].log()
            # The worker runs on through a broker restart; the reconciler is asked again in case.
            state = wait_until(
                lambda: _finished(pg, redis_server),
                timeout=600 if SOAK else 240,
                interval=2,
                what="the sync to finish on the throwaway cluster",
            )
    finally:
        for worker in workers:
            worker.stop()
        logs = workers[-1].log() if workers else ""
        redis_server.stop()
        result = in_throwaway(pg, SNAPSHOT_SCRIPT) if pg.data.exists() else None
        pg.stop()
    assert result is not None, logs
    findings = snapshot_difference(expected, result["snapshot"])
    print(
        f"\nPostgreSQL crash-restarted after page {crash_at}, Redis emptied and restarted twice; "
        f"{len(expected['records'])} records compared; runs {result['runs']}; findings: {len(findings)}; "
        f"{time.monotonic() - started:.1f}s"
    )
    assert findings == [], "\n".join(findings) + logs
    assert state and result["resume_cursor"] == "" and result["dead_letters"] == 0
    assert SyncRun.Status.SUCCEEDED in result["runs"] and SyncRun.Status.RUNNING not in result["runs"]


_last_reconcile = [time.monotonic()]


def _finished(pg: ThrowawayPostgres, redis_server: ThrowawayRedis) -> bool:
    try:
        done = pg.psql("SELECT count(*) FROM ingestion_syncrun WHERE status = 'succeeded'", "steward_faults").strip()
    except subprocess.CalledProcessError:
        return False
    if done == "1":
        return True
    # Nothing running any more (the broker restart may have cost the message): reconcile again.
    running_now = pg.psql(
        "SELECT count(*) FROM ingestion_source WHERE lock_token <> '' AND locked_at > now() - interval '10 minutes'",
        "steward_faults",
    ).strip()
    if running_now == "0" and time.monotonic() - _last_reconcile[0] > 15:
        _last_reconcile[0] = time.monotonic()
        send_task(redis_server.url, "ingestion.tasks.reconcile_due_work")
    return False
