"""The demo's providers, seen from their side: after dispatch they report what became of each message
they were handed, signed, through the very verification and recording a real provider's webhook
goes through (`services.delivery.delivery_report_receive`; no HTTP needed in-process).

What they were handed is what the demo backends wrote: the outbox's .eml files (email) and the
provider folder's JSON files (SMS, WhatsApp, push, portal). Each is reported once; a copy of the
report is kept under `<provider folder>/reported/` (reporting twice would be harmless: reports are
idempotent). What they decide, so the demo shows failures with their reasons:

- an SMS or WhatsApp message to a number that is not a mobile number (a landline) fails, and so
  does one in 20 to a mobile number that is no longer in service;
- one email in 25 bounces: the mailbox does not exist;
- these picks go by the message's key, so every demo run fails the same messages;
- everything else is delivered a few seconds after it was handed over.
"""

import datetime as dt
import email.parser
import email.policy
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import phonenumbers
from django.utils import timezone
from django.utils.translation import gettext as _

from . import conf
from .channels import _write_atomically
from .services.delivery import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ReportRejected,
    delivery_report_receive,
    delivery_report_sign,
)

FILE_CHANNELS = ("sms", "whatsapp", "push", "portal")
DELIVERY_TAKES = dt.timedelta(seconds=5)
# A report the app does not recognise (its record of the send not committed yet) is tried again on
# the next run, like a provider's retries, until the provider gives up.
GIVE_UP_AFTER = dt.timedelta(hours=1)
BOUNCE_ONE_IN = 25
OUT_OF_SERVICE_ONE_IN = 20


def _mobile_problem(number: str) -> str:
    """Why an SMS or WhatsApp message cannot reach `number` ("" if it can)."""
    try:
        parsed = phonenumbers.parse(number, "NL")
    except phonenumbers.NumberParseException:
        return _("Invalid phone number.")
    if not phonenumbers.is_valid_number(parsed):
        return _("Invalid phone number.")
    kind = phonenumbers.number_type(parsed)
    if kind not in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return _("Not a mobile number: a text message cannot reach it.")
    return ""


def _picked(key: str, one_in: int) -> bool:
    """One message in `one_in`, picked by its key (hex SHA-256), so every demo run picks the same ones."""
    try:
        return int(key[:8], 16) % one_in == 0
    except ValueError:
        return False


def _handed_over(path: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)


def _file_reports() -> Iterator[tuple[str, Path, dict]]:
    for channel in FILE_CHANNELS:
        for path in sorted((conf.provider_dir() / channel).glob("*.json")):
            payload = json.loads(path.read_text())
            report = {"message_id": f"file:{channel}/{path.stem}", "event": "delivered"}
            problem = ""
            if channel in ("sms", "whatsapp"):
                problem = _mobile_problem(payload.get("to", ""))
                if not problem and _picked(path.stem, OUT_OF_SERVICE_ONE_IN):
                    problem = _("Number not in service: the mobile network rejected the message.")
            if problem:
                report.update(event="failed", reason=problem)
            yield path.stem, path, report


def _email_reports() -> Iterator[tuple[str, Path, dict]]:
    parser = email.parser.BytesHeaderParser(policy=email.policy.default)
    for path in sorted(conf.outbox_dir().glob("*.eml")):
        with path.open("rb") as handle:
            headers = parser.parse(handle)
        message_id = str(headers.get("Message-ID", "")).strip()
        if not message_id:
            continue  # not a follow-up email (no id to report on)
        report = {"message_id": message_id, "event": "delivered"}
        if _picked(path.stem, BOUNCE_ONE_IN):
            report.update(event="bounced", reason=_("Mailbox unavailable (550 5.1.1 user unknown)."))
        yield path.stem, path, report


def demo_delivery_reports_send(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Report every message the demo's providers were handed and have not reported yet; counts per outcome."""
    now = now or timezone.now()
    reported = conf.provider_dir() / "reported"
    counts: Counter[str] = Counter()
    for key, path, report in [*_file_reports(), *_email_reports()]:
        done = reported / f"{key}.json"
        if done.exists():
            continue
        report["at"] = min(_handed_over(path) + DELIVERY_TAKES, now).isoformat()
        body = json.dumps(report).encode()
        headers = delivery_report_sign(provider=conf.DEMO_PROVIDER, body=body, now=now)
        try:
            delivery_report_receive(
                provider=conf.DEMO_PROVIDER,
                body=body,
                timestamp=headers[TIMESTAMP_HEADER],
                signature=headers[SIGNATURE_HEADER],
                now=now,
            )
        except ReportRejected as rejected:
            if rejected.status != 404:
                raise
            if now - _handed_over(path) < GIVE_UP_AFTER:
                counts["retry_later"] += 1
                continue
            counts["given_up"] += 1
        else:
            counts[report["event"]] += 1
        _write_atomically(done, body)
    return dict(counts)
