"""Celery entry points for enrichment. Thin: they take ids, call one service, return a summary.

After-sync hand-off: ingestion enqueues `refresh_client_facts(client_ids)` with the ids of the clients
a sync changed, on commit (see the note in README of this step / the lead's wiring in settings).
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
