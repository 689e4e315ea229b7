"""Channel backends: how a message actually reaches the client, one pluggable class per channel.

A backend has two methods (see `ChannelBackend`): `send` hands the message to the provider and
returns the provider's reference, or raises ProviderError; `lookup` tells, after a worker died
mid-send, whether the provider already has the message (its reference), certainly has not (None) or
cannot say (UNKNOWN). Every backend receives the message's idempotency key, and the demo backends
store their output under that key, so they can always answer `lookup`. SMTP cannot: a send cut off
mid-call is then marked failed for a person to check, never sent twice (see services/sending.py).

Which class serves which channel is a setting (`followup.conf.channel_backends`), so a firm plugs in
its SMS or WhatsApp provider without touching dispatch.
"""

import json
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.core import mail
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.utils.html import escape
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from . import conf
from .models import CallTask, Message, PlaybookStep

UNKNOWN = object()


class ProviderError(Exception):
    """The provider refused the message; `permanent` errors are not retried (no address, say)."""

    def __init__(self, reason: str, *, permanent: bool = True):
        super().__init__(reason)
        self.reason, self.permanent = reason, permanent


class ChannelBackend:
    def send(self, message: Message, *, links: dict[str, str]) -> str:
        raise NotImplementedError

    def lookup(self, message: Message):
        return UNKNOWN


def channel_backend(channel: str) -> ChannelBackend:
    return import_string(conf.channel_backends()[channel])()


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file and rename: the file exists complete or not at all (what lookup trusts)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- Email ------------------------------------------------------------------------------------------


class OutboxEmailBackend(BaseEmailBackend):
    """The demo's mail server: one .eml file per email in the outbox folder, named by its key.

    The outbox page (/followup/outbox/) lists them. An email without a Steward key gets a random name.
    """

    def send_messages(self, email_messages):
        import uuid

        for email in email_messages:
            key = email.extra_headers.get("X-Steward-Key") or uuid.uuid4().hex
            _write_atomically(conf.outbox_dir() / f"{key}.eml", email.message().as_bytes())
        return len(email_messages)


class EmailChannel(ChannelBackend):
    """Email through Django's email backends (SMTP in production, the outbox in the demo)."""

    def send(self, message: Message, *, links: dict[str, str]) -> str:
        if not message.recipient:
            raise ProviderError(_("The client has no email address."))
        headers = {"Message-ID": f"<{message.idempotency_key}@steward.local>", "X-Steward-Key": message.idempotency_key}
        email = EmailMultiAlternatives(
            subject=message.subject, body=message.body, to=[message.recipient], headers=headers
        )
        pixel = links.get("open_pixel")
        if pixel:
            html = "<br>\n".join(escape(line) for line in message.body.splitlines())
            email.attach_alternative(
                f'<div>{html}</div><img src="{escape(pixel)}" width="1" height="1" alt="">', "text/html"
            )
        try:
            sent = get_connection(conf.email_backend()).send_messages([email])
        except OSError as error:  # SMTP refused or unreachable: try again later
            raise ProviderError(str(error), permanent=False) from error
        if not sent:
            raise ProviderError(_("The mail server did not accept the email."), permanent=False)
        return headers["Message-ID"]

    def lookup(self, message: Message):
        backend = conf.email_backend() or settings.EMAIL_BACKEND
        if backend.endswith("OutboxEmailBackend"):
            path = conf.outbox_dir() / f"{message.idempotency_key}.eml"
            return f"<{message.idempotency_key}@steward.local>" if path.exists() else None
        if backend.endswith("locmem.EmailBackend"):
            for email in getattr(mail, "outbox", []):
                if email.extra_headers.get("X-Steward-Key") == message.idempotency_key:
                    return email.extra_headers["Message-ID"]
            return None
        return UNKNOWN  # SMTP has no way to ask


# --- SMS, WhatsApp, push, portal: a provider interface with a file backend for the demo ------------


class FileProviderChannel(ChannelBackend):
    """Writes what a provider would be sent (JSON) to a file named by the key: the demo's provider."""

    def _path(self, message: Message) -> Path:
        return conf.provider_dir() / message.channel / f"{message.idempotency_key}.json"

    def send(self, message: Message, *, links: dict[str, str]) -> str:
        if message.channel in ("sms", "whatsapp") and not message.recipient:
            raise ProviderError(_("The client has no mobile number."))
        payload = {
            "channel": message.channel,
            "to": message.recipient or f"client:{message.client_id}",
            "subject": message.subject,
            "text": message.body,
            "idempotency_key": message.idempotency_key,
        }
        _write_atomically(self._path(message), json.dumps(payload, ensure_ascii=False, indent=2).encode())
        return f"file:{message.channel}/{message.idempotency_key}"

    def lookup(self, message: Message):
        return f"file:{message.channel}/{message.idempotency_key}" if self._path(message).exists() else None


# --- Letters: a PDF for the print room ------------------------------------------------------------


class LetterChannel(ChannelBackend):
    """Renders the letter as an A4 PDF (fpdf2) into the print folder, named by the key."""

    def _path(self, message: Message) -> Path:
        return conf.letters_dir() / f"{message.idempotency_key}.pdf"

    def send(self, message: Message, *, links: dict[str, str]) -> str:
        if not message.recipient:
            raise ProviderError(_("The client has no postal address."))
        _write_atomically(self._path(message), letter_pdf(message))
        return f"letter:{message.idempotency_key}"

    def lookup(self, message: Message):
        return f"letter:{message.idempotency_key}" if self._path(message).exists() else None


def _latin1(text: str) -> str:
    # The PDF's standard fonts speak Windows-1252; the euro sign is spelled out to be safe.
    return text.replace("€", "EUR").encode("latin-1", "replace").decode("latin-1")


def letter_pdf(message: Message) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_margins(25, 25, 25)
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 5, _latin1(message.recipient), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(15)
    pdf.set_font("Helvetica", style="B", size=12)
    pdf.multi_cell(0, 6, _latin1(message.subject), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 5, _latin1(message.body), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


# --- Phone calls and meeting agendas: work for people, inside Steward ----------------------------


class CallQueueChannel(ChannelBackend):
    """A phone call becomes a task in a call queue: the back office's or the client's advisor's."""

    def send(self, message: Message, *, links: dict[str, str]) -> str:
        assignee = message.client.advisor if message.handled_by == PlaybookStep.HandledBy.ADVISOR else None
        task, _created = CallTask.objects.get_or_create(
            message=message, defaults={"team_id": message.team_id, "assigned_to": assignee}
        )
        return f"call:{task.pk}"

    def lookup(self, message: Message):
        task = CallTask.objects.filter(message=message).first()
        return f"call:{task.pk}" if task else None


class MeetingAgendaChannel(ChannelBackend):
    """The alert goes on the agenda of the client's next meeting (the advisor's agenda page shows it)."""

    def send(self, message: Message, *, links: dict[str, str]) -> str:
        return "agenda"

    def lookup(self, message: Message):
        return None  # nothing left Steward: sending again changes nothing
