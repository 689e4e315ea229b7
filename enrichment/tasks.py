"""Celery entry points for enrichment. Thin: they take ids, call one service, return a summary.

After a sync page commits, ingestion hands the changed clients on to the tasks listed in
settings.STEWARD_AFTER_SYNC_TASKS, each called as `task.delay(sorted_client_ids)`:
"enrichment.tasks.refresh_client_facts" is this step's entry there. The nightly run over the whole
book and the expiry of confirmation links are django-celery-beat periodic tasks (migration 0003).
"""

from celery import shared_task

from .services import facts_refresh
from .services.confirmations import confirmation_requests_expire


@shared_task(acks_late=True, max_retries=3, default_retry_delay=60)
def refresh_client_facts(client_ids: list[int]) -> dict:
    """Derive the facts of these clients again (e.g. those a sync page changed). Idempotent."""
    report = facts_refresh(client_ids=client_ids)
    return {"clients": report.clients, "failures": report.failures, "seconds": round(report.seconds, 2)}


@shared_task(acks_late=True)
def refresh_all_facts() -> dict:
    """The nightly run over the whole book (django-celery-beat: "Refresh derived values (nightly)")."""
    report = facts_refresh()
    return {
        "clients": report.clients,
        "chunks": report.chunks,
        "failures": report.failures,
        "seconds": round(report.seconds, 2),
    }


@shared_task
def expire_confirmation_requests() -> int:
    return confirmation_requests_expire()
