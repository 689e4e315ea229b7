"""The AOW (state pension) start date, pinned against the official table of AOW ages.

Source: Rijksoverheid, "Wanneer gaat mijn AOW in?" (see enrichment/state_pension.py). The table there
lists, per calendar year, the AOW age and the birth dates that reach it in that year.
"""

from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enrichment.state_pension import (
    AOW_AGES,
    AOW_ANNUAL_PARTNER,
    AOW_ANNUAL_SINGLE,
    add_months,
    aow_age,
    state_pension_date,
    state_pension_is_provisional,
)


@pytest.mark.parametrize(
    ("born", "years", "months", "starts"),
    [
        (date(1947, 12, 31), 65, 0, date(2012, 12, 31)),  # born before 1948: 65
        (date(1948, 1, 1), 65, 1, date(2013, 2, 1)),  # 2013: 65 + 1 month
        (date(1950, 9, 30), 65, 3, date(2015, 12, 30)),  # 2015: 65 + 3 months
        (date(1951, 7, 1), 65, 9, date(2017, 4, 1)),  # 2017: 65 + 9 months
        (date(1952, 12, 31), 66, 0, date(2018, 12, 31)),  # 2018: 66
        (date(1953, 1, 1), 66, 4, date(2019, 5, 1)),  # 2019-2021: 66 + 4 months
        (date(1955, 8, 31), 66, 4, date(2021, 12, 31)),
        (date(1955, 9, 1), 66, 7, date(2022, 4, 1)),  # 2022: 66 + 7 months
        (date(1956, 5, 31), 66, 7, date(2022, 12, 31)),
        (date(1957, 2, 28), 66, 10, date(2023, 12, 28)),  # 2023: 66 + 10 months
        (date(1957, 3, 1), 67, 0, date(2024, 3, 1)),  # 2024-2027: 67
        (date(1960, 12, 31), 67, 0, date(2027, 12, 31)),
        (date(1961, 1, 1), 67, 3, date(2028, 4, 1)),  # 2028: 67 + 3 months
        (date(1962, 10, 1), 67, 3, date(2030, 1, 1)),  # 2030: 67 + 3 months
    ],
)
def test_the_aow_start_follows_the_official_table(born, years, months, starts):
    age = aow_age(born)
    assert (age.years, age.months) == (years, months)
    assert state_pension_date(born) == starts
    assert not state_pension_is_provisional(born)


def test_someone_born_1_october_1960_still_gets_aow_at_67():
    # The 67 + 3 months of 2028 applies from birth date 1 January 1961, not from October 1960.
    assert state_pension_date(date(1960, 10, 15)) == date(2027, 10, 15)


def test_an_aow_age_not_set_yet_gives_the_earliest_possible_date_marked_provisional():
    born = date(1980, 5, 17)
    assert state_pension_date(born) == date(2047, 8, 17)
    assert state_pension_is_provisional(born)
    assert not state_pension_is_provisional(date(1964, 9, 30))


def test_a_day_past_the_end_of_the_month_becomes_its_last_day():
    assert state_pension_date(date(1955, 10, 31)) == date(2022, 5, 31)  # 66 + 7 months
    assert add_months(date(1960, 8, 31), 12 * 67 + 3) == date(2027, 11, 30)
    assert add_months(date(1960, 2, 29), 12 * 67) == date(2027, 2, 28)


def test_every_row_of_the_table_starts_the_aow_in_its_own_calendar_year():
    # The official table is by calendar year: the first and last birth date of a row reach the AOW
    # age in that year. This pins the ranges and ages against each other.
    for row in AOW_AGES[1:]:
        assert state_pension_date(row.born_from).year == row.paid_from_year, row
        assert state_pension_date(row.born_until).year == row.paid_from_year, row


def test_the_table_has_no_gaps_or_overlaps():
    for earlier, later in pairwise(AOW_AGES):
        assert later.born_from == earlier.born_until + timedelta(days=1)
        assert (later.years, later.months) >= (earlier.years, earlier.months)  # the age never falls


@given(st.dates(min_value=date(1930, 1, 1), max_value=date(2010, 12, 31)))
def test_the_aow_starts_at_65_or_later_and_never_before_an_older_person(born):
    starts = state_pension_date(born)
    assert starts >= add_months(born, 65 * 12)
    assert starts >= state_pension_date(born - timedelta(days=1))


def test_full_aow_per_year_includes_the_holiday_allowance():
    # SVB, from 1 January 2026: single € 1,637.57 + € 106.55; each partner € 1,122.12 + € 76.10 a month.
    assert Decimal("20929.44") == AOW_ANNUAL_SINGLE
    assert Decimal("14378.64") == AOW_ANNUAL_PARTNER
