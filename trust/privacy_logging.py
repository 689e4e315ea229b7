"""BSNs and IBANs never reach a log line or an error report in plain text (defence in depth).

Code should not log them in the first place (trust/tests/test_bsn_never_leaks.py proves the flows
we know); these filters catch what slips through anyway: a value in an exception message, a local
variable in a traceback, a query string. A nine-digit number is masked only when it passes the BSN
eleven-test, and an IBAN only when its check digits are right, so ids and amounts stay readable.
"""

import logging
import re

from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter
from stdnum import iban as iban_number
from stdnum.nl import bsn as bsn_number

BSN_MASK = "[BSN]"
IBAN_MASK = "[IBAN]"

# Nine digits, or 4.2.3 with dots or spaces, not part of a longer number.
_BSN = re.compile(r"(?<![\d.])(\d{4}[. ]?\d{2}[. ]?\d{3})(?![\d])")
# Two letters, two check digits, then 11 to 30 letters or digits, in groups of four or not.
_IBAN = re.compile(r"\b([A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30})\b")


def _bsn(match: re.Match) -> str:
    return BSN_MASK if bsn_number.is_valid(re.sub(r"\D", "", match.group(1))) else match.group(0)


def _iban(match: re.Match) -> str:
    return IBAN_MASK if iban_number.is_valid(match.group(1)) else match.group(0)


def mask_personal_numbers(text: str) -> str:
    """The text with every valid BSN and IBAN replaced by a marker."""
    if not text or not any(char.isdigit() for char in text):
        return text
    return _BSN.sub(_bsn, _IBAN.sub(_iban, text))


def personal_numbers_found(text: str) -> dict[str, list[str]]:
    """The values `mask_personal_numbers` would mask, in order, under their marker."""
    ibans = [match.group(1) for match in _IBAN.finditer(text) if _iban(match) == IBAN_MASK]
    without_ibans = _IBAN.sub(_iban, text)
    bsns = [match.group(1) for match in _BSN.finditer(without_ibans) if _bsn(match) == BSN_MASK]
    return {BSN_MASK: bsns, IBAN_MASK: ibans}


class MaskPersonalNumbersFilter(logging.Filter):
    """A handler filter: formats the record's message (and traceback) once, masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        masked = mask_personal_numbers(message)
        if masked != message or record.args:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_personal_numbers(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_personal_numbers(record.stack_info)
        return True


class PersonalDataExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django's error reports (the DEBUG page, mails to ADMINS) with BSNs and IBANs masked in
    local variables and request data, on top of Django's own hiding of secrets."""

    def get_traceback_frame_variables(self, request, tb_frame):
        from pprint import pformat

        cleansed = []
        for name, value in super().get_traceback_frame_variables(request, tb_frame):
            try:
                text = pformat(value)
            except Exception:
                cleansed.append((name, value))
                continue
            masked = mask_personal_numbers(text)
            cleansed.append((name, _Shown(masked) if masked != text else value))
        return cleansed

    def get_post_parameters(self, request):
        parameters = super().get_post_parameters(request)
        if not parameters:
            return parameters
        copy = parameters.copy()
        for key in copy:
            copy.setlist(key, [mask_personal_numbers(str(value)) for value in copy.getlist(key)])
        return copy

    def get_safe_request_meta(self, request):
        return {key: mask_personal_numbers(str(value)) for key, value in super().get_safe_request_meta(request).items()}


class _Shown(str):
    """A masked value shown as it is (pformat would quote a plain string)."""

    def __repr__(self) -> str:
        return str(self)


class PersonalDataExceptionReporter(ExceptionReporter):
    """Django's error report (the DEBUG page, the mail to ADMINS) with every BSN and IBAN masked,
    wherever it appears: the exception's message, a query string, a variable the filter let through."""

    def get_traceback_html(self):
        return mask_personal_numbers(super().get_traceback_html())

    def get_traceback_text(self):
        return mask_personal_numbers(super().get_traceback_text())
