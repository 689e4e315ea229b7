"""Messages quote values exactly as Django localises them, in English and Dutch (the fast path agrees)."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import formats, translation
from hypothesis import given
from hypothesis import strategies as st

from framework.language.values import tidy_number
from framework.rules import format_value
from framework.staging import _language_formats, _number_text_sql

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


EDGE_AMOUNTS = [
    "0", "0.5", "-0.5", "7", "999", "1000", "-1000", "1234.5", "999999.9999", "1000000", "-1234567.89",
    "0.0001", "12.30", "999999999999999", "999999999999999.9999", "1000000000000000", "-1000000000000000.5",
    "123456789012345678901234.25",
]  # fmt: skip


def sql_number_text(amount: Decimal, language: str) -> str:
    """The amount as the staged messages write it (framework.staging), computed by PostgreSQL."""
    params: list = []
    # The expression is repeated inside, so the amount goes in as a literal, not a parameter.
    sql = _number_text_sql(f"CAST('{amount}' AS text)", _language_formats(language), params)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sql}", params)
        return cursor.fetchone()[0]


postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="the staged messages are PostgreSQL's")


@pytest.mark.django_db
@postgresql_only
@pytest.mark.parametrize("language", ["en", "nl"])
def test_the_staged_messages_write_amounts_as_the_python_path_does(language):
    for text in EDGE_AMOUNTS:
        amount = tidy_number(Decimal(text))
        with translation.override(language):
            assert sql_number_text(amount, language) == format_value(amount), text


@pytest.mark.django_db
@postgresql_only
@pytest.mark.parametrize("language", ["en", "nl"])
@given(amount=st.decimals(min_value=Decimal("-1e17"), max_value=Decimal("1e17"), allow_nan=False, places=4))
def test_any_amount_is_written_alike_by_the_staged_messages_and_the_python_path(language, amount):
    amount = tidy_number(amount)
    with translation.override(language):
        assert sql_number_text(amount, language) == format_value(amount)
