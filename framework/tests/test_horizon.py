"""The date horizon of a rule: which of its uses of `today` flip at a date the database can compute
(framework.horizon), and which are taken to change every day."""

from decimal import Decimal

from framework.horizon import rule_horizon
from framework.language import compile_expression
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
