"""Stores that hold what a source sent, whole: encrypted at rest, shown masked, and nothing lost.

A quarantined record keeps the raw payload so a person can fix and replay it, and an uploaded file
is kept between its upload and its import. Either may hold a BSN or an IBAN in plain text (a CRM
sends fields Steward never maps), so like the client's BSN they are sealed in the database: a dump,
a backup or a replica holds ciphertext only. The keys are the client BSN field's (SECRET_KEY with
SALT_KEY, SECRET_KEY_FALLBACKS for rotation; trust.privacy_bsn), so one key rotation covers all.

Pages show these payloads with every valid BSN and IBAN masked (`personal_values_mask`); when a
person sends a corrected record back, the values still masked are put back from the stored original
(`personal_values_restore`), so fixing a postcode never costs the record its BSN.

Values written before sealing existed (plain JSON text or bytes) are read as they are; the
migration that introduced these fields seals them.
"""

from __future__ import annotations

import json
import re

from django.db import models

from .privacy_bsn import SEALED_PREFIX, _fernet
from .privacy_logging import BSN_MASK, IBAN_MASK, mask_personal_numbers, personal_numbers_found

_SEALED_BYTES = SEALED_PREFIX.encode()


def text_seal(text: str) -> str:
    return SEALED_PREFIX + _fernet().encrypt(text.encode()).decode()


def text_unseal(value: str) -> str:
    """The plain text of a sealed value; a value that is not sealed (older rows) comes back as it is."""
    if value.startswith(SEALED_PREFIX):
        return _fernet().decrypt(value[len(SEALED_PREFIX) :].encode()).decode()
    return value


class SealedJSONField(models.TextField):
    """A JSON document stored as one ciphertext (not per value: numbers stay numbers, keys are hidden
    too). None is stored as NULL. Only `isnull` lookups mean anything on it."""

    def get_prep_value(self, value):
        if value is None:
            return None
        return text_seal(json.dumps(value, ensure_ascii=False))

    def from_db_value(self, value, expression, connection):
        return None if value is None else json.loads(text_unseal(value))

    def to_python(self, value):
        # A string here comes from a fixture or a dump (value_to_string): the stored form.
        if isinstance(value, str):
            return json.loads(text_unseal(value))
        return value

    def value_to_string(self, obj):
        """dumpdata writes the ciphertext, and loaddata reads it back."""
        return self.get_prep_value(self.value_from_object(obj))


class SealedTextField(models.TextField):
    """Text stored as ciphertext; the empty string stays empty (a blank field is no secret)."""

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value or value.startswith(SEALED_PREFIX):
            return value
        return text_seal(value)

    def from_db_value(self, value, expression, connection):
        return text_unseal(value) if value else value

    def to_python(self, value):
        return text_unseal(value) if isinstance(value, str) and value else value

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))


class SealedBinaryField(models.BinaryField):
    """Bytes (an uploaded file) stored as ciphertext; None stays NULL."""

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is not None and not bytes(value).startswith(_SEALED_BYTES):
            value = _SEALED_BYTES + _fernet().encrypt(bytes(value))
        return super().get_db_prep_value(value, connection, prepared)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        value = bytes(value)
        if value.startswith(_SEALED_BYTES):
            return _fernet().decrypt(value[len(_SEALED_BYTES) :])
        return value


class MaskedTextField(models.TextField):
    """Text stored with every valid BSN and IBAN masked: for messages that may quote a value (a
    quarantine reason: "client.phone: ... (got 'NL91ABNA0417164300')"), recomputed when needed."""

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return mask_personal_numbers(value) if isinstance(value, str) else value


# --- Showing and taking back a payload ------------------------------------------------------------


def _masked_leaf(value):
    if isinstance(value, str):
        return mask_personal_numbers(value)
    if isinstance(value, int) and not isinstance(value, bool):  # a BSN may come as a JSON number
        masked = mask_personal_numbers(str(value))
        return masked if masked != str(value) else value
    return value


def personal_values_mask(value):
    """The JSON value with every valid BSN and IBAN in it masked (keys are left alone)."""
    if isinstance(value, dict):
        return {key: personal_values_mask(item) for key, item in value.items()}
    if isinstance(value, list):
        return [personal_values_mask(item) for item in value]
    return _masked_leaf(value)


_MISSING = object()


def personal_values_restore(submitted, original):
    """The corrected payload with each value a person left masked put back from the original.

    A value counts as left masked when it equals the masked form of the original value at the same
    place (same key path) and that differs from the original; anything typed anew is kept as typed.
    For an original that was kept as text (not JSON), masks are filled in from it in order.
    """
    if isinstance(original, str):
        return _restore_in_order(submitted, original)
    return _restore(submitted, original)


def _restore(submitted, original):
    if isinstance(submitted, dict) and isinstance(original, dict):
        return {key: _restore(item, original.get(key, _MISSING)) for key, item in submitted.items()}
    if isinstance(submitted, list) and isinstance(original, list):
        return [
            _restore(item, original[index] if index < len(original) else _MISSING)
            for index, item in enumerate(submitted)
        ]
    if original is _MISSING or isinstance(original, dict | list):
        return submitted
    masked = _masked_leaf(original)
    return original if masked == submitted and masked != original else submitted


_MASKS = re.compile(rf"{re.escape(BSN_MASK)}|{re.escape(IBAN_MASK)}")


def _restore_in_order(submitted, original_text: str):
    # The i-th [BSN] sent back is the i-th BSN of the original, and the same for IBANs.
    queues = {marker: iter(values) for marker, values in personal_numbers_found(original_text).items()}

    def fill(value):
        if isinstance(value, dict):
            return {key: fill(item) for key, item in value.items()}
        if isinstance(value, list):
            return [fill(item) for item in value]
        if isinstance(value, str):
            return _MASKS.sub(lambda match: next(queues[match.group()], match.group()), value)
        return value

    return fill(submitted)
