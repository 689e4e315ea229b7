"""One shape for a value, whichever evaluator produced it.

PostgreSQL returns numerics, SQLite floats, Python Decimals with 28 digits; an alert shows the
same number from each. Numbers keep at most four decimals (ratios need them; money has two).
"""

import decimal
from datetime import date, datetime
from decimal import Decimal

from .schema import Type

FOUR_PLACES = Decimal("0.0001")


def tidy_number(value) -> Decimal | None:
    if value is None:
        return None
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        return None
    try:
        number = number.quantize(FOUR_PLACES, rounding=decimal.ROUND_HALF_EVEN)
    except decimal.InvalidOperation:  # too large for four places: keep it as it is
        return number
    if number == number.to_integral_value():
        return number.quantize(Decimal(1))
    return number.normalize()


def normalize(value, value_type: Type):
    """`value` as the framework hands it out: Decimal, date, str, bool, list or None."""
    if value is None:
        return None
    if value_type == Type.NUMBER:
        return tidy_number(value)
    if value_type == Type.DATE:
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, str):
            return date.fromisoformat(value[:10])
        return value
    if value_type == Type.BOOL:
        return bool(value)
    if value_type == Type.TEXT_LIST:
        return list(value) if isinstance(value, list | tuple) else value
    return str(value)
