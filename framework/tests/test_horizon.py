"""The date horizon of a rule: which of its uses of `today` flip at a date the database can compute
(framework.horizon), and which are taken to change every day."""

import operator
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from clients.models import Client
from clients.tests.factories import TeamFactory
from framework.horizon import WINDOW_DAYS, WINDOW_MONTHS, _atom_expression, rule_horizon
from framework.language import compile_expression
from framework.language.dates import add_months
from framework.language.orm import OrmCompiler
from framework.language.schema import Type
from framework.rules import Branch, RuleProgram


def program(condition: str, *, reported: dict | None = None, deadline: str = "", parameters=None) -> RuleProgram:
    parameters = parameters or {}
    return RuleProgram(
        key="rule",
        alert_type="rule",
        hit_policy="first",
        parameters=parameters,
        branches=(Branch(compile_expression(condition, parameters, expect=Type.BOOL), "", "normal"),),
        reported=tuple((label, compile_expression(text, parameters)) for label, text in (reported or {}).items()),
        deadline=compile_expression(deadline, parameters) if deadline else None,
        message_template="",
    )


def test_a_rule_without_today_has_no_horizon():
    horizon = rule_horizon(program('facts.age >= 67 and any(policies[kind = "home"])'))
    assert horizon.atoms == () and not horizon.daily and not horizon.daily_when_fired


def test_a_date_compared_with_today_moved_by_a_shift_is_one_atom_per_comparison():
    horizon = rule_horizon(
        program(
            "any(loan_parts[fixed_rate_end_date >= today and fixed_rate_end_date <= today + days days])"
            " or client.client_since < today - 12 months",
            parameters={"days": Decimal(14)},
        )
    )
    shifts = sorted((atom.collection or "", atom.days, atom.months) for atom in horizon.atoms)
    assert shifts == [("", 0, -12), ("loan_parts", 0, 0), ("loan_parts", 14, 0)]
    assert not horizon.daily and not horizon.daily_when_fired


def test_a_shifted_date_against_a_shifted_today_is_an_atom():
    horizon = rule_horizon(program("client.birth_date + 67 years < today + 1 days"))
    assert [(atom.days, atom.months) for atom in horizon.atoms] == [(1, 0)] and not horizon.daily


def test_today_on_the_left_is_the_same_atom():
    horizon = rule_horizon(program("today - 30 days > coalesce(max(contact_moments.occurred_on), client.client_since)"))
    assert [(atom.days, atom.months, atom.collection) for atom in horizon.atoms] == [(-30, 0, None)]


def test_a_count_of_days_to_today_in_a_reported_value_changes_daily_where_the_rule_fires():
    horizon = rule_horizon(
        program(
            "client.client_since < today - 12 months",
            reported={"days_without_contact": "days_between(client.client_since, today)"},
        )
    )
    assert len(horizon.atoms) == 1 and horizon.daily_when_fired and not horizon.daily


def test_any_other_use_of_today_in_a_condition_changes_daily_for_everyone():
    for condition in (
        "days_between(client.birth_date, today) > 12000",
        "years_between(client.birth_date, today) >= 67",
        'coalesce(client.birth_date, today) < date("1960-01-01")',
    ):
        horizon = rule_horizon(program(condition))
        assert horizon.daily, condition


def test_a_comparison_of_today_with_itself_is_not_an_atom():
    horizon = rule_horizon(program("today < today + 1 days"))
    assert horizon.atoms == () and horizon.daily


# --- The flip day, as the database computes it ----------------------------------------------------

FLIP_SHIFTS = ["- 1 days", "+ 14 days", "", "- 12 months", "- 1 months", "+ 6 months", "+ 25 months"]
FLIP_TODAYS = [date(2026, 1, 30), date(2026, 2, 28), date(2027, 12, 31), date(2028, 2, 29)]


def _first_flip(answer, today: date, around: date, *, margin: int = 40):
    """The first day after `today` on which `answer` differs from today's, trying every day from 40
    days before `around` to 40 after (as today moves, the shifted today passes the date once, near
    `around`: beyond those days the answer cannot change)."""
    now = answer(today)
    first = max(today + timedelta(days=1), around - timedelta(days=margin))
    days = ((around - first).days + margin + 1) if first <= around + timedelta(days=margin) else 0
    return next((first + timedelta(days=n) for n in range(days) if answer(first + timedelta(days=n)) != now), None)


OPERATORS = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "=": operator.eq, "!=": operator.ne,
}  # fmt: skip


def _answer(atom, since: date):
    """Whether the comparison holds on a day, in Python (the calendar `add_months` shares with the database)."""

    def answer(day: date) -> bool:
        moved = add_months(day, atom.months) + timedelta(days=atom.days)
        return OPERATORS[atom.op](since, moved)  # the atom has the client's date on the left

    return answer


def _check_comparison(text: str, today: date, sinces: dict) -> int:
    (atom,) = rule_horizon(program(text)).atoms
    horizons = dict(
        Client.objects.annotate(h=_atom_expression(OrmCompiler(today=today), atom, today, "")).values_list("pk", "h")
    )
    low, high = WINDOW_MONTHS if atom.months else WINDOW_DAYS
    for pk, since in sinces.items():
        around = add_months(since, -atom.months) - timedelta(days=atom.days)
        flip, horizon = _first_flip(_answer(atom, since), today, around), horizons[pk]
        where = f"{text} on {today}, client since {since}: horizon {horizon}, flip {flip}"
        if flip is None:  # none, or the first day of a window still ahead that holds no flip
            assert horizon is None or horizon == around + timedelta(days=low) > today, where
        else:
            assert horizon is not None and today < horizon <= flip, where
            assert (flip - horizon).days <= high - low, where
            if around + timedelta(days=low) <= today + timedelta(days=1):
                assert horizon == flip, where  # in the window: exact
    return len(sinces)


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the horizon is recorded on PostgreSQL only")
def test_a_comparisons_horizon_is_never_after_its_flip_and_exact_once_the_flip_is_near():
    """For every operator, with today on either side, shifts of days and months, and dates around
    the ends of months and leap days: the horizon the database computes is never after the day the
    answer flips, at most the window's width before it, and exact once the flip's window has come;
    null when the answer never flips again (or the first day of a window ahead, which costs one
    evaluation)."""
    team = TeamFactory()
    Client.objects.bulk_create(
        Client(first_name="Flip", last_name=str(n), team=team, client_since=date(2025, 1, 1) + timedelta(days=n))
        for n in range(0, 4 * 365, 3)
    )
    sinces = dict(Client.objects.values_list("pk", "client_since"))
    checked = 0
    for today in FLIP_TODAYS:
        for shift in FLIP_SHIFTS:
            for op in OPERATORS:
                checked += _check_comparison(f"client.client_since {op} today {shift}", today, sinces)
                checked += _check_comparison(f"today {shift} {op} client.client_since", today, sinces)
    assert checked > 100_000
