"""Calendar arithmetic shared by the in-memory evaluator and its SQL twin, so both agree.

Months follow PostgreSQL's `date + interval 'n months'`: the day is clamped to the end of a
shorter month (31 January + 1 month = 28 or 29 February).
"""

import calendar
from datetime import date, timedelta


def add_days(day: date, days: int) -> date:
    return day + timedelta(days=days)


def add_months(day: date, months: int) -> date:
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def days_between(start: date, end: date) -> int:
    return (end - start).days


def months_between(start: date, end: date) -> int:
    """Whole months from `start` to `end`; negative when `end` comes first."""
    if end < start:
        return -months_between(end, start)
    return (end.year - start.year) * 12 + end.month - start.month - (end.day < start.day)


def years_between(start: date, end: date) -> int:
    """Whole years from `start` to `end` (an age, for a birth date and today)."""
    if end < start:
        return -years_between(end, start)
    return end.year - start.year - ((end.month, end.day) < (start.month, start.day))
