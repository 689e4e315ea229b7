"""HubSpot webhooks: verify the v3 signature, then turn events into contact ids to re-sync.

Pure functions, no storage: the Django view passes the raw request in and gets ids out. A webhook
only says *that* a contact changed; the sync engine fetches its current state with
`HubSpotConnector.fetch_records`, so events arriving out of order cannot regress a record.

Replay protection has two layers: the signed timestamp must be under five minutes old (HubSpot's
rule), and each event is claimed once through a callback the caller backs with storage.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .base import utc_now

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
MAX_AGE = timedelta(minutes=5)
# HubSpot's docs ask to decode these percent-escapes in the URI before signing.
_URI_DECODES = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
CONTACT_OBJECT_TYPE_ID = "0-1"  # generic `object.*` subscriptions name contacts this way


class WebhookRejected(Exception):
    """The request must be answered 401/400 and ignored; `reason` says why (safe to log)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sign_v3(*, client_secret: str, method: str, uri: str, body: bytes | str, timestamp: str) -> str:
    """The X-HubSpot-Signature-v3 value: base64(HMAC-SHA256(secret, method+uri+body+timestamp))."""
    raw_body = body.encode() if isinstance(body, str) else body
    message = method.upper().encode() + uri.encode() + raw_body + timestamp.encode()
    digest = hmac.new(client_secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_v3(
    *,
    client_secret: str,
    method: str,
    uri: str,
    body: bytes | str,
    headers: Mapping[str, str],
    now: datetime | None = None,
    max_age: timedelta = MAX_AGE,
) -> None:
    """Raise WebhookRejected unless HubSpot signed exactly this request in the last five minutes.

    `uri` is the full URL HubSpot called (`request.build_absolute_uri()` behind a proxy that
    keeps the scheme and host); `body` is the raw body, before any JSON parsing.
    """
    signature = _header(headers, SIGNATURE_HEADER)
    timestamp = _header(headers, TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise WebhookRejected("missing signature or timestamp header")
    try:
        sent_at = datetime.fromtimestamp(int(timestamp) / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise WebhookRejected("unreadable timestamp") from None
    age = (now or utc_now()) - sent_at
    if age > max_age:
        raise WebhookRejected("timestamp older than five minutes")
    if age < -max_age:
        raise WebhookRejected("timestamp in the future")
    # HubSpot documents decoding some escapes in the URI; its own Python SDK signs the URI as
    # received. Both candidates need the secret, so accepting either costs nothing.
    candidates = {uri, _decode_uri(uri)}
    for candidate in candidates:
        expected = sign_v3(client_secret=client_secret, method=method, uri=candidate, body=body, timestamp=timestamp)
        if hmac.compare_digest(expected.encode(), signature.strip().encode()):
            return
    raise WebhookRejected("signature does not match")


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One event of a HubSpot webhook delivery."""

    event_id: str
    subscription_type: str
    object_id: str
    occurred_at: datetime
    raw: dict[str, Any]

    @property
    def replay_key(self) -> str:
        """Identifies the event across HubSpot's redeliveries (which only bump attemptNumber).

        eventId alone is not documented as unique, so the key adds what pins the event down.
        """
        raw = self.raw
        return ":".join(
            str(part)
            for part in (
                raw.get("portalId", ""),
                raw.get("subscriptionId", ""),
                self.event_id,
                self.subscription_type,
                self.object_id,
                raw.get("occurredAt", ""),
            )
        )

    @property
    def is_contact(self) -> bool:
        if self.subscription_type.startswith("contact."):
            return True
        return self.subscription_type.startswith("object.") and (
            str(self.raw.get("objectTypeId", "")) == CONTACT_OBJECT_TYPE_ID
        )


def parse_events(body: bytes | str) -> list[WebhookEvent]:
    """The events in a delivery (a JSON list). Malformed single events are skipped and logged."""
    try:
        payload = json.loads(body)
    except ValueError:
        raise WebhookRejected("body is not JSON") from None
    if not isinstance(payload, list):
        raise WebhookRejected("body is not a list of events")
    events = []
    for raw in payload:
        try:
            events.append(_event(raw))
        except (KeyError, TypeError, ValueError, OverflowError, OSError) as exc:
            logger.warning("Skipped a malformed HubSpot webhook event (%s)", type(exc).__name__)
    return events


def contact_ids_to_resync(events: Iterable[WebhookEvent], *, claim_event: Callable[[str], bool]) -> list[str]:
    """Contact ids to re-fetch, each once, from events not seen before.

    `claim_event(replay_key)` must atomically record the key and return True only the first
    time (e.g. `INSERT ... ON CONFLICT DO NOTHING` and check the row count). Claim in the same
    transaction that enqueues the re-sync, so a failed enqueue lets HubSpot's retry through.
    Merges name every contact involved; deletions are included because `fetch_records` reports
    them (archived, or absent when purged).
    """
    ids: dict[str, None] = {}
    for event in events:
        if not event.is_contact:
            continue
        if not claim_event(event.replay_key):
            logger.info("Ignored a replayed HubSpot webhook event %s", event.event_id)
            continue
        ids[event.object_id] = None
        if event.subscription_type.endswith(".merge"):
            merged = event.raw.get("mergedObjectIds") or []
            for key in ("primaryObjectId", "newObjectId"):
                if event.raw.get(key) is not None:
                    merged = [*merged, event.raw[key]]
            for object_id in merged:
                ids[str(object_id)] = None
    return list(ids)


def _event(raw: Any) -> WebhookEvent:
    if not isinstance(raw, dict):
        raise TypeError("event is not an object")
    object_id = raw["objectId"]
    event_id = raw["eventId"]
    subscription_type = raw["subscriptionType"]
    if isinstance(object_id, bool) or not isinstance(object_id, (int, str)) or str(object_id) == "":
        raise ValueError("objectId")
    if not isinstance(subscription_type, str):
        raise TypeError("subscriptionType")
    occurred_at = datetime.fromtimestamp(int(raw["occurredAt"]) / 1000, tz=UTC)
    return WebhookEvent(
        event_id=str(event_id),
        subscription_type=subscription_type,
        object_id=str(object_id),
        occurred_at=occurred_at,
        raw=raw,
    )


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, candidate in headers.items():
        if key.lower() == lowered:
            return candidate
    return None


def _decode_uri(uri: str) -> str:
    for escape, char in _URI_DECODES.items():
        uri = uri.replace(escape, char).replace(escape.lower(), char)
    return uri
