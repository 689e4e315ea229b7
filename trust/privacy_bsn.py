"""The BSN (citizen service number): processed only with a legal basis, and never in plain text at rest.

- Off by default (settings.STEWARD_BSN_ENABLED); a firm with a basis in law switches it on and
  names the basis (STEWARD_BSN_LEGAL_BASIS, UAVG art. 46).
- Encrypted at rest on the client (EncryptedCharField on clients.Client.bsn) and sealed in the
  copies sources keep (ingestion.SourceRecord.values: `bsn_seal`), so a database dump holds only
  ciphertext.
- Found by a blind index: HMAC-SHA256 of the normalised number under STEWARD_BSN_INDEX_KEY, a key
  of its own (never SECRET_KEY: rotating one must not break the other). A plain SHA-256 of a
  nine-digit number is reversed in seconds by trying them all; an HMAC is not without the key.
- Masked in every log record (trust.privacy_logging) and in error reports.

This module imports no models, so the unified view (clients) and the sync (ingestion) can use it.
"""

import hashlib
import hmac
import re

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

SEALED_PREFIX = "sealed:v1:"
BSN_TARGET = "client.bsn"
NINE_DIGITS = re.compile(r"^\d{9}$")


def bsn_normalise(value: str | None) -> str:
    """Digits only, left-padded to nine (an 8-digit BSN is written with a leading zero)."""
    digits = re.sub(r"\D", "", value or "")
    return digits.zfill(9) if 8 <= len(digits) <= 9 else digits


def _index_key() -> bytes:
    key = getattr(settings, "STEWARD_BSN_INDEX_KEY", "")
    if not key:
        raise ImproperlyConfigured("STEWARD_BSN_INDEX_KEY is not set: the BSN blind index needs a key of its own.")
    if key == settings.SECRET_KEY:
        raise ImproperlyConfigured("STEWARD_BSN_INDEX_KEY must differ from SECRET_KEY.")
    return key.encode()


def bsn_blind_index(value: str | None) -> str:
    """HMAC-SHA256 (hex) of the normalised BSN under the index key; "" for no BSN."""
    number = bsn_normalise(value)
    if not number:
        return ""
    return hmac.new(_index_key(), number.encode(), hashlib.sha256).hexdigest()


def bsn_search_q(query: str):
    """The filter that finds a client by BSN through the blind index, or None when the text is no BSN.

    Only where the firm processes BSNs: otherwise a nine-digit search is no BSN search at all.
    """
    from django.db.models import Q

    if not settings.STEWARD_BSN_ENABLED or not NINE_DIGITS.match(bsn_normalise(query.strip())):
        return None
    return Q(bsn_blind_index=bsn_blind_index(query))


# --- Sealed copies in source records --------------------------------------------------------------


def _fernet():
    # The client's own BSN field's keys (SECRET_KEY and SALT_KEY, with SECRET_KEY_FALLBACKS), so key
    # rotation works the same way for both; the field caches them (deriving costs 100,000 rounds).
    from django.apps import apps

    return apps.get_model("clients", "Client")._meta.get_field("bsn").f


def bsn_seal(value: str) -> str:
    """A BSN to store inside JSON (a source record's values): ciphertext with a marker."""
    if not value or str(value).startswith(SEALED_PREFIX):
        return value
    return SEALED_PREFIX + _fernet().encrypt(str(value).encode()).decode()


def bsn_unseal(value):
    """The BSN from a sealed value; a value that is not sealed (older rows) comes back as it is."""
    if isinstance(value, str) and value.startswith(SEALED_PREFIX):
        return _fernet().decrypt(value[len(SEALED_PREFIX) :].encode()).decode()
    return value


def source_values_protect(values: dict) -> dict:
    """A source record's mapped values as they may be stored: without the BSN when the firm does not
    process it (no basis: not kept at all), sealed when it does."""
    if BSN_TARGET not in values:
        return values
    protected = dict(values)
    if not settings.STEWARD_BSN_ENABLED or not protected[BSN_TARGET]:
        protected.pop(BSN_TARGET)
    else:
        protected[BSN_TARGET] = bsn_seal(protected[BSN_TARGET])
    return protected


def source_values_for_hash(values: dict) -> dict:
    """The values a content hash is computed over: a sealed BSN by its blind index (the ciphertext
    changes on every sealing; the index does not, so an unchanged record still writes nothing)."""
    if BSN_TARGET not in values:
        return values
    return {**values, BSN_TARGET: "index:" + bsn_blind_index(bsn_unseal(values[BSN_TARGET]))}


def bsn_mask(value: str | None) -> str:
    """The last four digits only, as shown to someone who may not see the whole number."""
    return f"*****{value[-4:]}" if value else ""


@checks.register(checks.Tags.security)
def bsn_settings_check(app_configs=None, **kwargs):
    """A firm that switches the BSN on must state its basis and give the blind index its own key."""
    if not settings.STEWARD_BSN_ENABLED:
        return []
    problems = []
    if not settings.STEWARD_BSN_LEGAL_BASIS:
        problems.append(
            checks.Error("STEWARD_BSN_ENABLED needs STEWARD_BSN_LEGAL_BASIS (UAVG art. 46).", id="steward.E101")
        )
    key = getattr(settings, "STEWARD_BSN_INDEX_KEY", "")
    if not key or key == settings.SECRET_KEY:
        problems.append(
            checks.Error("STEWARD_BSN_INDEX_KEY must be set, and differ from SECRET_KEY.", id="steward.E102")
        )
    return problems
