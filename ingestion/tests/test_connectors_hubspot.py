"""The HubSpot connector against the local fake HubSpot, over real HTTP."""

import json
import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ingestion.connectors import (
    AuthenticationFailed,
    ConfigurationError,
    HubSpotConnector,
    PermanentSourceError,
    QuotaExhausted,
    connector_for,
)
from ingestion.fake_sources import FakeHubSpot, Fault, ManualClock, RateLimit, dutch_contacts, running
from ingestion.fake_sources.generator import hubspot_timestamp
from ingestion.fake_sources.hubspot import CONTACTS, TEST_TOKEN

LATER = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)


@pytest.fixture
def clock():
    return ManualClock()


def connect(server, clock, **config):
    settings = {"base_url": server.base_url, "timeout_seconds": 2.0, "max_attempts": 4}
    settings.update(config)
    return HubSpotConnector(
        settings, {"access_token": TEST_TOKEN}, sleep=clock.sleep, clock=clock.monotonic, now=lambda: LATER
    )


def all_pages(connector, modified_since=None):
    return list(connector.iter_pages(modified_since))


def all_pages_from(connector, cursor):
    pages = []
    while cursor is not None:
        pages.append(connector.fetch_page(cursor, None))
        cursor = pages[-1].next_cursor
    return pages


def test_a_full_sync_of_250_contacts_takes_three_pages_of_100(clock):
    hubspot = FakeHubSpot(dutch_contacts(250))
    with running(hubspot), connect(hubspot, clock, include_archived=False) as connector:
        pages = all_pages(connector)
    assert [len(page.records) for page in pages] == [100, 100, 50]
    assert pages[-1].next_cursor is None
    ids = [record.record_id for page in pages for record in page.records]
    assert len(set(ids)) == 250
    first = pages[0].records[0]
    assert first.data["firstname"] and first.data["zip"] and first.changed_at.tzinfo is not None
    request = hubspot.requests[0]
    assert request.method == "GET" and request.path == CONTACTS
    assert request.headers["Authorization"] == f"Bearer {TEST_TOKEN}"
    assert request.query["limit"] == ["100"] and "annual_income" in request.query["properties"][0]


def test_a_full_sync_ends_with_the_archived_contacts_marked_archived(clock):
    hubspot = FakeHubSpot(dutch_contacts(120))
    hubspot.archive_contact("1005", archived_at=LATER)
    with running(hubspot), connect(hubspot, clock) as connector:
        records = [record for page in all_pages(connector) for record in page.records]
    archived = [record for record in records if record.archived]
    assert [record.record_id for record in archived] == ["1005"]
    assert archived[0].changed_at == LATER
    assert len(records) == 120


def test_a_cursor_resumes_in_a_new_connector_as_after_a_worker_restart(clock):
    hubspot = FakeHubSpot(dutch_contacts(250))
    with running(hubspot):
        with connect(hubspot, clock, include_archived=False) as connector:
            first = connector.fetch_page(None, None)
        with connect(hubspot, clock, include_archived=False) as connector:
            second = connector.fetch_page(first.next_cursor, None)
    assert {r.record_id for r in first.records}.isdisjoint({r.record_id for r in second.records})
    assert len(second.records) == 100


def test_an_incremental_fetch_returns_only_contacts_modified_since(clock):
    contacts = dutch_contacts(250)
    hubspot = FakeHubSpot(contacts)
    with running(hubspot), connect(hubspot, clock) as connector:
        assert sum(len(p.records) for p in all_pages(connector)) == 250
        since = LATER - timedelta(minutes=5)
        for minutes, contact_id in ((1, "1017"), (2, "1203"), (3, "1099")):
            hubspot.update_contact(contact_id, modified_at=since + timedelta(minutes=minutes), city="Zwolle")
        pages = all_pages(connector, since)
    records = [record for page in pages for record in page.records]
    # Ascending by lastmodifieddate, so a crash mid-run resumes without gaps.
    assert [record.record_id for record in records] == ["1017", "1203", "1099"]
    assert pages[0].total == 3
    assert all(record.data["city"] == "Zwolle" for record in records)
    body = hubspot.requests_to(f"{CONTACTS}/search")[0].json()
    assert body["filterGroups"] == [
        {"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(_ms(since))}]}
    ]
    assert body["sorts"] == [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
    assert body["limit"] == 100 and "after" not in body


def test_incremental_search_pages_to_the_end_each_page_a_query_from_the_newest_timestamp(clock):
    contacts = dutch_contacts(250)
    hubspot = FakeHubSpot(contacts)
    since = datetime.fromisoformat(contacts[0]["lastmodifieddate"])
    with running(hubspot), connect(hubspot, clock) as connector:
        pages = all_pages(connector, since)
    # Each later query starts at the newest timestamp of the page before (GTE), so its first
    # result is that page's last contact again, skipped: 99 new contacts a page.
    assert [len(page.records) for page in pages] == [100, 99, 51]
    searches = [request.json() for request in hubspot.requests_to(f"{CONTACTS}/search")]
    values = [search["filterGroups"][0]["filters"][0]["value"] for search in searches]
    assert values == [
        str(_ms(since)),
        str(_ms(datetime.fromisoformat(contacts[99]["lastmodifieddate"]))),
        str(_ms(datetime.fromisoformat(contacts[198]["lastmodifieddate"]))),
    ]
    assert all("after" not in search for search in searches)


def test_a_contact_modified_mid_run_does_not_push_another_out_of_the_run(clock):
    # With offset paging, moving contact 1051 to the end would shift 1101 onto page one, already
    # read, and nothing would ever fetch it: it was not modified.
    contacts = dutch_contacts(250)
    hubspot = FakeHubSpot(contacts)
    since = datetime.fromisoformat(contacts[0]["lastmodifieddate"])
    with running(hubspot), connect(hubspot, clock) as connector:
        first = connector.fetch_page(None, since)
        hubspot.update_contact("1051", modified_at=LATER, city="Leeuwarden")
        hubspot.archive_contact("1020")
        rest = all_pages_from(connector, first.next_cursor)
    ids = [r.record_id for r in first.records] + [r.record_id for page in rest for r in page.records]
    assert set(ids) == {c["hs_object_id"] for c in contacts}
    assert ids.count("1051") == 2 and ids[-1] == "1051"  # again, with its new state, last


def test_more_than_10000_modified_contacts_are_read_without_paging_past_the_search_cap(clock):
    contacts = dutch_contacts(10_250)
    hubspot = FakeHubSpot(contacts)
    since = datetime.fromisoformat(contacts[0]["lastmodifieddate"])
    with running(hubspot), connect(hubspot, clock) as connector:
        pages = all_pages(connector, since)
    ids = [record.record_id for page in pages for record in page.records]
    assert len(ids) == len(set(ids)) == 10_250
    searches = [request.json() for request in hubspot.requests_to(f"{CONTACTS}/search")]
    assert len(searches) == 104
    assert all(int(search.get("after") or 0) + search["limit"] <= 10_000 for search in searches)


def test_contacts_sharing_a_timestamp_across_pages_are_returned_once(clock):
    # Bulk imports and workflows stamp many contacts with the same millisecond.
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    contacts = dutch_contacts(700)
    for index, contact in enumerate(contacts):
        contact["lastmodifieddate"] = hubspot_timestamp(start + timedelta(seconds=index // 7))
    hubspot = FakeHubSpot(contacts)
    with running(hubspot), connect(hubspot, clock) as connector:
        pages = all_pages(connector, start)
    ids = [record.record_id for page in pages for record in page.records]
    assert sorted(ids) == sorted(c["hs_object_id"] for c in contacts)
    assert len(ids) == len(set(ids))


def test_a_group_larger_than_a_page_on_one_timestamp_is_paged_inside_with_after(clock):
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    contacts = dutch_contacts(400)
    for index, contact in enumerate(contacts):
        # 250 contacts imported in the same millisecond, then the rest one second apart
        offset = 0 if index < 250 else index
        contact["lastmodifieddate"] = hubspot_timestamp(start + timedelta(seconds=offset))
    hubspot = FakeHubSpot(contacts, search_result_cap=300)
    with running(hubspot), connect(hubspot, clock, search_result_cap=300) as connector:
        pages = all_pages(connector, start)
    ids = [record.record_id for page in pages for record in page.records]
    assert sorted(ids) == sorted(c["hs_object_id"] for c in contacts)
    assert len(ids) == len(set(ids))
    afters = [request.json().get("after") for request in hubspot.requests_to(f"{CONTACTS}/search")]
    assert afters[:3] == [None, "100", "200"]


def test_more_contacts_on_one_timestamp_than_the_cap_is_reported_not_looped(clock):
    contacts = dutch_contacts(350)
    for contact in contacts:
        contact["lastmodifieddate"] = "2026-01-05T09:00:00.000Z"
    hubspot = FakeHubSpot(contacts, search_result_cap=300)
    with (
        running(hubspot),
        connect(hubspot, clock, search_result_cap=300) as connector,
        pytest.raises(PermanentSourceError, match="share lastmodifieddate"),
    ):
        all_pages(connector, datetime(2026, 1, 1, tzinfo=UTC))


def test_a_malformed_contact_is_rejected_while_the_rest_of_the_page_lands(clock):
    hubspot = FakeHubSpot(dutch_contacts(100))
    hubspot.override_object("1042", updatedAt="gisteren")
    hubspot.override_object("1043", properties="niet-een-object")
    with running(hubspot), connect(hubspot, clock, include_archived=False) as connector:
        page = connector.fetch_page(None, None)
    assert len(page.records) == 98
    assert {(r.record_id, "ISO 8601" in r.reason or "properties" in r.reason) for r in page.rejected} == {
        ("1042", True),
        ("1043", True),
    }
    assert page.rejected[0].raw["updatedAt"] == "gisteren"


def test_a_contact_without_an_id_is_rejected_without_one(clock):
    hubspot = FakeHubSpot(dutch_contacts(3))
    hubspot.override_object("1002", id=None)
    with running(hubspot), connect(hubspot, clock, include_archived=False) as connector:
        page = connector.fetch_page(None, None)
    assert [r.record_id for r in page.records] == ["1001", "1003"]
    assert page.rejected[0].record_id is None and "id" in page.rejected[0].reason


def test_a_wrong_token_fails_authentication_without_retry(clock):
    hubspot = FakeHubSpot(dutch_contacts(3), token="pat-eu1-other")
    with running(hubspot), connect(hubspot, clock) as connector, pytest.raises(AuthenticationFailed):
        connector.fetch_page(None, None)
    assert len(hubspot.requests) == 1


def test_the_daily_limit_stops_until_midnight_in_the_account_time_zone(clock):
    hubspot = FakeHubSpot(dutch_contacts(250), daily_limit=1)
    with running(hubspot), connect(hubspot, clock) as connector:
        connector.fetch_page(None, None)
        with pytest.raises(QuotaExhausted) as caught:
            connector.fetch_page(None, None)
    assert caught.value.reset_at == datetime(2026, 3, 3, 0, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
    assert len(hubspot.requests) == 2  # no retry against a daily limit


def test_the_ten_second_limit_is_waited_out_mid_sync(clock):
    hubspot = FakeHubSpot(dutch_contacts(250), ten_second_limit=RateLimit(2, 10, "10"), clock=clock.monotonic)
    with running(hubspot), connect(hubspot, clock, include_archived=False) as connector:
        pages = all_pages(connector)
    assert sum(len(page.records) for page in pages) == 250
    refused, retried = hubspot.requests[2], hubspot.requests[3]
    assert retried.at - refused.at >= 10


def test_faults_mid_sync_are_retried_and_the_sync_completes(clock):
    hubspot = FakeHubSpot(dutch_contacts(250))
    hubspot.fail_next(Fault.status_code(429, retry_after=3), Fault.status_code(502), Fault.truncated_body())
    with running(hubspot), connect(hubspot, clock, include_archived=False) as connector:
        pages = all_pages(connector)
    assert sum(len(page.records) for page in pages) == 250
    assert clock.sleeps[0] >= 3


def test_fetch_records_returns_live_and_archived_contacts_and_omits_purged_ones(clock):
    hubspot = FakeHubSpot(dutch_contacts(250))
    hubspot.archive_contact("1010", archived_at=LATER)
    hubspot.purge_contact("1011")
    wanted = [str(i) for i in range(1001, 1151)]  # 150 ids: two batch reads of at most 100
    with running(hubspot), connect(hubspot, clock) as connector:
        page = connector.fetch_records([*wanted, "1001"])
    by_id = {record.record_id: record for record in page.records}
    assert len(by_id) == len(page.records) == 149
    assert by_id["1010"].archived and not by_id["1001"].archived
    assert "1011" not in by_id
    reads = hubspot.requests_to(f"{CONTACTS}/batch/read")
    assert all(len(request.json()["inputs"]) <= 100 for request in reads)
    assert any(request.query["archived"] == ["true"] for request in reads)


def test_list_all_ids_pages_through_live_contacts_only(clock):
    hubspot = FakeHubSpot(dutch_contacts(230))
    hubspot.archive_contact("1100")
    with running(hubspot), connect(hubspot, clock) as connector:
        ids = list(connector.list_all_ids())
    assert len(ids) == 229 and "1100" not in ids


def test_the_token_never_reaches_logs_or_errors(clock, caplog):
    caplog.set_level(logging.DEBUG)
    hubspot = FakeHubSpot(dutch_contacts(3))
    hubspot.fail_next(
        Fault.status_code(500),
        Fault.status_code(403, body=json.dumps({"message": f"token {TEST_TOKEN} lacks crm.objects.contacts.read"})),
    )
    with (
        running(hubspot),
        connect(hubspot, clock) as connector,
        pytest.raises(AuthenticationFailed) as caught,
    ):
        connector.fetch_page(None, None)
    assert "lacks crm.objects.contacts.read" in str(caught.value)
    assert TEST_TOKEN not in str(caught.value)
    assert TEST_TOKEN not in caplog.text
    assert TEST_TOKEN not in repr(connector)


def test_the_connector_is_built_from_its_kind_and_refuses_incomplete_credentials():
    connector = connector_for("hubspot", {}, {"access_token": "pat-x"})
    assert isinstance(connector, HubSpotConnector)
    connector.close()
    with pytest.raises(ConfigurationError):
        connector_for("hubspot", {}, {})
    with pytest.raises(ConfigurationError):
        connector_for("salesforce", {}, {})


def test_naive_modified_since_is_refused(clock):
    hubspot = FakeHubSpot(dutch_contacts(1))
    with running(hubspot), connect(hubspot, clock) as connector, pytest.raises(ValueError, match="aware"):
        connector.fetch_page(None, datetime(2026, 1, 1))  # naive on purpose


def _ms(moment):
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
