"""Celery tasks of trust (Celery's autodiscovery imports this module); each part keeps its own."""

from .retention_tasks import retention_apply_task  # noqa: F401 - the nightly retention job
