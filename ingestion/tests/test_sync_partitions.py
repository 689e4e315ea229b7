"""A full sync split into ranges read side by side: the same result as one sync, resumable per range."""

import pytest
from django.utils import timezone

from clients.models import Client
from ingestion.demo import crm_source_configure
from ingestion.fake_sources.generator import dutch_contacts, with_own_emails
from ingestion.fake_sources.hubspot import FakeHubSpot
from ingestion.fake_sources.server import running
from ingestion.models import Source, SourceRecord, SyncRun, SyncRunPart
from ingestion.services.sync import connector_for, source_lock_acquire, source_sync
from ingestion.services.sync_partitions import (
    LockLost,
    source_sync_partition,
    source_sync_partitioned_start,
)
from ingestion.tasks import sync_source_partitioned

pytestmark = pytest.mark.django_db

CONTACTS = 250


@pytest.fixture
def crm_server():
    server = FakeHubSpot(with_own_emails(dutch_contacts(CONTACTS, seed=11)))
    with running(server) as base_url:
        server.base_url_for_tests = base_url
        yield server


@pytest.fixture
def crm(crm_server, team):
    source = crm_source_configure(base_url=crm_server.base_url_for_tests, team=team)
    # Pages of 20, so every range is several pages and batches.
    source.config = {**source.config, "page_size": 20, "timeout_seconds": 2, "max_attempts": 2}
    source.save()
    return source


def read_range(connector, cursor):
    ids, pages = [], 0
    while True:
        page = connector.fetch_page(cursor, None)
        ids += [record.record_id for record in page.records]
        pages += 1
        if page.next_cursor is None:
            return ids, pages
        cursor = page.next_cursor


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


def test_hubspot_ranges_together_read_every_contact_once_archived_ones_included(crm, crm_server):
    crm_server.archive_contact(crm_server.contact_ids()[10])
    connector = connector_for(crm)
    cursors = connector.partition_cursors(3)
    assert len(cursors) == 3

    ranges = [read_range(connector, cursor)[0] for cursor in cursors]

    assert all(ranges), "every range holds contacts"
    every_id = [record_id for ids in ranges for record_id in ids]
    assert len(every_id) == len(set(every_id)) == CONTACTS  # 249 live, then the archived one
    assert set(every_id) == set(crm_server.contact_ids()) | set(crm_server.contact_ids(archived=True))
    # Each range is a stretch of the id order, in order.
    assert [int(i) for i in every_id[: len(ranges[0]) + len(ranges[1])]] == sorted(
        int(i) for i in ranges[0] + ranges[1]
    )


def test_a_source_too_small_to_split_is_read_as_one_range(crm):
    assert connector_for(crm).partition_cursors(1) is None


def test_a_partitioned_sync_writes_what_one_sync_writes(crm):
    run = source_sync_partitioned_start(source_id=crm.pk, parts=3)
    for part in run.parts.all():
        source_sync_partition(run_id=run.pk, index=part.index)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.fetched, run.created, run.quarantined) == (CONTACTS, CONTACTS, 0)
    assert SourceRecord.objects.count() == CONTACTS == Client.objects.count()
    crm.refresh_from_db()
    assert crm.watermark is not None and crm.lock_token == "" and crm.resume_cursor == ""
    # A plain full sync afterwards finds every record as the ranges wrote it: nothing changes.
    Source.objects.filter(pk=crm.pk).update(watermark=None)
    again = source_sync(source_id=crm.pk)
    assert (again.fetched, again.unchanged, again.created, again.updated) == (CONTACTS, CONTACTS, 0, 0)


def test_a_range_killed_mid_way_resumes_after_its_last_batch_and_the_last_range_finishes_the_run(crm):
    run = source_sync_partitioned_start(source_id=crm.pk, parts=2)
    first, second = run.parts.all()
    with pytest.raises(KeyboardInterrupt):
        source_sync_partition(run_id=run.pk, index=first.index, connector=DiesAfter(connector_for(crm), fatal_page=3))
    first.refresh_from_db()
    assert first.cursor and first.finished_at is None  # two pages committed, with the range's cursor
    assert SourceRecord.objects.count() == 40

    source_sync_partition(run_id=run.pk, index=second.index)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RUNNING  # the first range has not finished
    crm.refresh_from_db()
    assert crm.lock_token == first.lock_token  # the run still holds the source

    source_sync_partition(run_id=run.pk, index=first.index)  # the task, delivered again
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED
    assert SourceRecord.objects.values("record_id").distinct().count() == CONTACTS
    # Every record found its client; the generated CRM holds a person twice, and committed in an
    # earlier batch here, the second record links to the first's client, as in any later sync.
    assert not SourceRecord.objects.filter(client__isnull=True).exists()
    # Delivered once more, a finished range does nothing.
    assert source_sync_partition(run_id=run.pk, index=first.index).finished_at is not None
    assert SourceRecord.objects.count() == CONTACTS


def test_a_partitioned_sync_waits_for_a_run_that_holds_the_source(crm):
    assert source_lock_acquire(source_id=crm.pk)
    run = source_sync_partitioned_start(source_id=crm.pk, parts=2)
    assert run.status == SyncRun.Status.SKIPPED and not SyncRunPart.objects.exists()


def test_a_range_whose_lock_was_taken_over_stops_without_writing(crm):
    run = source_sync_partitioned_start(source_id=crm.pk, parts=2)
    # The run looked dead; another run took the source over.
    Source.objects.filter(pk=crm.pk).update(lock_token="another-run", locked_at=timezone.now())
    with pytest.raises(LockLost):
        source_sync_partition(run_id=run.pk, index=0)
    assert not SourceRecord.objects.exists()
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED
    assert Source.objects.get(pk=crm.pk).lock_token == "another-run"  # not released: not ours


def test_the_celery_task_hands_each_range_to_a_worker(crm):
    run = SyncRun.objects.get(pk=sync_source_partitioned.delay(crm.pk, 3).get())
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.parts.filter(finished_at__isnull=False).count() == 3
    assert Client.objects.count() == CONTACTS
