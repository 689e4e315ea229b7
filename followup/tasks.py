"""Celery entry points of follow-up. Thin: ids in, one service call, retries owned here."""

import uuid

from celery import shared_task
from django.db import transaction

from . import conf
from .demo_provider import demo_delivery_reports_send
from .services.planning import dispatch_queue
from .services.sending import RETRY, RETRY_AFTER, message_send, messages_due


@shared_task(bind=True, acks_late=True, max_retries=6)
def send_message(self, message_id: int):
    """Send one message. A redelivered or retried task keeps its id, the claim token, so it resumes its
    own claim instead of waiting for the lease; the claim makes a second send impossible."""
    outcome = message_send(message_id=message_id, claim_token=self.request.id or uuid.uuid4().hex)
    if outcome == RETRY and not self.request.is_eager:
        raise self.retry(countdown=int(RETRY_AFTER.total_seconds()))
    return outcome


def _enqueue(message_ids: list[int]) -> None:
    for message_id in message_ids:
        send_message.delay(message_id)


@shared_task(acks_late=True)
def dispatch():
    """Every 15 minutes (Celery beat) and from "Dispatch now": queue new messages, then send what is due."""
    new_ids = dispatch_queue()
    # After commit: the workers must see the rows they are asked to send.
    transaction.on_commit(lambda: _enqueue(messages_due()))
    if conf.demo_delivery_reports():
        # After the sends (eager: they have run; with a worker, a later run reports what is left).
        transaction.on_commit(lambda: demo_delivery_reports.apply_async(countdown=30))
    return {"queued": len(new_ids)}


@shared_task(acks_late=True)
def demo_delivery_reports():
    """The demo's providers report what became of the messages they were handed (demo only)."""
    return demo_delivery_reports_send()
