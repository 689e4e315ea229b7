"""The shared HTTP layer against a real local server: retries, waits, failures, no leaked secrets."""

import itertools
import logging
import traceback
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingestion.connectors.base import (
    AuthenticationFailed,
    PermanentSourceError,
    RateLimited,
    TransientSourceError,
)
from ingestion.connectors.http import ApiKeyHeader, HttpClient, parse_retry_after, redact_url
from ingestion.fake_sources import (
    FakeAdvisoryTool,
    Fault,
    ManualClock,
    RateLimit,
    advisory_relations,
    running,
)
from ingestion.fake_sources.advisory import RELATIONS, TEST_API_KEY

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def tool(clock):
    server = FakeAdvisoryTool(advisory_relations(5), clock=clock.monotonic)
    with running(server):
        yield server


def client_for(server, clock, **options):
    settings = {"timeout": 2.0, "max_attempts": 4, "backoff_base": 0.5, "backoff_max": 8.0}
    settings.update(options)
    return HttpClient(
        base_url=server.base_url,
        auth=ApiKeyHeader("X-Api-Key", TEST_API_KEY),
        sleep=clock.sleep,
        clock=clock.monotonic,
        now=lambda: NOW,
        **settings,
    )


def gaps(server):
    """Seconds between consecutive requests, as the server saw them."""
    times = [request.at for request in server.requests]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def test_429_with_retry_after_waits_at_least_that_long_then_succeeds(tool, clock):
    tool.fail_next(Fault.status_code(429, retry_after=7))
    with client_for(tool, clock) as client:
        response = client.request_json("GET", RELATIONS)
    assert len(response.data["data"]["items"]) == 5
    assert len(tool.requests) == 2
    assert gaps(tool)[0] >= 7
    assert clock.sleeps[0] >= 7


def test_retry_after_as_an_http_date_is_honoured(tool, clock):
    tool.fail_next(Fault.status_code(429, retry_after=format_datetime(NOW + timedelta(seconds=30), usegmt=True)))
    with client_for(tool, clock, max_retry_after=60) as client:
        client.request_json("GET", RELATIONS)
    assert gaps(tool)[0] >= 30


def test_503_with_retry_after_is_honoured_too(tool, clock):
    tool.fail_next(Fault.status_code(503, retry_after=4))
    with client_for(tool, clock) as client:
        client.request_json("GET", RELATIONS)
    assert gaps(tool)[0] >= 4


def test_429_without_retry_after_backs_off_exponentially(tool, clock):
    tool.fail_next(Fault.status_code(429), Fault.status_code(429), Fault.status_code(429))
    with client_for(tool, clock) as client:
        client.request_json("GET", RELATIONS)
    waits = gaps(tool)
    assert len(waits) == 3
    # base 0.5 doubling, each with jitter within [half, full] of its step
    assert 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 1.0 and 1.0 <= waits[2] <= 2.0


def test_a_500_then_success(tool, clock):
    tool.fail_next(Fault.status_code(500))
    with client_for(tool, clock) as client:
        assert client.request_json("GET", RELATIONS).status_code == 200
    assert len(tool.requests) == 2


def test_502_and_503_then_success(tool, clock):
    tool.fail_next(Fault.status_code(502), Fault.status_code(503))
    with client_for(tool, clock) as client:
        assert client.request_json("GET", RELATIONS).status_code == 200
    assert len(tool.requests) == 3


def test_a_timeout_then_success(tool, clock):
    tool.fail_next(Fault.hang(3.0))
    with client_for(tool, clock, timeout=0.2) as client:
        assert client.request_json("GET", RELATIONS).status_code == 200
    assert len(tool.requests) == 2


@pytest.mark.parametrize("fault", [Fault.truncated_body(), Fault.disconnect()], ids=["truncated", "disconnect"])
def test_a_cut_off_response_is_retried(tool, clock, fault):
    tool.fail_next(fault)
    with client_for(tool, clock) as client:
        assert client.request_json("GET", RELATIONS).status_code == 200
    assert len(tool.requests) == 2


@pytest.mark.parametrize("fault", [Fault.malformed_json(), Fault.html()], ids=["malformed-json", "html-200"])
def test_a_body_that_is_not_json_fails_as_transient_after_bounded_retries(tool, clock, fault):
    tool.fail_next(*[fault] * 10)
    with client_for(tool, clock) as client, pytest.raises(TransientSourceError, match="JSON"):
        client.request_json("GET", RELATIONS)
    assert len(tool.requests) == 4  # max_attempts, then give up


def test_server_errors_that_persist_end_in_a_transient_error(tool, clock):
    tool.fail_next(*[Fault.status_code(500)] * 10)
    with client_for(tool, clock, max_attempts=3) as client, pytest.raises(TransientSourceError) as caught:
        client.request_json("GET", RELATIONS)
    assert caught.value.retryable
    assert len(tool.requests) == 3


def test_401_fails_at_once_without_retry(tool, clock):
    tool.fail_next(Fault.status_code(401))
    with client_for(tool, clock) as client, pytest.raises(AuthenticationFailed):
        client.request_json("GET", RELATIONS)
    assert len(tool.requests) == 1
    assert clock.sleeps == []


def test_403_is_an_authentication_failure_too(tool, clock):
    tool.fail_next(Fault.status_code(403))
    with client_for(tool, clock) as client, pytest.raises(AuthenticationFailed):
        client.request_json("GET", RELATIONS)
    assert len(tool.requests) == 1


def test_a_400_is_permanent_and_not_retried(tool, clock):
    tool.fail_next(Fault.status_code(400, body='{"message": "ongeldige parameter"}'))
    with client_for(tool, clock) as client, pytest.raises(PermanentSourceError, match="ongeldige parameter"):
        client.request_json("GET", RELATIONS)
    assert len(tool.requests) == 1


def test_a_long_retry_after_is_not_slept_through_and_blocks_further_requests(tool, clock):
    tool.fail_next(Fault.status_code(429, retry_after=3600))
    with client_for(tool, clock, max_retry_after=120) as client:
        with pytest.raises(RateLimited) as caught:
            client.request_json("GET", RELATIONS)
        assert caught.value.retry_after_seconds == 3600
        assert clock.sleeps == []
        # The next call must not reach the source before the hour is over.
        with pytest.raises(RateLimited):
            client.request_json("GET", RELATIONS)
        assert len(tool.requests) == 1
        clock.advance(3600)
        assert client.request_json("GET", RELATIONS).status_code == 200
    assert len(tool.requests) == 2


def test_rate_limited_after_the_last_attempt_reports_retry_after(tool, clock):
    tool.fail_next(*[Fault.status_code(429, retry_after=2)] * 5)
    with client_for(tool, clock, max_attempts=2) as client, pytest.raises(RateLimited) as caught:
        client.request_json("GET", RELATIONS)
    assert caught.value.retry_after_seconds == 2
    assert len(tool.requests) == 2


def test_the_sources_own_rate_limit_window_is_waited_out(clock):
    server = FakeAdvisoryTool(advisory_relations(3), rate_limit=RateLimit(3, 10, "10"), clock=clock.monotonic)
    with running(server), client_for(server, clock, max_attempts=3) as client:
        for _ in range(7):
            client.request_json("GET", RELATIONS)
    assert len(server.requests) == 9  # 7 answers and 2 refusals, one at the start of each full window
    assert sum(1 for s in clock.sleeps if s >= 10) == 2


def test_credentials_never_appear_in_errors_or_logs(tool, clock, caplog):
    caplog.set_level(logging.DEBUG)
    # A badly behaved source echoes the key back in its error body.
    echo = f'{{"message": "invalid key {TEST_API_KEY} for this account"}}'
    tool.fail_next(Fault.status_code(500, body=echo), Fault.status_code(503), Fault.status_code(401, body=echo))
    with client_for(tool, clock) as client:
        with pytest.raises(AuthenticationFailed) as caught:
            client.request_json("GET", RELATIONS, params={"api_key": TEST_API_KEY, "q": "x"})
        texts = [
            str(caught.value),
            repr(caught.value),
            "".join(traceback.format_exception(caught.value)),
            caplog.text,
            repr(client),
        ]
    assert tool.requests[0].headers["X-Api-Key"] == TEST_API_KEY  # it was really sent
    for text in texts:
        assert TEST_API_KEY not in text
    assert "[REDACTED]" in str(caught.value)


def test_redact_url_masks_credential_like_parameters_and_userinfo():
    url = "https://user:pw@api.example.nl/v1/x?hapikey=abc123&access_token=t0k&page=2"
    redacted = redact_url(url)
    assert "abc123" not in redacted and "t0k" not in redacted and "pw" not in redacted
    assert "page=2" in redacted


@given(st.integers(min_value=0, max_value=10**7))
def test_retry_after_in_seconds_parses_exactly(seconds):
    assert parse_retry_after(str(seconds), now=NOW) == seconds
    assert parse_retry_after(f"  {seconds} ", now=NOW) == seconds


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_retry_after_as_a_date_is_the_time_until_then_never_negative(moment):
    moment = moment.replace(microsecond=0)
    expected = max(0.0, (moment - NOW).total_seconds())
    assert parse_retry_after(format_datetime(moment, usegmt=True), now=NOW) == expected


@given(st.text(max_size=40))
def test_retry_after_never_raises_and_never_goes_negative(text):
    result = parse_retry_after(text, now=NOW)
    assert result is None or result >= 0
