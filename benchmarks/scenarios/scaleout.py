"""The full evaluation scaled out: chunk tasks (client id ranges) run by Celery workers in parallel.

What the nightly `evaluate_all` does: one `evaluate_range` task per 10,000 client ids (a hundred
for a million clients), sent as a group; the run is over when every chunk has reported back. Real
`celery worker` processes against the bench database, Redis database 9 as broker and result
backend; timed with one worker process and with two (the machine has two cores, and PostgreSQL
shares them). Both workers start once, each reading a queue of its own, and serve every run. The
runs commit (the workers have their own connections), so the alerts are removed before each run.

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
def celery_worker(concurrency: int, broker: str, queue: str | None = None):
    """A `celery worker` with `concurrency` processes (reading `queue` alone, when given); yields once
    it answers a ping."""
    environment = {**os.environ, "REDIS_URL": broker, "CELERY_TASK_ALWAYS_EAGER": "false"}
    command = [
        sys.executable, "-m", "celery", "-A", "config", "--quiet", "worker", "--concurrency", str(concurrency),
        "--pool", "prefork", "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
        "--hostname", f"bench-{concurrency}-{os.getpid()}@%h",
        *(["--queues", queue] if queue else []),
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


WORKER_COUNTS = (1, 2)


def _queue(workers: int) -> str:
    return f"bench-scaleout-{workers}"


def _scaleout_setup(context: Context) -> dict:
    facts_ensure(context.log)
    state = {"chunks": list(client_id_chunks()), "clients": Client.objects.filter(deleted_at__isnull=True).count()}
    if context.isolated:
        broker = context.options.get("scaleout_broker", BROKER)
        app.conf.update(broker_url=broker, result_backend=broker, task_always_eager=False)
        _alerts_remove()
        # Both workers once for all runs, each on a queue of its own (an idle worker waits on Redis
        # and uses no core): starting them anew for every run took longer than some runs.
        state["workers"] = contextlib.ExitStack()
        for workers in WORKER_COUNTS:
            state["workers"].enter_context(celery_worker(workers, broker, queue=_queue(workers)))
    return state


def _scaleout_teardown(context: Context, state: dict) -> None:
    if state.get("workers") is not None:
        state["workers"].close()


def _timed_group(chunks: list[tuple[int, int]], queue: str | None) -> tuple[float, int]:
    started = time.perf_counter()
    tasks = group(evaluate_range.s(start, stop).set(**({"queue": queue} if queue else {})) for start, stop in chunks)
    results = tasks.apply_async().get(timeout=3600)
    return time.perf_counter() - started, sum(result["opened"] for result in results)


def _scaleout_run(context: Context, state: dict) -> Measurement:
    chunks = state["chunks"]
    timings, opened = {}, {}
    for workers in WORKER_COUNTS:
        _alerts_remove()
        # Eager, in this process, in the test suite (no workers there).
        queue = _queue(workers) if context.isolated else None
        timings[workers], opened[workers] = _timed_group(chunks, queue)
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
    teardown=_scaleout_teardown,
    needs_clients=True,
)(_scaleout_run)
