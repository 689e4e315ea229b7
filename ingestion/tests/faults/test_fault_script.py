"""Syncs through a fake source that misbehaves on a seeded script: nothing lost, nothing twice.

In-process (the sync engine in this process, the fake HubSpot over real HTTP on 127.0.0.1), on
whichever database the suite runs on. The worker and server restarts are in the other modules.
"""

import logging
import threading
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ingestion.connectors.base import AuthenticationFailed
from ingestion.demo import crm_source_configure
from ingestion.fake_sources.faults import (
    TRANSIENT_FAULTS,
    FaultScript,
    PageMutator,
    contacts_sharing_timestamps,
    duplicate_records,
)
from ingestion.fake_sources.generator import dutch_contacts
from ingestion.fake_sources.hubspot import FakeHubSpot
from ingestion.fake_sources.server import Fault, ManualClock, running
from ingestion.models import QuarantinedRecord, Source, SourceRecord, SyncRun, TaskAttempt
from ingestion.services import reliability
from ingestion.services.sync import connector_for, source_reconcile_deletions, source_sync
from ingestion.tasks import sync_source

from .harness import SOAK, snapshot_difference, unified_snapshot, unified_view_clear, with_unique_emails

pytestmark = pytest.mark.django_db


def quick(source: Source, **config) -> Source:
    source.config = {
        **source.config,
        "timeout_seconds": 1,
        "max_attempts": 4,
        "backoff_base_seconds": 0.01,
        "max_retry_after_seconds": 5,
        **config,
    }
    source.save()
    return source


def sync(source, **options):
    """One run with waits recorded instead of slept (Retry-After is asserted on the fake's clock)."""
    options.setdefault("sleep", lambda seconds: None)
    try:
        return source_sync(source_id=source.pk, connector=connector_for(source, **options))
    except Exception as error:
        return error


def clean_reference(source: Source, fake: FakeHubSpot) -> dict:
    """The unified view after a clean full sync of the fake's current state (faults switched off)."""
    script, fake.script = fake.script, None
    unified_view_clear(source)
    run = sync(source)
    assert isinstance(run, SyncRun) and run.status == SyncRun.Status.SUCCEEDED, run
    fake.script = script
    return unified_snapshot()


def test_a_sync_through_every_transport_fault_and_a_401_ends_equal_to_a_clean_sync(team):
    seed = 41
    size = 20_000 if SOAK else 1_500
    contacts = contacts_sharing_timestamps(
        with_unique_emails(dutch_contacts(size, seed=seed)), group_size=150, seed=seed
    )
    fake = FakeHubSpot(contacts)
    script = FaultScript(seed=seed).attach(fake)
    pages = size // 100
    script.at_page(pages // 2, Fault.status_code(401))  # the token revoked mid-sync (first, before any other fault)
    script.sprinkle(count=pages // 2, within_pages=pages)
    script.transform_pages(duplicate_records(every=3))
    later = timezone.now() + timedelta(minutes=5)
    # Between pages the source changes under the sync: a contact added, one archived, one moved on.
    script.after_page(3, lambda server: server.add_contact(dutch_contacts(1, seed=999)[0] | {"hs_object_id": "99001"}))
    script.after_page(4, lambda server: server.archive_contact("1002", archived_at=later))
    script.after_page(5, lambda server: server.update_contact("1003", modified_at=later, city="Zwolle"))
    with running(fake) as base_url:
        source = quick(crm_source_configure(base_url=base_url, team=team))
        first = sync(source)
        assert isinstance(first, AuthenticationFailed)
        source.refresh_from_db()
        assert source.health == Source.Health.FAILING and source.resume_cursor  # what landed stays
        resumed = sync(source)
        assert isinstance(resumed, SyncRun) and resumed.status == SyncRun.Status.SUCCEEDED, resumed
        # Contacts changed during the run share timestamps in groups larger than a page: the
        # incremental search pages inside them and misses none, whatever the faults.
        for index, contact_id in enumerate(fake.contact_ids()[10:400]):
            fake.update_contact(contact_id, modified_at=later + timedelta(minutes=index // 150), city="Deventer")
        script.sprinkle(count=4, within_pages=script.pages_served + 6)
        incremental = sync(source)
        assert isinstance(incremental, SyncRun) and incremental.status == SyncRun.Status.SUCCEEDED, incremental
        source_reconcile_deletions(source_id=source.pk)
        actual = unified_snapshot()
        expected = clean_reference(source, fake)
    findings = snapshot_difference(expected, actual)
    print(
        f"\n{len(script.faults_injected)} transport faults + a 401 + 3 source changes, "
        f"{len(expected['records'])} records compared, findings: {len(findings)}"
    )
    assert findings == [], "\n".join(findings)
    # Sprinkled faults can land on pages the run never asks for again; enough of them must have hit.
    assert len(script.faults_injected) >= 5, script.faults_injected
    assert actual["records"]["crm:1002"]["deleted"] and actual["records"]["crm:99001"]["client"]


def test_no_request_is_sent_before_retry_after_has_passed(team):
    clock = ManualClock()
    fake = FakeHubSpot(dutch_contacts(600, seed=3), clock=clock.monotonic)
    script = FaultScript(seed=3).attach(fake)
    script.at_page(2, Fault.status_code(429, retry_after="7"))
    script.at_page(4, Fault.status_code(503, retry_after="3"), Fault.status_code(429, retry_after="2"))
    script.at_page(5, Fault.status_code(429))  # no Retry-After: exponential backoff, still a wait
    with running(fake) as base_url:
        source = quick(crm_source_configure(base_url=base_url, team=team), max_retry_after_seconds=60)
        run = sync(source, sleep=clock.sleep, clock=clock.monotonic)
    assert isinstance(run, SyncRun) and run.status == SyncRun.Status.SUCCEEDED
    at = {request.number: request.at for request in fake.requests}
    refusals = [(number, retry_after) for _, _, number, retry_after in script.faults_injected]
    assert len(refusals) == 4
    for number, retry_after in refusals:
        waited = at[number + 1] - at[number]  # the fake's clock: when the next request arrived
        assert waited >= float(retry_after or 0.001), (number, retry_after, waited)


def test_a_daily_quota_parks_the_sync_until_reset_and_the_sources_page_says_so(team, client, back_office):
    fake = FakeHubSpot(dutch_contacts(500, seed=4), daily_limit=3)
    with running(fake) as base_url:
        source = quick(crm_source_configure(base_url=base_url, team=team))
        assert sync_source.apply(args=(source.pk, SyncRun.Trigger.SCHEDULE)).get() is None
        source.refresh_from_db()
        assert source.health == Source.Health.PARKED and source.parked_until > timezone.now()
        sent = len(fake.requests)
        sync_source.apply(args=(source.pk, SyncRun.Trigger.SCHEDULE))  # beat, while parked
        reliability.syncs_due_enqueue()  # the reconciler leaves a parked source alone
        assert len(fake.requests) == sent  # nothing sent before the reset
        assert SourceRecord.objects.count() == 300  # the pages before the quota landed
    assert SyncRun.objects.filter(status=SyncRun.Status.SKIPPED, error__contains="quota").exists()
    assert not TaskAttempt.objects.filter(dead_lettered_at__isnull=False).exists()  # parking is not failing
    client.force_login(back_office)
    page = client.get(reverse("ingestion:sources")).content.decode()
    assert "Waiting for quota" in page and "until" in page


def test_a_sync_that_fails_every_time_is_dead_lettered_after_bounded_attempts(team, client, admin):
    fake = FakeHubSpot(dutch_contacts(50, seed=5))
    FaultScript(seed=5).attach(fake).at_page(1, *[Fault.status_code(500)] * 1000)
    with running(fake) as base_url:
        source = quick(crm_source_configure(base_url=base_url, team=team), max_attempts=1)
        for _ in range(reliability.SYNC_MAX_ATTEMPTS * 3):  # beat and the reconciler keep asking
            sync_source.apply(args=(source.pk, SyncRun.Trigger.SCHEDULE))
            reliability.syncs_due_enqueue()
        attempts = TaskAttempt.objects.get(key=reliability.sync_work_key(source.pk))
        assert attempts.dead_lettered_at is not None
        assert attempts.attempts == reliability.SYNC_MAX_ATTEMPTS
        assert "500" in attempts.last_error
        assert len(fake.requests) == reliability.SYNC_MAX_ATTEMPTS  # then it stopped asking
    client.force_login(admin)
    page = client.get(reverse("ingestion:sources")).content.decode()
    assert "Stopped after" in page and source.name in page
    admin_page = client.get(reverse("admin:ingestion_taskattempt_changelist")).content.decode()
    assert reliability.sync_work_key(source.pk) in admin_page


def test_a_long_sync_interrupted_more_often_than_the_bound_still_finishes(team, monkeypatch):
    """Only attempts that get nowhere count: one that commits a page before failing is progress."""
    from ingestion.services import sync as sync_service

    monkeypatch.setattr(sync_service, "RECORDS_PER_BATCH", 1)  # every page is its own checkpoint
    interruptions = reliability.SYNC_MAX_ATTEMPTS + 4
    fake = FakeHubSpot(with_unique_emails(dutch_contacts(100 * (interruptions + 2), seed=6)))
    script = FaultScript(seed=6).attach(fake)
    for page in range(2, interruptions + 2):
        script.at_page(page, Fault.status_code(500))  # each attempt lands a page, then fails once
    with running(fake) as base_url:
        source = quick(crm_source_configure(base_url=base_url, team=team), max_attempts=1)
        for _ in range(interruptions + 1):
            sync_source.apply(args=(source.pk, SyncRun.Trigger.SCHEDULE))
        source.refresh_from_db()
    assert not reliability.task_attempt_is_dead_lettered(
        task=reliability.SYNC_TASK, key=reliability.sync_work_key(source.pk)
    )
    assert SyncRun.objects.filter(source=source, status=SyncRun.Status.FAILED).count() == interruptions
    assert SourceRecord.objects.count() == 100 * (interruptions + 2)
    assert not source.resume_cursor  # finished


def test_a_sync_that_crashes_every_time_is_counted_and_stopped_too(team, monkeypatch):
    from ingestion.services import sync as sync_service

    def crash(**kwargs):
        raise RuntimeError("a bug in a mapping transform")

    monkeypatch.setattr(sync_service, "source_sync", crash)
    source = crm_source_configure(base_url="http://127.0.0.1:9", team=team)
    for _ in range(reliability.SYNC_MAX_ATTEMPTS + 3):
        with pytest.raises(RuntimeError):
            sync_source.apply(args=(source.pk, SyncRun.Trigger.SCHEDULE)).get()
        if reliability.task_attempt_is_dead_lettered(task=reliability.SYNC_TASK, key=f"source:{source.pk}"):
            break
    assert reliability.task_attempt_is_dead_lettered(task=reliability.SYNC_TASK, key=f"source:{source.pk}")
    assert sync_source.apply(args=(source.pk, SyncRun.Trigger.SCHEDULE)).get() is None  # a no-op now


def test_mutated_pages_never_crash_the_sync_and_every_record_is_accounted_for(team):
    pages = 10_000 if SOAK else 1_000
    per_page = 10 if SOAK else 5
    mutator = PageMutator(seed=77, rate=0.3)
    fake = FakeHubSpot(dutch_contacts(pages * per_page, seed=77))
    FaultScript(seed=77).attach(fake).transform_pages(mutator)
    with running(fake) as base_url:
        source = quick(crm_source_configure(base_url=base_url, team=team), page_size=per_page, include_archived=False)
        run = sync(source)
    assert isinstance(run, SyncRun), run
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.pages == pages
    assert run.fetched == run.created + run.updated + run.unchanged + run.quarantined
    quarantined = QuarantinedRecord.objects.filter(run=run)
    assert quarantined.count() == run.quarantined
    assert all(reason for reason in quarantined.values_list("reason", flat=True))
    landed = set(SourceRecord.objects.values_list("record_id", flat=True))
    held = set(quarantined.values_list("record_id", flat=True)) - {""}
    assert not landed & held
    untouched = set(fake.contact_ids()) - set(mutator.applied)
    assert untouched <= landed  # every good record landed
    assert set(fake.contact_ids()) <= landed | held | {
        record_id for record_id, mutation in mutator.applied.items() if mutation == "missing_id"
    }
    print(
        f"\n{pages} mutated pages, {len(mutator.applied)} records mutated, "
        f"{run.created} landed, {run.quarantined} quarantined; fetched {run.fetched} = "
        f"{run.created} + {run.updated} + {run.unchanged} + {run.quarantined}"
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_of_one_sync_at_once_one_runs_the_other_is_a_logged_no_op(team, caplog):
    fake = FakeHubSpot(dutch_contacts(400, seed=6))
    script = FaultScript(seed=6).attach(fake)
    for page in range(1, 6):
        script.at_page(page, Fault.slow(0.3))  # a slow source keeps the first run busy
    with running(fake) as base_url:
        source = quick(crm_source_configure(base_url=base_url, team=team), timeout_seconds=5)
        start = threading.Barrier(2)

        def run(trigger):
            from django.db import connection

            start.wait()
            try:
                sync_source.apply(args=(source.pk, trigger))
            finally:
                connection.close()

        with caplog.at_level(logging.INFO, logger="ingestion.services.sync"):
            threads = [
                threading.Thread(target=run, args=(trigger,))
                for trigger in (SyncRun.Trigger.SCHEDULE, SyncRun.Trigger.MANUAL)  # beat and "Sync now"
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
    statuses = sorted(SyncRun.objects.values_list("status", flat=True))
    assert statuses == [SyncRun.Status.SKIPPED, SyncRun.Status.SUCCEEDED]
    assert "another run holds the source" in caplog.text
    assert SourceRecord.objects.count() == 400 and script.pages_requested == 5  # every page fetched once


def test_transient_faults_list_covers_the_brief():
    kinds = {(fault.kind, fault.status, fault.retry_after is not None) for fault in TRANSIENT_FAULTS}
    assert {("status", 429, True), ("status", 429, False), ("status", 500, False), ("status", 502, False)} <= kinds
    assert {"truncated", "html", "hang", "malformed_json", "disconnect"} <= {kind for kind, *_ in kinds}


def test_matching_does_not_depend_on_where_batches_fall(team, monkeypatch):
    """Two records of the same person (same name and email) become one client in one batch or two."""
    from ingestion.services import sync as sync_service

    twins = dutch_contacts(2, seed=8)
    twins[1] = {**twins[1], "firstname": twins[0]["firstname"], "lastname": twins[0]["lastname"]}
    twins[1]["email"] = twins[0]["email"]
    clients_made = []
    for records_per_batch in (2000, 1):  # one batch for both, or one batch each (a resumed run)
        monkeypatch.setattr(sync_service, "RECORDS_PER_BATCH", records_per_batch)
        fake = FakeHubSpot(twins)
        with running(fake) as base_url:
            source = quick(crm_source_configure(base_url=base_url, team=team), page_size=1)
            unified_view_clear(source)
            assert sync(source).status == SyncRun.Status.SUCCEEDED
        clients_made.append(SourceRecord.objects.values("client").distinct().count())
    assert clients_made[0] == clients_made[1]


def test_a_page_asked_for_right_after_the_last_one_arrived_gets_its_own_scripted_fault(monkeypatch):
    # A client that has a page asks for the next one at once, perhaps on a new connection while the
    # server's thread is still finishing the last: the page must already count as served then, or
    # the next request takes its number and the faults scripted for the page after it are skipped.
    import httpx

    from ingestion.fake_sources.hubspot import TEST_TOKEN
    from ingestion.fake_sources.server import FakeServer

    fake = FakeHubSpot(dutch_contacts(3, seed=3))
    FaultScript(seed=3).attach(fake).at_page(2, Fault.status_code(401))
    url, headers = "/crm/v3/objects/contacts?limit=1", {"Authorization": f"Bearer {TEST_TOKEN}"}
    second, asked = [], threading.Event()
    send = FakeServer._send

    def send_then_ask_for_the_next_page(server, handler, response):
        send(server, handler, response)
        if not asked.is_set():  # the first page is out, and its thread has not finished
            try:
                second.append(httpx.get(f"{base_url}{url}&after=2", headers=headers).status_code)
            finally:
                asked.set()

    monkeypatch.setattr(FakeServer, "_send", send_then_ask_for_the_next_page)
    with running(fake) as base_url:
        first = httpx.get(f"{base_url}{url}", headers=headers)
        assert asked.wait(timeout=10)
    assert (first.status_code, second) == (200, [401])
