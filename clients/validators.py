"""Validators for Dutch client data."""

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.nl import bsn as bsn_number


def validate_bsn(value: str) -> None:
    """A BSN has nine digits and passes the eleven-test (elfproef)."""
    try:
        bsn_number.validate(value)
    except StdnumValidationError as error:
        raise ValidationError(
            _("%(value)s is not a valid BSN: it must be nine digits that pass the eleven-test."),
            params={"value": value},
            code="invalid_bsn",
        ) from error


def normalise_phone_number(value: str) -> str:
    """A phone number in E.164 form (+31612345678); Dutch numbers may be given without +31."""
    try:
        number = phonenumbers.parse(value, "NL")
    except phonenumbers.NumberParseException as error:
        raise ValidationError(
            _("%(value)s is not a phone number."), params={"value": value}, code="invalid_phone"
        ) from error
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("%(value)s is not a valid phone number."), params={"value": value}, code="invalid_phone"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_phone_number(value: str) -> None:
    normalise_phone_number(value)


def normalise_postcode(value: str) -> str:
    """'1234ab' and '1234 AB' are the same postcode; store it as '1234 AB'."""
    compact = "".join(value.split()).upper()
    return f"{compact[:4]} {compact[4:]}" if len(compact) == 6 else value.strip().upper()
