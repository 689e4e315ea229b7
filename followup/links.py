"""Signed, expiring links that let a client act on a message without logging in.

The token is the message's idempotency key, signed with the site's secret and a timestamp
(`django.core.signing`, salted for this use), so a tampered token is refused before the database is
asked and an old one is refused by its age alone. Like enrichment's confirmation links, the key
itself is random to anyone outside (a SHA-256), and the link only ever shows that message's client.
"""

import base64
import binascii

from django.core import signing
from django.urls import reverse

from . import conf
from .models import Message

SIGNING_SALT = "followup.client-link"


class LinkInvalid(Exception):
    """The link cannot be used; `reason` is "invalid" (tampered or unknown) or "expired"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SIGNING_SALT)


def link_token(message: Message) -> str:
    # The key, not the id: the link can be made before the row exists (planning renders the text
    # first), and it tells nothing about how many messages there are. Base64, so it fits an SMS.
    key = base64.urlsafe_b64encode(bytes.fromhex(message.idempotency_key)).decode().rstrip("=")
    return _signer().sign(key)


def link_url(message: Message, *, name: str = "followup_public:landing", absolute: bool = True) -> str:
    path = reverse(name, args=[link_token(message)])
    return f"{conf.site_url()}{path}" if absolute else path


def message_for_token(token: str) -> Message:
    """The message behind a link, or LinkInvalid saying why not."""
    try:
        encoded = _signer().unsign(token, max_age=conf.link_max_age())
    except signing.SignatureExpired as error:
        raise LinkInvalid("expired") from error
    except signing.BadSignature as error:
        raise LinkInvalid("invalid") from error
    try:
        key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).hex()
    except (ValueError, binascii.Error) as error:
        raise LinkInvalid("invalid") from error
    message = (
        Message.objects.select_related("client", "client__advisor", "playbook").filter(idempotency_key=key).first()
    )
    if message is None:
        raise LinkInvalid("invalid")
    return message
