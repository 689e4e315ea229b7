"""The sync engine over real HTTP to a local fake HubSpot: paging, increments, faults, resumption."""

import gc
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from clients.models import Client, LoanPart
from ingestion.connectors.base import TransientSourceError
from ingestion.demo import crm_source_configure
from ingestion.fake_sources.generator import dutch_contacts, with_own_emails
from ingestion.fake_sources.hubspot import FakeHubSpot
from ingestion.fake_sources.server import Fault, running
from ingestion.models import QuarantinedRecord, Source, SourceRecord, SyncRun
from ingestion.services.sync import connector_for, source_lock_acquire, source_sync

pytestmark = pytest.mark.django_db


class Sleeps(list):
    """An injected sleep that records the waits instead of waiting."""

    def __call__(self, seconds):
        self.append(seconds)


def unified_snapshot():
    """The unified view as comparable data: every client's values, by the record that made it."""
    return sorted(
        (
            record.record_id,
            client.first_name,
            client.last_name,
            client.email,
            client.phone,
            str(client.birth_date),
            client.postcode,
        )
        for record in SourceRecord.objects.select_related("client")
        for client in [record.client]
    )


@pytest.fixture
def crm_server():
    server = FakeHubSpot(with_own_emails(dutch_contacts(250, seed=11)))
    with running(server) as base_url:
        server.base_url_for_tests = base_url
        yield server


@pytest.fixture
def crm(crm_server, team):
    source = crm_source_configure(base_url=crm_server.base_url_for_tests, team=team)
    source.config = {**source.config, "timeout_seconds": 2, "max_attempts": 3, "backoff_base_seconds": 0.01}
    source.save()
    return source


def sync(source, **connector_options):
    connector = connector_for(source, sleep=connector_options.pop("sleep", Sleeps()), **connector_options)
    return source_sync(source_id=source.pk, connector=connector)


def test_a_first_sync_pages_to_the_end_and_creates_every_client(crm):
    run = sync(crm)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.fetched, run.created, run.quarantined) == (250, 250, 0)
    assert run.pages == 4  # three pages of contacts, then the (empty) pass over archived ones
    assert Client.objects.count() == 250
    crm.refresh_from_db()
    assert crm.watermark is not None and crm.resume_cursor == ""
    assert crm.health == Source.Health.HEALTHY


def test_every_value_knows_the_crm_record_it_came_from(crm):
    sync(crm)
    record = SourceRecord.objects.select_related("client").first()
    provenance = record.client.provenance_for("email")
    assert (provenance.source, provenance.record_id) == ("crm", record.record_id)
    assert provenance.changed_at == record.changed_at


def test_a_second_sync_fetches_only_what_changed_since(crm, crm_server):
    sync(crm)
    later = timezone.now() + timedelta(minutes=5)
    crm_server.update_contact("1005", modified_at=later, email="nieuw.adres@example.nl")
    crm_server.update_contact("1010", modified_at=later, city="Zwolle")
    run = sync(crm)
    assert run.updated == 2
    assert run.fetched < 10  # the search asked only for records modified since the watermark
    assert Client.objects.get(source_records__record_id="1005").email == "nieuw.adres@example.nl"
    assert Client.objects.get(source_records__record_id="1010").city == "Zwolle"


def test_running_a_sync_twice_changes_nothing_the_second_time(crm):
    sync(crm)
    before = unified_snapshot()
    crm.watermark = None  # force the second run to read everything again
    crm.save()
    run = sync(crm)
    assert (run.created, run.updated, run.unchanged) == (0, 0, 250)
    assert unified_snapshot() == before


def test_a_429_with_retry_after_is_waited_out_then_the_sync_succeeds(crm, crm_server):
    crm_server.fail_next(Fault.status_code(429, retry_after="3"))
    sleeps = Sleeps()
    run = sync(crm, sleep=sleeps)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert any(wait >= 3 for wait in sleeps)
    assert Client.objects.count() == 250


def test_a_500_then_success_loses_nothing(crm, crm_server):
    crm_server.fail_next(Fault.status_code(500))
    run = sync(crm)
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == 250


def test_a_timeout_is_retried(crm, crm_server):
    crm_server.fail_next(Fault.hang(3))
    run = sync(crm)
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == 250


def test_malformed_json_fails_the_run_after_bounded_retries_and_the_next_run_resumes(crm, crm_server):
    sync(crm)  # a first full sync, so the next one is incremental
    later = timezone.now() + timedelta(minutes=5)
    for number in range(1001, 1251, 2):
        crm_server.update_contact(str(number), modified_at=later, city="Deventer")
    crm_server.fail_next(*[Fault.malformed_json()] * 3)
    with pytest.raises(TransientSourceError):
        sync(crm)
    crm.refresh_from_db()
    assert crm.health == Source.Health.DEGRADED
    assert SyncRun.objects.filter(status=SyncRun.Status.FAILED).count() == 1
    run = sync(crm)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert Client.objects.filter(city="Deventer").count() == 125


def test_a_record_failing_validation_is_quarantined_while_the_rest_lands(crm, crm_server):
    crm_server.update_contact("1003", zip="ABCDE")
    crm_server.update_contact("1004", date_of_birth="31-31-1980")
    run = sync(crm)
    assert run.quarantined == 2 and run.created == 248
    assert run.fetched == run.created + run.updated + run.unchanged + run.quarantined
    reasons = dict(QuarantinedRecord.objects.values_list("record_id", "reason"))
    assert "client.postcode" in reasons["1003"]
    assert "client.birth_date" in reasons["1004"]
    assert not SourceRecord.objects.filter(record_id__in=["1003", "1004"]).exists()


def test_a_record_refused_again_keeps_one_open_entry_and_lands_once_corrected_at_the_source(crm, crm_server):
    crm_server.update_contact("1003", zip="ABCDE")
    sync(crm)
    crm_server.update_contact("1003", zip="XYZ", firstname="Anna")  # changed, and still refused
    run = sync(crm)

    assert run.quarantined == 1
    entry = QuarantinedRecord.objects.get(record_id="1003")
    assert (entry.status, entry.times_seen, entry.run, entry.raw["zip"]) == ("open", 2, run, "XYZ")
    assert "'XYZ'" in entry.reason and entry.seen_at > entry.created_at

    crm_server.update_contact("1003", zip="1234 AB")
    sync(crm)

    entry.refresh_from_db()
    assert (entry.status, entry.resolved_at is not None) == ("resolved", True)
    assert Client.objects.get(source_records__record_id="1003").postcode == "1234 AB"
    assert not QuarantinedRecord.objects.filter(status="open").exists()


def test_a_fixed_quarantined_record_lands_on_retry(crm, crm_server):
    from ingestion.services.records import quarantined_record_retry

    crm_server.update_contact("1003", zip="ABCDE")
    sync(crm)
    quarantined = QuarantinedRecord.objects.get(record_id="1003")
    fixed = {**quarantined.raw, "zip": "1234 AB"}
    quarantined = quarantined_record_retry(quarantined=quarantined, raw=fixed)
    assert quarantined.status == QuarantinedRecord.Status.RETRIED
    assert Client.objects.get(source_records__record_id="1003").postcode == "1234 AB"


class DiesAfter:
    """A connector that dies (like a killed worker) when asked for page `fatal_page`."""

    def __init__(self, connector, fatal_page):
        self.connector, self.fatal_page, self.pages = connector, fatal_page, 0

    def fetch_page(self, cursor, modified_since):
        self.pages += 1
        if self.pages == self.fatal_page:
            raise KeyboardInterrupt("worker killed")
        return self.connector.fetch_page(cursor, modified_since)

    def close(self):
        self.connector.close()


def test_a_sync_killed_mid_way_resumes_where_it_stopped_with_the_same_result(crm, crm_server, team, other_team):
    # The reference: a clean sync of the same data into a second source key.
    with pytest.raises(KeyboardInterrupt):
        source_sync(source_id=crm.pk, connector=DiesAfter(connector_for(crm, sleep=Sleeps()), fatal_page=3))
    crm.refresh_from_db()
    assert crm.resume_cursor  # two pages committed, with their cursor
    assert SourceRecord.objects.count() == 200
    # The dead worker's lock goes stale, then the next run resumes from page 3.
    Source.objects.filter(pk=crm.pk).update(locked_at=timezone.now() - timedelta(hours=1))
    run = sync(crm)
    assert run.fetched == 50 and run.created == 50
    assert SourceRecord.objects.count() == 250 == Client.objects.count()
    assert SourceRecord.objects.values("record_id").distinct().count() == 250


def test_two_runs_of_the_same_source_never_overlap(crm):
    token = source_lock_acquire(source_id=crm.pk)
    assert token
    run = sync(crm)
    assert run.status == SyncRun.Status.SKIPPED
    assert Client.objects.count() == 0


def test_a_full_sync_sees_archived_contacts_and_soft_deletes_their_clients(crm, crm_server):
    sync(crm)
    crm_server.archive_contact("1007", archived_at=timezone.now() + timedelta(minutes=5))
    Source.objects.filter(pk=crm.pk).update(watermark=None)  # a full sync pages archived contacts too
    run = sync(crm)
    assert run.deleted == 1
    client = Client.objects.get(source_records__record_id="1007")
    assert client.deleted_at is not None  # kept, with the date it went
    assert Client.objects.filter(deleted_at__isnull=True).count() == 249


def test_the_deletion_check_finds_contacts_the_incremental_search_cannot_see(crm, crm_server):
    from ingestion.services.sync import source_reconcile_deletions

    sync(crm)
    crm_server.archive_contact("1008", archived_at=timezone.now() + timedelta(minutes=5))
    assert sync(crm).deleted == 0  # HubSpot's search never returns archived contacts
    run = source_reconcile_deletions(source_id=crm.pk)
    assert run.deleted == 1
    assert Client.objects.get(source_records__record_id="1008").deleted_at is not None


def test_a_fixed_rate_end_from_the_crm_creates_a_loan_part_slot(crm):
    sync(crm)
    with_date = SourceRecord.objects.filter(values__has_key="loan_part.fixed_rate_end_date")
    assert LoanPart.objects.filter(sync_slot="loan_part").count() == with_date.count() > 0


def test_sync_source_command_prints_the_counts(crm, capsys):
    call_command("sync_source", "crm")
    output = capsys.readouterr().out
    assert "fetched 250" in output and "created 250" in output


def test_two_records_of_one_person_in_one_batch_become_one_client(team):
    # Same name, same email: one person twice in the CRM. Whether the records share a batch (or a
    # killed run resumed between them) must not decide whether they become one client.
    twins = dutch_contacts(2, seed=8)
    twins[1] = {**twins[1], "firstname": twins[0]["firstname"], "lastname": twins[0]["lastname"]}
    twins[1]["email"] = twins[0]["email"]
    with running(FakeHubSpot(twins)) as base_url:
        run = sync(crm_source_configure(base_url=base_url, team=team))
    assert (run.status, run.created) == (SyncRun.Status.SUCCEEDED, 2)
    client = Client.objects.get()
    assert set(SourceRecord.objects.values_list("client", flat=True)) == {client.pk}


def test_a_sync_leaves_the_garbage_collector_as_it_found_it(crm, crm_server):
    # The engine relaxes the cyclic collector while it runs (see clients.bulk.collector_relaxed); a worker
    # process runs other tasks afterwards, so thresholds and frozen objects must be restored, also
    # when the run fails.
    before = (gc.get_threshold(), gc.get_freeze_count())
    assert sync(crm).status == SyncRun.Status.SUCCEEDED
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
    crm_server.fail_next(*[Fault.status_code(500)] * 3)  # the source's three attempts
    with pytest.raises(TransientSourceError):
        sync(crm)
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
