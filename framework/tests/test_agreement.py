"""The compiled query and the in-memory evaluator agree, on random client files.

Hypothesis builds a few client files at a time (with gaps, deleted rows and dates on the edges of
the rules' windows), then every expression below and every rule of the default framework is
evaluated both ways: set-based over the whole (small) book, and in memory per client. The truth
(true, false or unknown) and every reported value must be the same. Run on SQLite and PostgreSQL.

Amounts are whole euros on SQLite, which does decimal arithmetic in binary floating point; on
PostgreSQL they have cents.
"""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clients.models import Client, Complaint, FamilyMember, RepaymentType
from clients.tests import factories as f
from framework.language.checker import check_parameters, compile_expression
from framework.language.evaluate import evaluate
from framework.language.orm import OrmCompiler
from framework.language.values import normalize
from framework.selectors import client_file_load, client_rules_explain, framework_evaluate

from .conftest import facts_for

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
PARAMETERS = check_parameters({"days": 14, "ratio": 0.7, "group": "income"})

CONDITIONS = [
    'sum(policies[kind = "home"].insured_amount) < property.rebuild_value',
    'any(loan_parts, repayment_type = "interest_only" and end_date > facts.state_pension_date)',
    "all(loan_parts, outstanding_balance > 100000)",
    'count(policies[kind in ["life", "term_life"]]) >= 1 or facts.has_life_cover',
    "not (facts.has_dependants and facts.has_life_cover is not true)",
    "group in facts.stale_field_groups",
    "max(contact_moments.occurred_on) < today - 6 months",
    "coalesce(max(contact_moments.occurred_on), client.client_since) < today - 12 months",
    "min(loan_parts[fixed_rate_end_date >= today].fixed_rate_end_date) <= today + days days",
    "any(loan_parts[fixed_rate_end_date > today + days days and fixed_rate_end_date <= today + 6 months])",
    "months_between(client.birth_date, today) >= 12 * 45",
    "years_between(client.birth_date, facts.state_pension_date) > 66",
    "facts.replacement_ratio < ratio and facts.age >= 30",
    "sum(incomes.gross_annual_amount) / 12 > 4000",
    "abs(sum(loan_parts.outstanding_balance) - facts.mortgage_balance) > 1000",
    'any(complaints[status in ["open", "in_progress"] and received_on < today - 30 days])',
    'count(family_members[relation = "child" and birth_date > today - 18 years]) > 0',
    'client.segment != "basic" or facts.household_type = "family"',
    "any(policies[insured_amount > property.rebuild_value / 2])",
    "days_between(max(loan_parts.end_date), facts.state_pension_date) < 0",
    "(facts.age >= 30) = facts.has_dependants",
    "any(properties, is_primary_residence and rebuild_value is null)",
    "facts.has_dependants is not false and not any(mortgages)",
]
VALUES = [
    'sum(policies[kind = "home"].insured_amount)',
    "min(loan_parts.fixed_rate_end_date)",
    "count(contact_moments)",
    "property.rebuild_value - sum(policies.insured_amount)",
    "facts.replacement_ratio * 100",
    "sum(incomes.gross_annual_amount) / 3",
    "max(contact_moments.occurred_on) + 1 month",
    "coalesce(facts.age, years_between(client.birth_date, today))",
    "today - 1 month + 14 days",
    "max(complaints.received_on)",
]
NODES = [compile_expression(text, PARAMETERS) for text in CONDITIONS + VALUES]


def money():
    if connection.vendor == "postgresql":
        return st.none() | st.decimals(min_value=0, max_value=900_000, places=2, allow_nan=False)
    return st.none() | st.integers(min_value=0, max_value=900_000).map(Decimal)


# Offsets in days from today, with the edges of the rules' windows over-represented.
offsets = st.sampled_from([-400, -366, -365, -31, -30, -29, -1, 0, 1, 13, 14, 15, 181, 182, 183, 184]) | st.integers(
    min_value=-20_000, max_value=20_000
)
dates = st.none() | offsets.map(lambda days: TODAY + timedelta(days=days))


def client_files():
    facts = st.none() | st.fixed_dictionaries(
        {
            "age": st.none() | st.integers(min_value=18, max_value=95),
            "replacement_ratio": st.none() | st.sampled_from(["0.5", "0.6999", "0.7", "0.7001", "0.9"]).map(Decimal),
            "state_pension_date": dates,
            "has_dependants": st.none() | st.booleans(),
            "has_life_cover": st.none() | st.booleans(),
            "stale_field_groups": st.lists(st.sampled_from(["income", "pension", "contact"]), unique=True, max_size=3),
            "household_type": st.sampled_from(["single", "couple", "family", "single_parent", "unknown"]),
            "mortgage_balance": money(),
        }
    )
    loan_part = st.fixed_dictionaries(
        {
            "repayment_type": st.sampled_from([RepaymentType.ANNUITY, RepaymentType.INTEREST_ONLY]),
            "outstanding_balance": money(),
            "fixed_rate_end_date": dates,
            "end_date": dates,
            "deleted": st.booleans(),
        }
    )
    return st.fixed_dictionaries(
        {
            "birth_date": dates,
            "client_since": dates,
            "segment": st.sampled_from(["basic", "plus", "premium"]),
            "facts": facts,
            "properties": st.lists(st.tuples(st.booleans(), money()), max_size=2),
            "policies": st.lists(
                st.tuples(st.sampled_from(["home", "life", "term_life", "car"]), money(), st.booleans()), max_size=3
            ),
            "mortgages": st.lists(st.tuples(st.booleans(), st.lists(loan_part, max_size=3)), max_size=2),
            "contacts": st.lists(st.tuples(offsets, st.integers(min_value=0, max_value=23)), max_size=3),
            "complaints": st.lists(st.tuples(st.sampled_from(list(Complaint.Status.values)), offsets), max_size=2),
            "incomes": st.lists(money().filter(lambda amount: amount is not None), max_size=2),
            "children": st.lists(dates, max_size=2),
        }
    )


def build(spec) -> Client:
    """Rows for one client file, through the unified view's factories."""
    client = f.ClientFactory(birth_date=spec["birth_date"], client_since=spec["client_since"], segment=spec["segment"])
    if spec["facts"] is not None:
        facts_for(client, **spec["facts"])
    for primary, rebuild_value in spec["properties"]:
        f.PropertyFactory(client=client, is_primary_residence=primary, rebuild_value=rebuild_value)
    for kind, amount, deleted in spec["policies"]:
        f.InsurancePolicyFactory(
            client=client, kind=kind, insured_amount=amount, deleted_at=timezone.now() if deleted else None
        )
    for mortgage_deleted, parts in spec["mortgages"]:
        mortgage = f.MortgageFactory(
            client=client, property=None, deleted_at=timezone.now() if mortgage_deleted else None
        )
        for part in parts:
            f.LoanPartFactory(
                mortgage=mortgage,
                repayment_type=part["repayment_type"],
                outstanding_balance=part["outstanding_balance"],
                fixed_rate_end_date=part["fixed_rate_end_date"],
                end_date=part["end_date"],
                deleted_at=timezone.now() if part["deleted"] else None,
            )
    for days_ago, hour in spec["contacts"]:
        moment = datetime.combine(TODAY - timedelta(days=days_ago), time(hour, 30))
        f.ContactMomentFactory(client=client, occurred_at=timezone.make_aware(moment))
    for status, days_ago in spec["complaints"]:
        received = TODAY - timedelta(days=abs(days_ago))
        resolved = received if status in (Complaint.Status.RESOLVED, Complaint.Status.REJECTED) else None
        f.ComplaintFactory(client=client, status=status, received_on=received, resolved_on=resolved)
    for amount in spec["incomes"]:
        f.IncomeFactory(client=client, gross_annual_amount=amount)
    for birth_date in spec["children"]:
        f.FamilyMemberFactory(household=client.household, relation=FamilyMember.Relation.CHILD, birth_date=birth_date)
    return client


def orm_values(nodes, client_ids) -> dict[int, list]:
    """Every node's value per client, in one query."""
    compiler = OrmCompiler(today=TODAY)
    columns = {f"fw_{index}": compiler.value(node) for index, node in enumerate(nodes)}
    clients = Client.objects.filter(pk__in=client_ids).alias(**compiler.aliases)
    return {
        row["pk"]: [normalize(row[f"fw_{index}"], node.type) for index, node in enumerate(nodes)]
        for row in clients.values("pk", **columns)
    }


def orm_true(node, client_ids) -> set[int]:
    """The clients a WHERE keeps: those for which `node` is definitely true."""
    compiler = OrmCompiler(today=TODAY)
    condition = compiler.condition(node)  # first: it collects the aliases its subqueries need
    clients = Client.objects.filter(pk__in=client_ids).alias(**compiler.aliases)
    return set(clients.filter(condition).values_list("pk", flat=True))


@settings(
    max_examples=50,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(client_files(), min_size=1, max_size=3))
def test_the_compiled_query_and_the_in_memory_evaluation_agree(default_framework, files):
    with transaction.atomic():
        clients = [build(spec) for spec in files]
        ids = [client.pk for client in clients]
        snapshots = {pk: client_file_load(pk).snapshot for pk in ids}

        compiled_values = orm_values(NODES, ids)
        for index, (text, node) in enumerate(zip(CONDITIONS + VALUES, NODES, strict=True)):
            memory_values = {pk: normalize(evaluate(node, snapshots[pk], today=TODAY), node.type) for pk in ids}
            assert {pk: compiled_values[pk][index] for pk in ids} == memory_values, text
            if index < len(CONDITIONS):
                assert orm_true(node, ids) == {pk for pk, value in memory_values.items() if value is True}, text

        compiled = {
            (result.rule.key, result.client_id, result.granule, tuple(sorted(result.values.items())))
            for result in framework_evaluate(version=default_framework, client_ids=ids, today=TODAY)
        }
        explained = set()
        for pk in ids:
            for explanation in client_rules_explain(client_id=pk, version=default_framework, today=TODAY):
                if explanation.fires:
                    granule = next(branch.granule for branch in explanation.branches if branch.truth is True)
                    values = tuple(sorted(explanation.values.items()))
                    explained.add((explanation.rule.key, pk, granule, values))
        assert compiled == explained
        transaction.set_rollback(True)
