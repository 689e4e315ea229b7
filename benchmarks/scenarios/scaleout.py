"""The full evaluation scaled out: chunk tasks (client id ranges) run by Celery workers in parallel.

What the nightly `evaluate_all` does: one `evaluate_range` task per 10,000 client ids (a hundred
for a million clients), sent as a group; the run is over when every chunk has reported back. Real
`celery worker` processes against the bench database, Redis database 9 as broker and result
backend; timed with one worker process and with two (the machine has two cores, and PostgreSQL
shares them). Both workers start once, each reading a queue of its own, and serve every run. The
timed runs use the two-process worker; the one-process worker runs once, as the baseline, so the
ratio is the speed-up of the second process. The runs commit (the workers have their own
connections), so the alerts are removed before and after each.

In the test suite (no workers can see its open transaction) the chunk tasks run in this process.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

from celery import group

from alerts.evaluation import client_id_chunks
from alerts.tasks import evaluate_range
from clients.models import Client
from config.celery import app

from ..registry import Baseline, Context, Measurement, scenario
from .framework import alerts_clear, facts_ensure

BROKER = "redis://127.0.0.1:6379/9"


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
        alerts_clear()
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
    """Two worker processes: the timed runs (their median is the figure)."""
    seconds, opened = _timed_on(context, state, workers=2)
    state["opened"] = opened
    return Measurement(
        seconds=seconds,
        count=state["clients"],
        extra={"workers": 2, "chunk_tasks": len(state["chunks"]), "alerts_opened": opened},
    )


def _scaleout_baseline(context: Context, state: dict) -> Baseline:
    """One worker process, once: what the second worker is compared with.

    Measured once, like every baseline of the harness, not three times: a one-worker run at 100,000
    clients takes about 18 s, and two more of them were a tenth of `make bench`'s ten minutes.
    """
    seconds, opened = _timed_on(context, state, workers=1)
    if opened != state.get("opened", opened):
        raise RuntimeError(f"one worker opened {opened} alerts, two workers {state['opened']}")
    return Baseline(
        seconds=seconds,
        sample_count=state["clients"],
        sample_seconds=seconds,
        method="the same chunk tasks run by one worker process (measured once)",
    )


def _timed_on(context: Context, state: dict, *, workers: int) -> tuple[float, int]:
    """The whole book's chunk tasks on the worker with `workers` processes, from no alerts."""
    alerts_clear()
    # Eager, in this process, in the test suite (no workers there).
    queue = _queue(workers) if context.isolated else None
    try:
        return _timed_group(state["chunks"], queue)
    finally:
        alerts_clear()


scenario(
    name="framework_scaleout",
    description=(
        "The full evaluation as the nightly task runs it: one Celery task per 10,000 client ids, sent as "
        "a group to real `celery worker` processes: timed with two worker processes; baseline: one. "
        "Ratio = how much faster two workers are."
    ),
    unit="clients",
    setup=_scaleout_setup,
    teardown=_scaleout_teardown,
    baseline=_scaleout_baseline,
    needs_clients=True,
)(_scaleout_run)
