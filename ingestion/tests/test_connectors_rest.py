"""The generic REST connector against the fake Dutch advisory tool, over real HTTP."""

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ingestion.connectors import (
    AuthenticationFailed,
    ConfigurationError,
    PermanentSourceError,
    RestConnector,
    connector_for,
)
from ingestion.connectors.rest import _format_time, _parse_time, compile_path
from ingestion.fake_sources import FakeAdvisoryTool, Fault, ManualClock, advisory_relations, running
from ingestion.fake_sources.advisory import (
    RELATIONS,
    TEST_API_KEY,
    TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
    TEST_PASSWORD,
    TEST_USERNAME,
    TOKEN_PATH,
)
from ingestion.fake_sources.server import Response

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
DUTCH = "%d-%m-%Y %H:%M:%S"

PAGINATION = {
    "page_number": {
        "type": "page_number",
        "page_param": "page",
        "page_size_param": "per_page",
        "page_size": 50,
        "total_pages_path": "meta.totaal_paginas",
    },
    "cursor": {
        "type": "cursor",
        "cursor_path": "meta.volgende_cursor",
        "cursor_param": "cursor",
        "page_size_param": "per_page",
        "page_size": 50,
    },
    "offset": {"type": "offset", "offset_param": "offset", "limit_param": "limit", "page_size": 50},
    "link": {"type": "link_header", "page_size_param": "per_page", "page_size": 50},
}
AUTH = {
    "api_key": ({"type": "api_key", "header": "X-Api-Key"}, {"api_key": TEST_API_KEY}),
    "basic": ({"type": "basic"}, {"username": TEST_USERNAME, "password": TEST_PASSWORD}),
    "oauth2": (
        {"type": "oauth2_client_credentials", "token_url": TOKEN_PATH},
        {"client_id": TEST_CLIENT_ID, "client_secret": TEST_CLIENT_SECRET},
    ),
}


@pytest.fixture
def clock():
    return ManualClock()


def config_for(server, *, pagination="page_number", auth="api_key", **overrides):
    config = {
        "base_url": server.base_url,
        "endpoint": RELATIONS,
        "auth": AUTH[auth][0],
        "pagination": PAGINATION[pagination],
        "records_path": "data.items",
        "record_id_path": "relatienummer",
        "changed_at_path": "gewijzigd_op",
        "changed_at_format": DUTCH,
        "source_timezone": "Europe/Amsterdam",
        "archived_path": "status",
        "archived_values": ["gearchiveerd"],
        "modified_since_param": "gewijzigd_sinds",
        "modified_since_format": DUTCH,
        "detail_path": f"{RELATIONS}/{{id}}",
        "detail_record_path": "data",
        "timeout_seconds": 2.0,
        "max_attempts": 3,
    }
    config.update(overrides)
    return config


def connect(server, clock, *, credentials=None, **options):
    auth = options.get("auth", server.auth if server.auth != "oauth2" else "oauth2")
    return RestConnector(
        config_for(server, **options),
        credentials if credentials is not None else AUTH[auth][1],
        sleep=clock.sleep,
        clock=clock.monotonic,
    )


def records_of(pages):
    return [record for page in pages for record in page.records]


@pytest.mark.parametrize("pagination", ["page_number", "cursor", "offset", "link"])
def test_every_pagination_strategy_reads_all_relations_once(clock, pagination):
    tool = FakeAdvisoryTool(advisory_relations(120), pagination=pagination)
    with running(tool), connect(tool, clock, pagination=pagination) as connector:
        pages = list(connector.iter_pages())
    assert [len(page.records) for page in pages] == [50, 50, 20]
    ids = [record.record_id for record in records_of(pages)]
    assert ids == sorted(set(ids)) and len(ids) == 120


def test_page_number_without_a_total_stops_at_the_first_short_page(clock):
    tool = FakeAdvisoryTool(advisory_relations(100))
    pagination = {"type": "page_number", "page_param": "page", "page_size_param": "per_page", "page_size": 50}
    with (
        running(tool),
        RestConnector(
            config_for(tool, pagination="page_number") | {"pagination": pagination},
            AUTH["api_key"][1],
            sleep=clock.sleep,
        ) as connector,
    ):
        pages = list(connector.iter_pages())
    # Exactly two full pages: the third request finds nothing and ends the run.
    assert [len(page.records) for page in pages] == [50, 50, 0]


@pytest.mark.parametrize("auth", ["api_key", "basic", "oauth2"])
def test_every_auth_mode_reaches_the_data(clock, auth):
    tool = FakeAdvisoryTool(advisory_relations(60), auth=auth)
    with running(tool), connect(tool, clock, auth=auth) as connector:
        assert len(records_of(connector.iter_pages())) == 60


@pytest.mark.parametrize("auth", ["api_key", "basic", "oauth2"])
def test_wrong_credentials_fail_authentication_without_retries(clock, auth):
    tool = FakeAdvisoryTool(advisory_relations(5), auth=auth)
    wrong = dict.fromkeys(AUTH[auth][1], "verkeerd")
    with (
        running(tool),
        connect(tool, clock, auth=auth, credentials=wrong) as connector,
        pytest.raises(AuthenticationFailed),
    ):
        connector.fetch_page(None, None)
    assert len(tool.requests) == 1
    assert clock.sleeps == []


def test_the_oauth2_token_is_fetched_once_and_reused_across_pages(clock):
    tool = FakeAdvisoryTool(advisory_relations(120), auth="oauth2")
    with running(tool), connect(tool, clock, auth="oauth2") as connector:
        list(connector.iter_pages())
    assert tool.tokens_issued == 1
    token_request = tool.requests_to(TOKEN_PATH)[0]
    assert b"grant_type=client_credentials" in token_request.body
    assert token_request.headers["Authorization"].startswith("Basic ")


def test_a_revoked_oauth2_token_is_refreshed_once_on_401(clock):
    tool = FakeAdvisoryTool(advisory_relations(120), auth="oauth2")
    with running(tool), connect(tool, clock, auth="oauth2") as connector:
        first = connector.fetch_page(None, None)
        tool.revoke_tokens()
        rest = list(_pages_from(connector, first.next_cursor))
    assert len(first.records) + len(records_of(rest)) == 120
    assert tool.tokens_issued == 2
    statuses = [r.path for r in tool.requests]
    assert statuses == [TOKEN_PATH, RELATIONS, RELATIONS, TOKEN_PATH, RELATIONS, RELATIONS]


def test_an_expiring_oauth2_token_is_replaced_before_it_expires(clock):
    tool = FakeAdvisoryTool(advisory_relations(120), auth="oauth2", token_lifetime_seconds=600, clock=clock.monotonic)
    with running(tool), connect(tool, clock, auth="oauth2") as connector:
        first = connector.fetch_page(None, None)
        clock.advance(580)  # inside the 30-second safety margin
        connector.fetch_page(first.next_cursor, None)
    assert tool.tokens_issued == 2
    assert not any(r.headers.get("Authorization") is None for r in tool.requests_to(RELATIONS))


def test_a_token_endpoint_failure_is_retried_like_any_request(clock):
    tool = FakeAdvisoryTool(advisory_relations(10), auth="oauth2")
    tool.fail_next(Fault.status_code(503))
    with running(tool), connect(tool, clock, auth="oauth2") as connector:
        assert len(connector.fetch_page(None, None).records) == 10
    assert [r.path for r in tool.requests] == [TOKEN_PATH, TOKEN_PATH, RELATIONS]


def test_modified_since_is_sent_in_the_tools_dutch_format_and_filters(clock):
    relations = advisory_relations(80)
    tool = FakeAdvisoryTool(relations)
    since = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    with running(tool), connect(tool, clock) as connector:
        tool.update_relation("R-100007", modified_at=since + timedelta(hours=1), email="nieuw@ziggo.nl")
        tool.update_relation("R-100042", modified_at=since + timedelta(hours=2))
        pages = list(connector.iter_pages(since))
    assert [record.record_id for record in records_of(pages)] == ["R-100007", "R-100042"]
    assert tool.requests[0].query["gewijzigd_sinds"] == ["01-06-2026 14:00:00"]  # CEST, as the tool expects


def test_dutch_timestamps_become_aware_and_values_stay_raw(clock):
    tool = FakeAdvisoryTool(advisory_relations(3))
    tool.update_relation("R-100002", modified_at=datetime(2026, 12, 31, 13, 5, 9, tzinfo=UTC))
    with running(tool), connect(tool, clock) as connector:
        record = {r.record_id: r for r in connector.fetch_page(None, None).records}["R-100002"]
    assert record.changed_at == datetime(2026, 12, 31, 14, 5, 9, tzinfo=AMSTERDAM)
    assert record.data["gewijzigd_op"] == "31-12-2026 14:05:09"
    assert "," in record.data["bruto_jaarinkomen"]  # "245.000,00" is field mapping's to parse


def test_a_malformed_relation_is_rejected_while_the_rest_of_the_page_lands(clock):
    tool = FakeAdvisoryTool(advisory_relations(10))
    tool.put_raw({"relatienummer": "R-999999", "gewijzigd_op": "31-02-2026 25:61:00", "status": "actief"})
    tool.put_raw({"voornaam": "Zonder", "gewijzigd_op": "01-01-2026 10:00:00"})
    with running(tool), connect(tool, clock) as connector:
        page = connector.fetch_page(None, None)
    assert len(page.records) == 10
    by_id = {problem.record_id: problem for problem in page.rejected}
    assert set(by_id) == {"R-999999", None}
    assert "does not match" in by_id["R-999999"].reason
    assert "no record id" in by_id[None].reason


def test_archived_relations_are_marked_archived(clock):
    relations = advisory_relations(5)
    relations[3]["status"] = "gearchiveerd"
    tool = FakeAdvisoryTool(relations)
    with running(tool), connect(tool, clock) as connector:
        records = connector.fetch_page(None, None).records
        ids = list(connector.list_all_ids())
    assert [r.record_id for r in records if r.archived] == ["R-100004"]
    assert "R-100004" not in ids and len(ids) == 4


def test_a_jsonpath_records_path_reads_the_same_records(clock):
    tool = FakeAdvisoryTool(advisory_relations(30))
    with (
        running(tool),
        connect(tool, clock, records_path="$.data.items[*]", record_id_path="$.relatienummer") as c,
    ):
        records = records_of(c.iter_pages())
    assert len(records) == 30 and records[0].record_id == "R-100001"


def test_fetch_records_reads_each_by_id_and_omits_the_gone(clock):
    tool = FakeAdvisoryTool(advisory_relations(5))
    with running(tool), connect(tool, clock) as connector:
        page = connector.fetch_records(["R-100002", "R-100005", "R-404040", "R-100002"])
    assert [record.record_id for record in page.records] == ["R-100002", "R-100005"]
    assert page.next_cursor is None


def test_faults_mid_run_are_retried_and_the_run_completes(clock):
    tool = FakeAdvisoryTool(advisory_relations(120), pagination="cursor")
    tool.fail_next(Fault.status_code(502), Fault.html(), Fault.status_code(429, retry_after=2))
    with running(tool), connect(tool, clock, pagination="cursor", max_attempts=4) as connector:
        assert len(records_of(connector.iter_pages())) == 120
    assert 2 <= clock.sleeps[-1] <= 3


class _FakeToolLinkingElsewhere(FakeAdvisoryTool):
    def handle(self, request):
        response = super().handle(request)
        return Response(response.status, response.body, {"Link": '<https://evil.example/steal?page=2>; rel="next"'})


def test_a_next_link_to_another_host_is_not_followed(clock):
    tool = _FakeToolLinkingElsewhere(advisory_relations(80), pagination="link")
    with (
        running(tool),
        connect(tool, clock, pagination="link") as connector,
        pytest.raises(PermanentSourceError),
    ):
        connector.fetch_page(None, None)


def test_no_secret_of_any_auth_mode_reaches_logs_or_errors(clock, caplog):
    caplog.set_level(logging.DEBUG)
    for auth in ("api_key", "basic", "oauth2"):
        tool = FakeAdvisoryTool(advisory_relations(3), auth=auth)
        secrets = [value for value in AUTH[auth][1].values() if value not in (TEST_USERNAME, TEST_CLIENT_ID)]
        tool.fail_next(Fault.status_code(500), Fault.status_code(403, body=f'{{"message": "bad {secrets[0]}"}}'))
        with running(tool), connect(tool, clock, auth=auth) as connector:
            with pytest.raises(AuthenticationFailed) as caught:
                connector.fetch_page(None, None)
            for secret in secrets:
                assert secret not in str(caught.value)
                assert secret not in caplog.text
                assert secret not in repr(connector)


def test_an_incomplete_config_lists_every_problem_at_once():
    with pytest.raises(ConfigurationError) as caught:
        connector_for("rest", {"base_url": "ftp://x", "pagination": {"type": "scroll"}}, {})
    message = str(caught.value)
    for expected in ("base_url", "endpoint", "pagination.type", "records_path", "record_id_path"):
        assert expected in message


def test_missing_credentials_are_a_configuration_error():
    config = {
        "base_url": "https://api.example.nl",
        "endpoint": "/x",
        "auth": {"type": "basic"},
        "pagination": {"type": "offset"},
        "records_path": "items",
        "record_id_path": "id",
        "changed_at_path": "updated",
    }
    with pytest.raises(ConfigurationError, match="password"):
        RestConnector(config, {"username": "u"})


def test_paths_tell_absent_from_null():
    getter = compile_path("adres.postcode")
    assert getter({"adres": {"postcode": None}}) is None
    with pytest.raises(KeyError):
        getter({"adres": {}})
    assert compile_path("items.1.id")({"items": [{"id": 1}, {"id": 2}]}) == 2


def test_epoch_and_iso_change_times_parse_to_aware_datetimes():
    assert _parse_time(1767225600000, "epoch_ms", AMSTERDAM) == datetime(2026, 1, 1, tzinfo=UTC)
    assert _parse_time("1767225600", "epoch_s", AMSTERDAM) == datetime(2026, 1, 1, tzinfo=UTC)
    assert _parse_time("2026-01-01T01:00:00+01:00", "iso8601", AMSTERDAM) == datetime(2026, 1, 1, tzinfo=UTC)
    assert _parse_time("2026-07-01T12:00:00", "iso8601", AMSTERDAM) == datetime(2026, 7, 1, 10, tzinfo=UTC)


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)))
@example(datetime(1999, 10, 31, 0, 0, tzinfo=UTC))  # 02:00 in Amsterdam, in the repeated hour
def test_a_dutch_timestamp_we_send_reads_back_as_the_same_moment(moment):
    moment = moment.replace(microsecond=0)
    for fmt in (DUTCH, "iso8601", "epoch_ms", "epoch_s"):
        text = _format_time(moment, fmt, AMSTERDAM)
        parsed = _parse_time(text, fmt, AMSTERDAM)
        assert parsed.tzinfo is UTC
        # Local time without an offset is ambiguous for one hour a year (end of summer time).
        assert parsed == moment or (fmt == DUTCH and abs(parsed - moment) == timedelta(hours=1))


def _pages_from(connector, cursor):
    while cursor is not None:
        page = connector.fetch_page(cursor, None)
        yield page
        cursor = page.next_cursor
