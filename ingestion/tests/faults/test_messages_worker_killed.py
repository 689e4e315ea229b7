"""A worker killed with SIGKILL just before and just after the provider call sends no message twice.

Real processes: Celery workers on Redis and the test's PostgreSQL; follow-up's own dispatch
(`followup.tasks.dispatch`, `send_message`) sending SMS through a recording fake provider over HTTP
in this process. The fault script kills the worker when the k-th call reaches the provider, before
the provider takes it (the request never gets in), and right after the provider answered the j-th
call (the worker never records it as sent). After the claims' lease runs out, the reconciler (the
beat task) hands the messages to a fresh worker, which must ask the provider rather than send blind.
"""

import os
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from clients.models import Channel, Purpose
from clients.tests.factories import ClientFactory, ContactPreferenceFactory
from followup.models import Message
from ingestion.fake_sources.faults import FaultScript
from ingestion.fake_sources.server import Fault, running

from .fake_provider import PROVIDER_URL_ENV, FakeMessageProvider
from .harness import SOAK, WorkerRelay, database_url, redis_flush, send_task, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REDIS_URL = os.environ.get("STEWARD_FAULTS_REDIS_URL", "redis://127.0.0.1:6379/7")
MESSAGES = 200 if SOAK else 20


def queued_sms(team, count: int) -> list[int]:
    ids = []
    for number in range(count):
        client = ClientFactory(team=team, phone=f"+316{number:08d}")
        ContactPreferenceFactory(client=client, purpose=Purpose.SERVICE, channel=Channel.SMS, consent="granted")
        message = Message.objects.create(
            client=client,
            team=team,
            channel=Channel.SMS,
            purpose=Purpose.SERVICE,
            language="nl",
            body=f"Uw rentevaste periode loopt af ({number}).",
            recipient=client.phone,
            idempotency_key=uuid.uuid4().hex,
            send_after=timezone.now() - timedelta(minutes=1),
        )
        ids.append(message.pk)
    return ids


def test_a_worker_killed_around_the_provider_call_never_sends_a_message_twice(team):
    redis_flush(REDIS_URL)
    ids = queued_sms(team, MESSAGES)
    provider = FakeMessageProvider()
    script = FaultScript(seed=9, page_paths=("/messages",)).attach(provider)
    current: dict = {}
    killed = threading.Event()

    def kill_before_the_provider_takes_it():
        current["worker"].kill()
        killed.set()
        return Fault.disconnect()  # the request never got in

    def kill_after_the_provider_took_it(server):
        current["worker"].kill()
        killed.set()

    before_at, after_at = MESSAGES // 4, MESSAGES // 2
    script.before_page(before_at, kill_before_the_provider_takes_it)
    script.after_page(after_at, kill_after_the_provider_took_it)
    started = time.monotonic()
    with running(provider) as provider_url:
        env = {PROVIDER_URL_ENV: provider_url}
        # Two kills, then a worker that finishes; each loaded while the one before works.
        relay = WorkerRelay(3, redis_url=REDIS_URL, database_url=database_url(), name="messages", extra_env=env)
        with relay:
            for round_number in range(3):
                current["worker"] = relay.start_next()
                task = "followup.tasks.dispatch" if round_number == 0 else "ingestion.tasks.reconcile_due_work"
                send_task(REDIS_URL, task)
                if round_number < 2:
                    assert killed.wait(timeout=120), current["worker"].log()
                    killed.clear()
                    # The claims' lease (5 minutes) runs out: the dead worker's messages are due again.
                    Message.objects.filter(status=Message.Status.QUEUED).update(
                        claimed_at=timezone.now() - timedelta(hours=1)
                    )
            wait_until(
                lambda: not Message.objects.filter(pk__in=ids, status=Message.Status.QUEUED).exists(),
                timeout=180,
                interval=0.5,
                what="every message to be sent",
            )
    statuses = dict(Message.objects.filter(pk__in=ids).values_list("idempotency_key", "status"))
    twice = {key: count for key, count in provider.delivered.items() if count > 1}
    missing = [key for key in statuses if provider.delivered[key] == 0]
    print(
        f"\nworker killed before provider call {before_at} and after call {after_at}; {len(ids)} messages "
        f"compared; sent twice: {len(twice)}, never sent: {len(missing)}; {time.monotonic() - started:.1f}s"
    )
    assert twice == {}
    assert missing == []
    assert set(statuses.values()) == {Message.Status.SENT}
