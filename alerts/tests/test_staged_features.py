"""For a chunk by range, framework.staging computes the collection aggregates set-based first (one
GROUP BY per collection into a feature table) and the rules read them from there, instead of one
correlated subquery per aggregate and client. Both ways must stage exactly the same findings: for
clients without rows in a collection, with a null member in a sum, with household collections, and
for any aggregate the rule language can write."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clients.generation import books_ensure, clients_generate
from clients.models import Client, FamilyMember, InsurancePolicy, LoanPart
from enrichment.services import facts_refresh
from framework.models import FrameworkVersion, ReportedValue, Rule
from framework.staging import STAGING_TABLE, _feature_plan, _top_aggregates, findings_stage, version_programs
from framework.tests.test_agreement import CONDITIONS, TODAY, VALUES, build, client_files

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the feature table is PostgreSQL's"),
]

PROBES = [f"extra_{index}" for index in range(len(CONDITIONS))]


def with_probe_rules(version: FrameworkVersion) -> FrameworkVersion:
    """The version plus a rule per condition of the agreement tests, reporting every value expression."""
    for index, condition in enumerate(CONDITIONS):
        rule = Rule.objects.create(
            version=version,
            key=PROBES[index],
            position=100 + index,
            name=PROBES[index],
            alert_type=PROBES[index],
            condition=condition,
            parameters={"days": 14, "ratio": 0.7, "group": "income"},
            message_template=" ".join(f"{{v{position}}}" for position in range(len(VALUES))),
        )
        for position, expression in enumerate(VALUES):
            ReportedValue.objects.create(rule=rule, position=position, label=f"v{position}", expression=expression)
    return version


def staged(programs, scope, *, features: bool) -> list:
    findings_stage(programs=programs, today=TODAY, client_id_range=scope, features=features)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {STAGING_TABLE}")
        return sorted(cursor.fetchall(), key=repr)


def both_ways(version, scope) -> tuple[list, list]:
    programs = version_programs(version)
    correlated = staged(programs, scope, features=False)
    with CaptureQueriesContext(connection) as queries:
        features = staged(programs, scope, features=True)
    rules = [query["sql"] for query in queries if query["sql"].startswith(f"INSERT INTO {STAGING_TABLE}")]
    assert len(rules) == 1 and "fw_features_" in rules[0]
    return correlated, features


def test_the_rules_read_their_aggregates_from_the_feature_table(db):
    programs = version_programs(with_probe_rules(FrameworkVersion.objects.get(name="Default framework")))
    plan = _feature_plan(programs, TODAY)
    assert plan is not None
    aggregates = [key for key in plan.columns if key[0] != "field"]
    collections = {dict(key[1:])["collection"] for key in aggregates}  # node_key: (class, (field, value)...)
    assert {"policies", "loan_parts", "family_members"} <= collections


def test_the_rules_read_the_facts_and_the_home_from_the_feature_table_not_per_rule(db):
    version = with_probe_rules(FrameworkVersion.objects.get(name="Default framework"))
    programs = version_programs(version)
    plan = _feature_plan(programs, TODAY)
    fields = {key[1:] for key in plan.columns if key[0] == "field"}
    assert {("facts", "age"), ("facts", "household_type"), ("facts", "replacement_ratio")} <= fields
    assert ("property", "rebuild_value") in fields
    clients_generate(count=20, seed=3, books=books_ensure())
    ids = list(Client.objects.order_by("pk").values_list("pk", flat=True))
    _correlated, _features = both_ways(version, (ids[0], ids[-1] + 1))
    with CaptureQueriesContext(connection) as queries:
        staged(programs, (ids[0], ids[-1] + 1), features=True)
    rules = next(query["sql"] for query in queries if query["sql"].startswith(f"INSERT INTO {STAGING_TABLE}"))
    assert "enrichment_clientfacts" not in rules
    assert "is_primary_residence" not in rules  # no probe of the client's home per rule and client


# The planner joins the features by hash where it knows the book as small or not at all, and may
# loop where it knows it as large: the findings are the same.
@pytest.mark.parametrize("hash_below_clients", [10**9, 0], ids=["joined by hash", "planner's choice"])
def test_a_generated_book_stages_the_same_findings_both_ways(db, monkeypatch, hash_below_clients):
    monkeypatch.setattr("framework.staging.FEATURES_HASH_BELOW_CLIENTS", hash_below_clients)
    clients_generate(count=300, seed=11, books=books_ensure())
    ids = list(Client.objects.order_by("pk").values_list("pk", flat=True))
    # Clients without rows in a collection, null members of sums, a household without members.
    InsurancePolicy.objects.filter(client_id__in=ids[:40]).delete()
    LoanPart.objects.filter(mortgage__client_id__in=ids[40:80]).update(outstanding_balance=None)
    InsurancePolicy.objects.filter(client_id__in=ids[80:120]).update(insured_amount=None)
    FamilyMember.objects.filter(household__clients__pk__in=ids[120:160]).delete()
    FamilyMember.objects.filter(household__clients__pk__in=ids[160:200]).update(birth_date=None)
    Client.objects.filter(pk__in=ids[200:210]).update(household=None)
    facts_refresh()
    version = with_probe_rules(FrameworkVersion.objects.get(name="Default framework"))

    for scope in [(ids[0], ids[-1] + 1), (ids[0], ids[150]), (ids[150], ids[-1] + 1)]:
        correlated, features = both_ways(version, scope)
        assert features == correlated
    assert len(correlated) > 100
    fired = {row[3] for row in correlated}
    assert len(fired & set(PROBES)) > 5


@settings(
    max_examples=30,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(client_files(), min_size=1, max_size=4))
def test_random_client_files_stage_the_same_findings_both_ways(db, files):
    with transaction.atomic():
        version = with_probe_rules(FrameworkVersion.objects.get(name="Default framework"))
        ids = [build(spec).pk for spec in files]
        correlated, features = both_ways(version, (min(ids), max(ids) + 1))
        assert features == correlated
        transaction.set_rollback(True)


def test_an_aggregate_that_refers_to_the_client_keeps_its_correlated_subquery(db):
    """`policies[insured_amount > property.rebuild_value / 2]` depends on the client's home: not a feature."""
    version = with_probe_rules(FrameworkVersion.objects.get(name="Default framework"))
    programs = version_programs(version)
    plan = _feature_plan(programs, TODAY)
    rule, program = next((rule, program) for rule, program in programs if rule.key == "extra_18")
    assert "property" in rule.condition
    found = {}
    _top_aggregates(program.branches[0].condition, found)
    assert found and not set(found) & set(plan.columns)
