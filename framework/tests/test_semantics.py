"""What expressions mean: three-valued logic, calendar arithmetic and aggregates.

Each case is evaluated in memory over a hand-made snapshot and, for the database cases, compiled
to SQL as well: both must give the documented answer.
"""

from datetime import date
from decimal import Decimal

import pytest

from clients.models import Client
from clients.tests import factories as f
from framework.language.checker import check_parameters, compile_expression
from framework.language.evaluate import evaluate
from framework.language.orm import OrmCompiler
from framework.language.values import normalize

TODAY = date(2026, 11, 23)


def snapshot(**collections):
    base = {"client": {"id": 1, "birth_date": date(1980, 5, 17)}, "facts": None, "property": None}
    return {**base, **collections}


def value(text, snap=None, **parameters):
    node = compile_expression(text, check_parameters(parameters))
    return evaluate(node, snap or snapshot(), today=TODAY)


# --- Three-valued logic ---------------------------------------------------------------------------

UNKNOWN = "facts.has_dependants"  # no facts in the snapshot: null


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"{UNKNOWN} and false", False),
        (f"{UNKNOWN} and true", None),
        (f"{UNKNOWN} or true", True),
        (f"{UNKNOWN} or false", None),
        (f"not {UNKNOWN}", None),
        (f"{UNKNOWN} is null", True),
        (f"{UNKNOWN} is not null", False),
        (f"{UNKNOWN} is true", False),
        (f"{UNKNOWN} is not true", True),
        (f"{UNKNOWN} is false", False),
        ("facts.age > 30", None),
        ("facts.age = facts.age", None),
        ("facts.age in [30, 40]", None),
        ("coalesce(facts.age, 41) = 41", True),
        ("1 / 0 is null", True),
        ("facts.age + 1 is null", True),
    ],
)
def test_unknown_values_follow_three_valued_logic(text, expected):
    assert value(text) is expected


# --- Calendar -------------------------------------------------------------------------------------

CALENDAR = [
    ('date("2024-01-31") + 1 month', date(2024, 2, 29)),
    ('date("2023-01-31") + 1 month', date(2023, 2, 28)),
    ('date("2024-03-31") - 1 month', date(2024, 2, 29)),
    ('date("2024-02-29") + 1 year', date(2025, 2, 28)),
    ('date("2026-11-23") + 14 days', date(2026, 12, 7)),
    ('date("2026-01-01") - 2 weeks', date(2025, 12, 18)),
    ("today + 6 months", date(2027, 5, 23)),
    ('days_between(date("2026-01-01"), date("2026-03-01"))', Decimal(59)),
    ('days_between(date("2026-03-01"), date("2026-01-01"))', Decimal(-59)),
    ('months_between(date("2026-01-31"), date("2026-02-28"))', Decimal(0)),
    ('months_between(date("2026-01-15"), date("2026-03-15"))', Decimal(2)),
    ('months_between(date("2026-03-15"), date("2026-01-16"))', Decimal(-1)),
    ('years_between(date("1980-05-17"), date("2026-05-16"))', Decimal(45)),
    ('years_between(date("1980-05-17"), date("2026-05-17"))', Decimal(46)),
    ('years_between(date("2026-05-17"), date("1980-05-18"))', Decimal(-45)),
]


@pytest.mark.parametrize(("text", "expected"), CALENDAR)
def test_calendar_arithmetic_clamps_to_the_end_of_the_month(text, expected):
    assert value(text) == expected


@pytest.mark.django_db
@pytest.mark.parametrize(("text", "expected"), CALENDAR)
def test_the_database_does_the_same_calendar_arithmetic(text, expected):
    assert orm_value(text, f.ClientFactory().pk) == expected


# --- Aggregates -----------------------------------------------------------------------------------


def policies(*amounts):
    rows = [{"id": index, "kind": "home", "insured_amount": amount} for index, amount in enumerate(amounts, 1)]
    return snapshot(policies=rows)


@pytest.mark.parametrize(
    ("text", "snap", "expected"),
    [
        ("count(policies)", policies(), Decimal(0)),
        ("sum(policies.insured_amount)", policies(), Decimal(0)),
        ("sum(policies.insured_amount)", policies(Decimal(1), Decimal(2)), Decimal(3)),
        ("sum(policies.insured_amount)", policies(Decimal(1), None), None),
        ("min(policies.insured_amount)", policies(), None),
        ("max(policies.insured_amount)", policies(Decimal(1), Decimal(5)), Decimal(5)),
        ("max(policies.insured_amount)", policies(Decimal(1), None), None),
        ("count(policies[insured_amount > 1])", policies(Decimal(1), None, Decimal(2)), Decimal(1)),
        ("any(policies)", policies(), False),
        ("any(policies, insured_amount > 1)", policies(Decimal(1), Decimal(2)), True),
        ("any(policies, insured_amount > 1)", policies(Decimal(1), None), None),
        ("any(policies, insured_amount > 1)", policies(Decimal(1)), False),
        ("all(policies, insured_amount > 1)", policies(), True),
        ("all(policies, insured_amount > 1)", policies(Decimal(2), None), None),
        ("all(policies, insured_amount > 1)", policies(Decimal(1), None), False),
    ],
)
def test_aggregates_count_rows_and_treat_a_gap_as_unknown(text, snap, expected):
    result = value(text, snap)
    assert result is None if expected is None else result == expected


def test_a_filter_keeps_only_rows_for_which_it_is_definitely_true():
    snap = policies(Decimal(10), None)
    assert value("count(policies[insured_amount > 5])", snap) == 1
    assert value("count(policies[not (insured_amount > 5)])", snap) == 0


def test_a_list_of_texts_contains_an_item():
    snap = snapshot(facts={"stale_field_groups": ["income"]})
    assert value('"income" in facts.stale_field_groups', snap) is True
    assert value('"pension" in facts.stale_field_groups', snap) is False
    assert value('"income" not in facts.stale_field_groups', snap) is False
    assert value('"income" in facts.stale_field_groups') is None


def test_parameters_are_values_of_the_rule():
    assert value("today + days days", days=14) == date(2026, 12, 7)
    assert value("client.birth_date < cutoff", cutoff="1990-01-01") is True


# --- The same in the database ---------------------------------------------------------------------


def orm_value(text, client_id, **parameters):
    node = compile_expression(text, check_parameters(parameters))
    compiler = OrmCompiler(today=TODAY)
    expression = compiler.value(node)
    row = Client.objects.alias(**compiler.aliases).filter(pk=client_id).annotate(fw=expression).values("fw").get()
    return normalize(row["fw"], node.type)


@pytest.mark.django_db
def test_the_database_treats_gaps_and_empty_collections_like_memory():
    client = f.ClientFactory()
    assert orm_value("sum(policies.insured_amount)", client.pk) == 0
    assert orm_value("min(policies.insured_amount)", client.pk) is None
    assert orm_value("all(policies, insured_amount > 1)", client.pk) is True
    f.InsurancePolicyFactory(client=client, insured_amount=Decimal(10))
    f.InsurancePolicyFactory(client=client, insured_amount=None)
    assert orm_value("sum(policies.insured_amount)", client.pk) is None
    assert orm_value("count(policies[insured_amount > 5])", client.pk) == 1
    assert orm_value("any(policies, insured_amount > 20)", client.pk) is None
    assert orm_value("all(policies, insured_amount > 20)", client.pk) is False
    assert orm_value("1 / 0", client.pk) is None
    assert orm_value("facts.age > 3", client.pk) is None
    assert orm_value("facts.age is null", client.pk) is True


@pytest.mark.django_db
def test_the_database_ignores_rows_deleted_in_their_source():
    from django.utils import timezone

    client = f.ClientFactory()
    f.InsurancePolicyFactory(client=client, insured_amount=Decimal(10))
    f.InsurancePolicyFactory(client=client, insured_amount=Decimal(99), deleted_at=timezone.now())
    assert orm_value("sum(policies.insured_amount)", client.pk) == 10
