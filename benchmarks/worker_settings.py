"""Settings of the Celery workers `ingestion_scale_out` starts: Steward's own, with two changes.

The steps after a sync are off, as in every benchmark (`benchmarks.__main__._django_setup`), and
the workers read a queue of their own, so nothing else waiting in the broker is run and timed.
"""

from config.settings.base import *  # noqa: F403 - the settings being measured

STEWARD_AFTER_SYNC_TASKS: list[str] = []
CELERY_TASK_DEFAULT_QUEUE = "bench_ingest"
