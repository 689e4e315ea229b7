"""Delivery reports: a provider tells us, after the fact, that a message reached the client or not.

A provider posts one report per request to `/followup/webhooks/<provider>/delivery/`:

    POST body (JSON): {"message_id": "<the provider's id of the message>",
                       "event": "delivered" | "failed" | "bounced",
                       "at": "2026-11-23T10:15:00+00:00",          (optional; default: now)
                       "reason": "Mailbox unavailable (550 5.1.1)"}  (required for failed and bounced)
    X-Steward-Timestamp: <Unix seconds>
    X-Steward-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body, with the provider's secret>

A provider whose own format differs gets a small adapter that produces this; the verification, the
parsing and the recording below stay the same. The demo's providers (followup/demo_provider.py)
sign their reports with the demo secret and hand them to `delivery_report_receive`, the same function
the webhook view calls, so the demo exercises exactly the code a real provider's report goes through.

- **Authentic**: the signature covers the timestamp and the raw body, checked in constant time before
  anything is parsed; a timestamp outside the tolerance (five minutes) is refused, so a captured
  request cannot be replayed later. Within the tolerance a replay is harmless (next point).
- **Idempotent**: each event counts once per message (`message_track`); the same report twice, or a
  provider's retry, records it once and answers 200 both times, so the provider stops retrying.
- **Cheap**: one indexed read (the message by the provider's id) and one conditional UPDATE, plus an
  INSERT of the event when it is news.
- **Unknown message**: 404, so the provider retries: a report can arrive before our own record of the
  send has committed (the provider is faster than our worker). Logged without personal data.
- A bounce is a failure with its reason. What the status then shows (a late failure after delivery,
  a delivery after the client already clicked) is `message_track`'s rule.
"""

import datetime as dt
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass

from django.utils import timezone

from .. import conf
from ..models import Message
from .responses import message_track

logger = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Steward-Timestamp"
SIGNATURE_HEADER = "X-Steward-Signature"
SIGNATURE_SCHEME = "sha256="
EVENTS = {"delivered": "delivered", "failed": "failed", "bounced": "failed"}
MAX_REASON = 500
MAX_BODY = 16_384  # one report is a few hundred bytes; more is not a report


class ReportRejected(Exception):
    """The report is refused: `status` is the HTTP answer (400, 403, 404), `reason` is safe to show and log."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class DeliveryReport:
    provider_message_id: str
    event: str  # "delivered" or "failed" (a bounce is a failure)
    at: dt.datetime
    reason: str


def delivery_report_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """The X-Steward-Signature value for this timestamp and body (what a provider computes)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_SCHEME}{digest}"


def delivery_report_sign(*, provider: str, body: bytes, now: dt.datetime | None = None) -> dict[str, str]:
    """The headers a provider sends with `body` (the demo's providers and the tests use this)."""
    secret = conf.webhook_secrets().get(provider)
    if not secret:
        raise ReportRejected(404, "unknown provider")
    timestamp = str(int((now or timezone.now()).timestamp()))
    return {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: delivery_report_signature(secret=secret, timestamp=timestamp, body=body),
    }


def delivery_report_verify(
    *, provider: str, body: bytes, timestamp: str | None, signature: str | None, now: dt.datetime | None = None
) -> None:
    """Raise ReportRejected unless `provider` signed exactly this body within the tolerance."""
    secret = conf.webhook_secrets().get(provider)
    if not secret:
        raise ReportRejected(404, "unknown provider")
    if not timestamp or not signature:
        raise ReportRejected(403, "missing signature or timestamp")
    # Signature first: an attacker learns nothing about the clock from a forged request.
    expected = delivery_report_signature(secret=secret, timestamp=timestamp, body=body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise ReportRejected(403, "signature does not match")
    try:
        signed_at = dt.datetime.fromtimestamp(int(timestamp), tz=dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise ReportRejected(403, "unreadable timestamp") from None
    if abs((now or timezone.now()) - signed_at) > conf.webhook_tolerance():
        raise ReportRejected(403, "timestamp outside the tolerance (replayed or clock skew)")


def delivery_report_parse(body: bytes, *, now: dt.datetime | None = None) -> DeliveryReport:
    """The report in a verified body, or ReportRejected(400) saying what is wrong with it."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ReportRejected(400, "the body is not JSON") from None
    if not isinstance(payload, dict):
        raise ReportRejected(400, "the body is not a JSON object")
    provider_message_id = payload.get("message_id")
    if not isinstance(provider_message_id, str) or not provider_message_id.strip() or len(provider_message_id) > 200:
        raise ReportRejected(400, "message_id must be the provider's message id (a string of 1 to 200 characters)")
    event = EVENTS.get(payload.get("event")) if isinstance(payload.get("event"), str) else None
    if event is None:
        raise ReportRejected(400, f"event must be one of: {', '.join(sorted(EVENTS))}")
    reason = payload.get("reason", "")
    if not isinstance(reason, str):
        raise ReportRejected(400, "reason must be a string")
    reason = " ".join(reason.split())[:MAX_REASON]
    if event == "failed" and not reason:
        raise ReportRejected(400, "a failed or bounced report needs a reason")
    if payload.get("event") == "bounced":
        reason = f"Bounced: {reason}"
    at = now or timezone.now()
    if payload.get("at") is not None:
        try:
            at = dt.datetime.fromisoformat(payload["at"])
        except (TypeError, ValueError):
            raise ReportRejected(400, "at must be an ISO 8601 time with its UTC offset") from None
        if timezone.is_naive(at):
            raise ReportRejected(400, "at must be an ISO 8601 time with its UTC offset")
        # A report cannot be of the future; a provider's fast clock must not make its word outrank later ones.
        at = min(at, now or timezone.now())
    return DeliveryReport(provider_message_id=provider_message_id.strip(), event=event, at=at, reason=reason)


def delivery_report_receive(
    *, provider: str, body: bytes, timestamp: str | None, signature: str | None, now: dt.datetime | None = None
) -> bool:
    """Verify, parse and record one provider report; True when it was news, False for a repeat.

    Raises ReportRejected (403 forged or stale, 400 malformed, 404 unknown provider or message).
    """
    if len(body) > MAX_BODY:
        raise ReportRejected(400, "the body is too large for one report")
    delivery_report_verify(provider=provider, body=body, timestamp=timestamp, signature=signature, now=now)
    report = delivery_report_parse(body, now=now)
    found = list(Message.objects.filter(provider_reference=report.provider_message_id).only("pk").order_by()[:1])
    if not found:
        # The id is the provider's, not personal data; its hash keeps the log line short and opaque.
        logger.warning(
            "delivery report from %s for an unknown message (id sha256 %s…)",
            provider,
            hashlib.sha256(report.provider_message_id.encode()).hexdigest()[:12],
        )
        raise ReportRejected(404, "unknown message")
    return message_track(message=found[0], event=report.event, at=report.at, detail=report.reason)
