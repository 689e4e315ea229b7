"""The default framework over a generated book: every default rule raises alerts, and a second
run keeps them."""

import pytest
from django.core.management import call_command

from alerts.models import Alert
from clients.generation import books_ensure, clients_generate
from enrichment.services import facts_refresh

pytestmark = pytest.mark.django_db

DEFAULT_RULES = [
    "complaint_unresolved_30_days",
    "dependants_without_life_cover",
    "fixed_rate_ends_14_days",
    "fixed_rate_ends_6_months",
    "home_underinsured",
    "interest_only_past_state_pension",
    "no_contact_12_months",
    "pension_gap",
    "stale_income",
    # Added by framework migration 0003.
    "market_value_outdated",
    "mortgage_term_past_state_pension",
    "mortgage_within_nhg_limit",
    "mortgage_without_disability_cover",
    "savings_buffer_low",
]


def counts_per_rule(output: str) -> dict[str, list[int]]:
    lines = [line.split() for line in output.splitlines()]
    return {line[0]: [int(value) for value in line[1:]] for line in lines if line and line[0] in DEFAULT_RULES}


def test_evaluate_framework_opens_alerts_for_every_default_rule_and_keeps_them_on_a_second_run(capsys):
    clients_generate(count=1500, seed=42, books=books_ensure())
    facts_refresh()
    call_command("evaluate_framework")
    first = counts_per_rule(capsys.readouterr().out)
    assert set(first) == set(DEFAULT_RULES)
    assert all(opened > 0 for opened, _kept, _closed, _suppressed in first.values()), first
    call_command("evaluate_framework")
    second = counts_per_rule(capsys.readouterr().out)
    assert all(opened == 0 and kept == first[rule][0] for rule, (opened, kept, _c, _s) in second.items())
    # One live alert per client and type: the two fixed-rate windows never overlap, so none is shared.
    assert Alert.objects.filter(status="open").count() == sum(values[0] for values in first.values())
