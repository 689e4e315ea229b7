"""The Dutch state pension (AOW): from what date it is paid, and how much, as data.

AOW age by birth date
---------------------
Source: Rijksoverheid, "Wanneer gaat mijn AOW in?"
https://www.rijksoverheid.nl/onderwerpen/algemene-ouderdomswet-aow/vraag-en-antwoord/wanneer-gaat-mijn-aow-in
and the SVB's calculator https://www.svb.nl/nl/aow/aow-leeftijd/uw-aow-leeftijd (Algemene Ouderdomswet,
art. 7a). The AOW age is set five years ahead and, by law, can no longer fall. The rows below give
the AOW age for people born in each range (both ends inclusive); the AOW starts on the day the
person reaches that age (birth date + years + months; a day that does not exist in the month, such as
31 April, becomes the month's last day).

Rows 2013-2029 follow the Rijksoverheid table; 2030 (67 years and 3 months) was set in November 2024
(Kamerbrief of the minister of SZW); 2031 (again 67 years and 3 months) was set in November 2025, as
reported at the time, and is worth checking against the SVB when this table is next reviewed. For
people born after 30 September 1964 the AOW age is not set yet: Steward uses the latest age set
(67 years and 3 months) as the *earliest possible* date and marks it provisional.

Full AOW amounts
----------------
Source: SVB, "Bedragen AOW" https://www.svb.nl/nl/aow/bedragen-aow/aow-bedragen, amounts from
1 January 2026 (published by the ministry of SZW on 5 December 2025), gross per month, plus the
holiday allowance (vakantiegeld) built up per month. A full AOW assumes 50 insured years; Steward does
not know years lived abroad, so the projected retirement income says "full AOW".
"""

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

AOW_AGE_SOURCE = (
    "https://www.rijksoverheid.nl/onderwerpen/algemene-ouderdomswet-aow/vraag-en-antwoord/wanneer-gaat-mijn-aow-in"
)
AOW_AMOUNT_SOURCE = "https://www.svb.nl/nl/aow/bedragen-aow/aow-bedragen"


@dataclass(frozen=True)
class AowAge:
    born_from: date  # inclusive
    born_until: date  # inclusive
    years: int
    months: int
    paid_from_year: int  # the calendar year in which this group reaches its AOW age

    @property
    def label(self) -> str:
        return f"{self.years}+{self.months}" if self.months else str(self.years)


# fmt: off
AOW_AGES: tuple[AowAge, ...] = (
    AowAge(date(1, 1, 1),     date(1947, 12, 31), 65, 0, 2012),
    AowAge(date(1948, 1, 1),  date(1948, 11, 30), 65, 1, 2013),
    AowAge(date(1948, 12, 1), date(1949, 10, 31), 65, 2, 2014),
    AowAge(date(1949, 11, 1), date(1950, 9, 30),  65, 3, 2015),
    AowAge(date(1950, 10, 1), date(1951, 6, 30),  65, 6, 2016),
    AowAge(date(1951, 7, 1),  date(1952, 3, 31),  65, 9, 2017),
    AowAge(date(1952, 4, 1),  date(1952, 12, 31), 66, 0, 2018),
    AowAge(date(1953, 1, 1),  date(1953, 8, 31),  66, 4, 2019),
    AowAge(date(1953, 9, 1),  date(1954, 8, 31),  66, 4, 2020),
    AowAge(date(1954, 9, 1),  date(1955, 8, 31),  66, 4, 2021),
    AowAge(date(1955, 9, 1),  date(1956, 5, 31),  66, 7, 2022),
    AowAge(date(1956, 6, 1),  date(1957, 2, 28),  66, 10, 2023),
    AowAge(date(1957, 3, 1),  date(1957, 12, 31), 67, 0, 2024),
    AowAge(date(1958, 1, 1),  date(1958, 12, 31), 67, 0, 2025),
    AowAge(date(1959, 1, 1),  date(1959, 12, 31), 67, 0, 2026),
    AowAge(date(1960, 1, 1),  date(1960, 12, 31), 67, 0, 2027),
    AowAge(date(1961, 1, 1),  date(1961, 9, 30),  67, 3, 2028),
    AowAge(date(1961, 10, 1), date(1962, 9, 30),  67, 3, 2029),
    AowAge(date(1962, 10, 1), date(1963, 9, 30),  67, 3, 2030),
    AowAge(date(1963, 10, 1), date(1964, 9, 30),  67, 3, 2031),
)
# fmt: on
LAST_SET_BIRTH_DATE = AOW_AGES[-1].born_until
# Born later: not set yet. The law lets the age rise but never fall, so the last age set is the floor.
PROVISIONAL_AGE = AowAge(date(1964, 10, 1), date.max, 67, 3, 0)

# Gross per month from 1 January 2026, and the holiday allowance built up per month.
AOW_MONTHLY_SINGLE = Decimal("1637.57")
AOW_HOLIDAY_MONTHLY_SINGLE = Decimal("106.55")
AOW_MONTHLY_PARTNER = Decimal("1122.12")  # each partner of a couple
AOW_HOLIDAY_MONTHLY_PARTNER = Decimal("76.10")
AOW_AMOUNTS_FROM = date(2026, 1, 1)

# A full year's AOW including holiday allowance: € 20,929.44 single, € 14,378.64 per partner.
AOW_ANNUAL_SINGLE = (AOW_MONTHLY_SINGLE + AOW_HOLIDAY_MONTHLY_SINGLE) * 12
AOW_ANNUAL_PARTNER = (AOW_MONTHLY_PARTNER + AOW_HOLIDAY_MONTHLY_PARTNER) * 12


def aow_age(birth_date: date) -> AowAge:
    """The AOW age of someone born on `birth_date` (the provisional floor when not set yet)."""
    for row in AOW_AGES:
        if row.born_from <= birth_date <= row.born_until:
            return row
    return PROVISIONAL_AGE


def add_months(day: date, months: int) -> date:
    """`day` plus whole months; a day past the end of the target month becomes its last day."""
    year, month_index = divmod(day.year * 12 + day.month - 1 + months, 12)
    month = month_index + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def state_pension_date(birth_date: date) -> date:
    """The day the AOW starts: the day the person reaches their AOW age."""
    age = aow_age(birth_date)
    return add_months(birth_date, age.years * 12 + age.months)


def state_pension_is_provisional(birth_date: date) -> bool:
    return birth_date > LAST_SET_BIRTH_DATE
