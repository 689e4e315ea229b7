"""Messages quote values exactly as Django localises them, in English and Dutch (the fast path agrees)."""

from datetime import date
from decimal import Decimal

import pytest
from django.utils import formats, translation
from hypothesis import given
from hypothesis import strategies as st

from framework.language.values import tidy_number
from framework.rules import format_value

amounts = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), allow_nan=False, places=6)


@pytest.mark.parametrize("language", ["en", "nl"])
@given(amount=amounts, day=st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)))
def test_a_quoted_amount_or_date_reads_as_django_localises_it(language, amount, day):
    with translation.override(language):
        assert format_value(amount) == formats.localize(tidy_number(amount))
        assert format_value(day) == formats.date_format(day, "SHORT_DATE_FORMAT")


def test_dutch_amounts_use_a_decimal_comma_and_thousand_dots():
    with translation.override("nl"):
        assert format_value(Decimal("1234567.50")) == "1.234.567,5"
