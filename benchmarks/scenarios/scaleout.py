"""The full evaluation scaled out: chunk tasks (client id ranges) run by Celery workers in parallel.

What the nightly `evaluate_all` does: one `evaluate_range` task per 10,000 client ids (a hundred
for a million clients), sent as a group; the run is over when every chunk has reported back. Real
`celery worker` processes against the bench database, Redis database 9 as broker and result
backend; timed with one worker process and with two (the machine has two cores, and PostgreSQL
shares them). The runs commit (the workers have their own connections), so the alerts are removed
before each run.

In the test suite (no workers can see its open transaction) the chunk tasks run in this process.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

from celery import group
from django.db import connection

from alerts.evaluation import client_id_chunks
from alerts.models import Alert
from alerts.tasks import evaluate_range
from clients.models import Client
from config.celery import app

from ..registry import Context, Measurement, scenario
from .framework import facts_ensure

BROKER = "redis://127.0.0.1:6379/9"


def _alerts_remove() -> None:
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE alerts_alert, alerts_alertevent CASCADE")
            cursor.execute("VACUUM ANALYZE alerts_alert")
    else:
        Alert.objects.all().delete()


@contextlib.contextmanager
def celery_worker(concurrency: int, broker: str):
    """A `celery worker` with `concurrency` processes; yields once it answers a ping."""
    environment = {**os.environ, "REDIS_URL": broker, "CELERY_TASK_ALWAYS_EAGER": "false"}
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency", str(concurrency),
        "--pool", "prefork", "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
        "--hostname", f"bench-{concurrency}-{os.getpid()}@%h",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=environment)  # noqa: S603 - our own app
    try:
        for _attempt in range(600):
            replies = app.control.ping(timeout=0.5) or []
            if sum(1 for reply in replies for name in reply if name.startswith(f"bench-{concurrency}-")):
                break
        else:
            raise RuntimeError("the Celery worker did not start")
        yield
    finally:
        process.terminate()
        process.wait(timeout=60)


def _scaleout_setup(context: Context) -> dict:
    facts_ensure(context.log)
    if context.isolated:
        broker = context.options.get("scaleout_broker", BROKER)
        app.conf.update(broker_url=broker, result_backend=broker, task_always_eager=False)
        _alerts_remove()
    return {"chunks": list(client_id_chunks()), "clients": Client.objects.filter(deleted_at__isnull=True).count()}


def _timed_group(chunks: list[tuple[int, int]]) -> tuple[float, int]:
    started = time.perf_counter()
    results = group(evaluate_range.s(start, stop) for start, stop in chunks).apply_async().get(timeout=3600)
    return time.perf_counter() - started, sum(result["opened"] for result in results)


def _scaleout_run(context: Context, state: dict) -> Measurement:
    chunks = state["chunks"]
    timings, opened = {}, {}
    for workers in (1, 2):
        _alerts_remove()
        if context.isolated:
            with celery_worker(workers, app.conf.broker_url):
                timings[workers], opened[workers] = _timed_group(chunks)
        else:
            timings[workers], opened[workers] = _timed_group(chunks)  # eager, in this process
    _alerts_remove()
    return Measurement(
        seconds=timings[2],
        count=state["clients"],
        extra={
            "one_worker_seconds": round(timings[1], 2),
            "two_workers_seconds": round(timings[2], 2),
            "speed_up": round(timings[1] / timings[2], 2) if timings[2] else None,
            "chunk_tasks": len(chunks),
            "alerts_opened": opened[2],
        },
    )


scenario(
    name="framework_scaleout",
    description=(
        "The full evaluation as the nightly task runs it: one Celery task per 10,000 client ids, sent as "
        "a group to real `celery worker` processes; with one worker process and with two."
    ),
    unit="clients",
    setup=_scaleout_setup,
    needs_clients=True,
)(_scaleout_run)
