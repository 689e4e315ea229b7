"""HubSpot webhook signature v3 and the event payload, then a targeted re-sync against the fake."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingestion.connectors import HubSpotConnector
from ingestion.connectors.hubspot_webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookRejected,
    contact_ids_to_resync,
    parse_events,
    sign_v3,
    verify_v3,
)
from ingestion.fake_sources import FakeHubSpot, dutch_contacts, running
from ingestion.fake_sources.hubspot import TEST_TOKEN

SECRET = "7c1e5e4a-0d4b-4d8e-9a59-2f1b3c4d5e6f"
URI = "https://steward.example.nl/ingestion/webhooks/hubspot/"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def millis(moment):
    return str((moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1))


def event(object_id, event_id, subscription_type="contact.propertyChange", **extra):
    return {
        "eventId": event_id,
        "subscriptionId": 2481,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": int(millis(NOW - timedelta(seconds=30))),
        "subscriptionType": subscription_type,
        "attemptNumber": 0,
        "objectId": object_id,
        "changeSource": "CRM",
        **extra,
    }


def signed(body, *, secret=SECRET, sent_at=NOW, method="POST", uri=URI):
    timestamp = millis(sent_at)
    signature = sign_v3(client_secret=secret, method=method, uri=uri, body=body, timestamp=timestamp)
    return {SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: timestamp}


BODY = json.dumps([event(1001, 101), event(1002, 102)]).encode()


def test_the_signature_is_hmac_sha256_over_method_uri_body_timestamp_in_base64():
    timestamp = millis(NOW)
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), b"POST" + URI.encode() + BODY + timestamp.encode(), hashlib.sha256).digest()
    ).decode()
    assert sign_v3(client_secret=SECRET, method="POST", uri=URI, body=BODY, timestamp=timestamp) == expected


def test_a_valid_signature_is_accepted():
    verify_v3(client_secret=SECRET, method="POST", uri=URI, body=BODY, headers=signed(BODY), now=NOW)


def test_header_names_are_matched_case_insensitively():
    headers = {name.lower(): value for name, value in signed(BODY).items()}
    verify_v3(client_secret=SECRET, method="POST", uri=URI, body=BODY, headers=headers, now=NOW)


def test_a_tampered_body_is_rejected():
    tampered = BODY.replace(b"1002", b"1003")
    with pytest.raises(WebhookRejected, match="signature"):
        verify_v3(client_secret=SECRET, method="POST", uri=URI, body=tampered, headers=signed(BODY), now=NOW)


def test_a_signature_made_with_another_secret_is_rejected():
    headers = signed(BODY, secret="someone-elses-secret")
    with pytest.raises(WebhookRejected, match="signature"):
        verify_v3(client_secret=SECRET, method="POST", uri=URI, body=BODY, headers=headers, now=NOW)


def test_a_request_sent_to_another_uri_is_rejected():
    headers = signed(BODY, uri="https://elsewhere.example/hook")
    with pytest.raises(WebhookRejected, match="signature"):
        verify_v3(client_secret=SECRET, method="POST", uri=URI, body=BODY, headers=headers, now=NOW)


def test_a_timestamp_older_than_five_minutes_is_rejected_even_when_signed():
    headers = signed(BODY, sent_at=NOW - timedelta(minutes=5, seconds=1))
    with pytest.raises(WebhookRejected, match="older"):
        verify_v3(client_secret=SECRET, method="POST", uri=URI, body=BODY, headers=headers, now=NOW)
    recent = signed(BODY, sent_at=NOW - timedelta(minutes=4, seconds=59))
    verify_v3(client_secret=SECRET, method="POST", uri=URI, body=BODY, headers=recent, now=NOW)


def test_a_timestamp_far_in_the_future_is_rejected():
    headers = signed(BODY, sent_at=NOW + timedelta(minutes=10))
    with pytest.raises(WebhookRejected, match="future"):
        verify_v3(client_secret=SECRET, method="POST", uri=URI, body=BODY, headers=headers, now=NOW)


@pytest.mark.parametrize(
    "headers",
    [{}, {SIGNATURE_HEADER: "abc"}, {SIGNATURE_HEADER: "abc", TIMESTAMP_HEADER: "gisteren"}],
    ids=["none", "no-timestamp", "unreadable-timestamp"],
)
def test_missing_or_unreadable_headers_are_rejected(headers):
    with pytest.raises(WebhookRejected):
        verify_v3(client_secret=SECRET, method="POST", uri=URI, body=BODY, headers=headers, now=NOW)


def test_a_uri_with_escapes_verifies_as_hubspot_documents_it_decoded():
    escaped = "https://steward.example.nl/hook%3Fsource=hubspot%3Aeu1%2Cnl"
    decoded = "https://steward.example.nl/hook?source=hubspot:eu1,nl"
    headers = signed(BODY, uri=decoded)
    verify_v3(client_secret=SECRET, method="POST", uri=escaped, body=BODY, headers=headers, now=NOW)


def test_events_become_contact_ids_once_each():
    body = json.dumps(
        [
            event(1001, 1),
            event(1001, 2, propertyName="email"),
            event(1002, 3, "contact.creation"),
            event(555, 4, "deal.propertyChange"),
            event(1003, 5, "object.propertyChange", objectTypeId="0-1"),
            event(77, 6, "object.propertyChange", objectTypeId="0-3"),
            event(1004, 7, "contact.deletion"),
        ]
    )
    seen = set()
    ids = contact_ids_to_resync(parse_events(body), claim_event=_claim_in(seen))
    assert ids == ["1001", "1002", "1003", "1004"]
    assert len(seen) == 5  # only contact events are claimed


def test_a_replayed_delivery_is_ignored_by_its_event_ids():
    seen = set()
    first = [event(1001, 101), event(1002, 102)]
    retry = [dict(item, attemptNumber=1) for item in first]  # HubSpot's redelivery
    assert contact_ids_to_resync(parse_events(json.dumps(first)), claim_event=_claim_in(seen)) == [
        "1001",
        "1002",
    ]
    assert contact_ids_to_resync(parse_events(json.dumps(retry)), claim_event=_claim_in(seen)) == []
    fresh = [event(1001, 103)]
    assert contact_ids_to_resync(parse_events(json.dumps(fresh)), claim_event=_claim_in(seen)) == ["1001"]


def test_a_merge_resyncs_every_contact_involved():
    merge = event(1001, 9, "contact.merge", mergedObjectIds=[1001, 1017], primaryObjectId=1017, newObjectId=1017)
    assert contact_ids_to_resync(parse_events(json.dumps([merge])), claim_event=lambda key: True) == [
        "1001",
        "1017",
    ]


def test_a_malformed_event_is_skipped_and_the_rest_kept():
    body = json.dumps([{"eventId": 1, "subscriptionType": "contact.creation"}, event(1002, 2), "onzin"])
    assert [e.object_id for e in parse_events(body)] == ["1002"]


@pytest.mark.parametrize("body", [b"niet json", b'{"objectId": 1}'], ids=["not-json", "not-a-list"])
def test_a_body_that_is_not_a_list_of_events_is_rejected(body):
    with pytest.raises(WebhookRejected):
        parse_events(body)


def test_a_verified_webhook_resyncs_the_contacts_from_hubspot():
    hubspot = FakeHubSpot(dutch_contacts(20))
    hubspot.update_contact("1005", modified_at=NOW, city="Zwolle")
    hubspot.archive_contact("1009", archived_at=NOW)
    body = json.dumps([event(1005, 1), event(1009, 2, "contact.deletion")]).encode()
    headers = signed(body)

    verify_v3(client_secret=SECRET, method="POST", uri=URI, body=body, headers=headers, now=NOW)
    ids = contact_ids_to_resync(parse_events(body), claim_event=_claim_in(set()))
    with (
        running(hubspot) as base_url,
        HubSpotConnector({"base_url": base_url}, {"access_token": TEST_TOKEN}) as connector,
    ):
        page = connector.fetch_records(ids)
    by_id = {record.record_id: record for record in page.records}
    assert by_id["1005"].data["city"] == "Zwolle" and not by_id["1005"].archived
    assert by_id["1009"].archived and by_id["1009"].changed_at == NOW


@given(body=st.binary(max_size=500), secret=st.text(min_size=1, max_size=40), flip=st.integers(min_value=0))
def test_any_signed_body_verifies_and_any_changed_byte_does_not(body, secret, flip):
    headers = signed(body, secret=secret)
    verify_v3(client_secret=secret, method="POST", uri=URI, body=body, headers=headers, now=NOW)
    if body:
        position = flip % len(body)
        changed = body[:position] + bytes([body[position] ^ 0x01]) + body[position + 1 :]
        with pytest.raises(WebhookRejected):
            verify_v3(client_secret=secret, method="POST", uri=URI, body=changed, headers=headers, now=NOW)


def _claim_in(seen):
    def claim(key):
        if key in seen:
            return False
        seen.add(key)
        return True

    return claim
