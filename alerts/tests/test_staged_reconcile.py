"""On PostgreSQL the framework runs in SQL (framework.staging, alerts_reconcile_staged); it must leave
exactly the alerts the portable Python path leaves: same values, fingerprints, messages, segments,
granulation, canvas places, owners and events, and the same decisions on later runs."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import override

from alerts import evaluation
from alerts.evaluation import framework_run
from alerts.models import Alert, AlertEvent
from alerts.services import Finding, alerts_dismiss, jsonb_text
from clients.generation import books_ensure, clients_generate
from clients.models import Client, LoanPart
from enrichment.services import facts_refresh
from framework.staging import staging_supported

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL path is PostgreSQL's"),
]

COMPARED = ("client_id", "alert_type__key", "segment", "status", "message", "values", "values_fingerprint",
            "granulation", "due_date", "priority", "quadrant", "team_id", "assigned_to_id", "rule_id",
            "rule_version_id", "status_reason")  # fmt: skip


def alerts_now() -> dict:
    rows = Alert.objects.values(*COMPARED)
    return {(row["client_id"], row["alert_type__key"], row["status"]): row for row in rows}


def events_now() -> list:
    return sorted(AlertEvent.objects.values_list("alert__client_id", "alert__alert_type__key", "from_status",
                                                 "to_status", "reason"))  # fmt: skip


def python_path(monkeypatch):
    monkeypatch.setattr(evaluation, "staging_supported", lambda: False)


class Undo(Exception):
    pass


def both_ways(monkeypatch, step) -> tuple:
    """Run `step` the Python way and the SQL way from the same state; the alerts and events after each."""
    outcomes = []
    for portable in (True, False):
        try:
            with transaction.atomic():
                with monkeypatch.context() as patch:
                    if portable:
                        python_path(patch)
                    summary = step()
                outcomes.append((alerts_now(), events_now(), summary.counts))
                raise Undo
        except Undo:
            pass
    return outcomes


@pytest.fixture
def book(db):
    clients_generate(count=400, seed=7, books=books_ensure())
    facts_refresh()


@pytest.mark.parametrize("language", ["en", "nl"])
def test_the_sql_path_opens_the_same_alerts_as_the_python_path(book, monkeypatch, language):
    assert staging_supported()
    with override(language):
        (python_alerts, python_events, python_counts), (sql_alerts, sql_events, sql_counts) = both_ways(
            monkeypatch, framework_run
        )
    assert len(python_alerts) > 100
    assert sql_alerts == python_alerts
    assert sql_events == python_events
    assert (sql_counts.opened, sql_counts.kept, sql_counts.closed) == (
        python_counts.opened,
        python_counts.kept,
        python_counts.closed,
    )
    assert dict(sql_counts.by_type) == dict(python_counts.by_type)


def test_after_a_change_both_paths_keep_update_close_and_suppress_alike(book, monkeypatch):
    framework_run()
    clients = list(Client.objects.order_by("pk")[:60])
    # Changes: fixed-rate periods now ending soon, a deleted client, a dismissed alert.
    LoanPart.objects.filter(mortgage__client__in=clients[:20]).update(
        fixed_rate_end_date=timezone.localdate() + timedelta(days=10)
    )
    dismissed = Alert.objects.filter(status="open").order_by("pk")[:5]
    alerts_dismiss(alerts=Alert.objects.filter(pk__in=[a.pk for a in dismissed]), user=None, reason="seen")
    LoanPart.objects.filter(mortgage__client__in=clients[20:40]).update(fixed_rate_end_date=None)

    def step():
        return framework_run()

    (python_alerts, python_events, python_counts), (sql_alerts, sql_events, sql_counts) = both_ways(monkeypatch, step)
    assert sql_alerts == python_alerts
    assert sql_events == python_events
    for name in ("opened", "kept", "updated", "closed", "suppressed"):
        assert getattr(sql_counts, name) == getattr(python_counts, name), name
    assert python_counts.closed > 0 and python_counts.suppressed > 0


def test_a_second_sql_run_with_nothing_changed_writes_nothing(book):
    framework_run()
    before = Alert.objects.order_by("pk").values_list("pk", "updated_at")
    before = list(before)
    summary = framework_run()
    assert (summary.counts.opened, summary.counts.updated, summary.counts.closed) == (0, 0, 0)
    assert list(Alert.objects.order_by("pk").values_list("pk", "updated_at")) == before


def test_the_planner_settings_of_a_run_are_put_back_for_the_rest_of_the_transaction(book):
    def settings_now():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('enable_seqscan'), current_setting('plan_cache_mode'),"
                " current_setting('enable_nestloop')"
            )
            return cursor.fetchone()

    with transaction.atomic():
        before = settings_now()
        framework_run()
        framework_run(client_ids={Client.objects.order_by("pk").first().pk})
        assert settings_now() == before == ("on", "auto", "on")


def test_one_client_by_id_in_sql_is_the_python_result(book, monkeypatch):
    framework_run()
    client = Client.objects.filter(mortgages__isnull=False).order_by("pk").first()
    LoanPart.objects.filter(mortgage__client=client).update(
        fixed_rate_end_date=timezone.localdate() + timedelta(days=10)
    )
    (python_alerts, python_events, _), (sql_alerts, sql_events, _) = both_ways(
        monkeypatch, lambda: framework_run(client_ids={client.pk})
    )
    assert sql_alerts == python_alerts and sql_events == python_events


def test_the_fingerprint_is_md5_of_the_values_as_postgresql_writes_them():
    values = {"b": "1.5", "aa": None, "a": True, "é": 'x\n"y"', "days_left": "3", "n": 2}
    with connection.cursor() as cursor:
        cursor.execute("SELECT CAST(CAST(%s AS jsonb) AS text)", [jsonb_text(values)])
        assert cursor.fetchone()[0] == jsonb_text(values)
        material = {key: value for key, value in values.items() if not key.startswith("days_")}
        cursor.execute("SELECT md5(CAST(CAST(%s AS jsonb) AS text))", [jsonb_text(material)])
        assert cursor.fetchone()[0] == Finding(client_id=1, alert_type="x", values=values).fingerprint


def test_a_percent_sign_in_a_rule_survives_the_prepared_statement(book, monkeypatch):
    """The rules' own text travels inside the statement prepared for a few clients: a % stays one %."""
    from django.db.models import Value
    from django.db.models.functions import Concat

    from framework.models import Rule

    framework_run()
    client = Client.objects.filter(mortgages__isnull=False).order_by("pk").first()
    LoanPart.objects.filter(mortgage__client=client).update(
        fixed_rate_end_date=timezone.localdate() + timedelta(days=10)
    )
    Rule.objects.update(message_template=Concat(Value("Rente 4,5% (100%%): "), "message_template"))
    (python_alerts, python_events, _), (sql_alerts, sql_events, _) = both_ways(
        monkeypatch, lambda: framework_run(client_ids={client.pk})
    )
    assert sql_alerts == python_alerts and sql_events == python_events
    messages = [row["message"] for row in sql_alerts.values() if row["client_id"] == client.pk]
    assert any(message.startswith("Rente 4,5% (100%%): ") for message in messages)


def test_the_day_of_the_run_is_part_of_the_compiled_rules(book, monkeypatch):
    """A worker that lives past midnight evaluates the new day, not the day its rules were compiled."""
    framework_run()
    later = timezone.localdate() + timedelta(days=200)
    (python_alerts, python_events, python_counts), (sql_alerts, sql_events, _) = both_ways(
        monkeypatch, lambda: framework_run(today=later)
    )
    assert python_counts.opened + python_counts.updated + python_counts.closed > 0  # the day matters
    assert sql_alerts == python_alerts and sql_events == python_events


def test_a_rule_edited_in_place_is_read_again_by_the_next_one_client_run(book, monkeypatch):
    """The rules are kept between runs per fingerprint of their rows: an edit that sends no signal
    (a queryset update) is seen by the very next run, as the Python path sees it."""
    from django.db.models import Value
    from django.db.models.functions import Concat

    from framework.models import Rule

    framework_run()
    client = Client.objects.filter(mortgages__isnull=False).order_by("pk").first()
    framework_run(client_ids={client.pk})  # the rules as they were, kept
    LoanPart.objects.filter(mortgage__client=client).update(
        fixed_rate_end_date=timezone.localdate() + timedelta(days=10)
    )
    Rule.objects.update(message_template=Concat(Value("Edited: "), "message_template"))
    (python_alerts, python_events, _), (sql_alerts, sql_events, _) = both_ways(
        monkeypatch, lambda: framework_run(client_ids={client.pk})
    )
    assert sql_alerts == python_alerts and sql_events == python_events
    messages = [row["message"] for row in sql_alerts.values() if row["client_id"] == client.pk]
    assert any(message.startswith("Edited: ") for message in messages)  # the alert the change rewrote


def test_the_rules_fingerprint_changes_with_every_edit_of_a_rule_or_its_parts():
    from framework.models import ReportedValue
    from framework.selectors import framework_version_active
    from framework.staging import rules_fingerprint

    version = framework_version_active()  # the default framework (a migration's)
    seen = {rules_fingerprint(version)}
    assert rules_fingerprint(version) in seen  # nothing changed, the same
    value = ReportedValue.objects.filter(rule__version=version).order_by("pk").first()
    for expression in (f"{value.expression} ", f"{value.expression}  "):  # twice in one transaction
        ReportedValue.objects.filter(pk=value.pk).update(expression=expression)
        fingerprint = rules_fingerprint(version)
        assert fingerprint not in seen
        seen.add(fingerprint)
    value.rule.decision_rows.create(cells=[], note="new")
    assert rules_fingerprint(version) not in seen


def test_a_client_with_nothing_found_has_its_live_alerts_resolved(book, monkeypatch):
    """Nothing staged for the client (here: every rule disabled): its live alerts still close."""
    from framework.models import Rule

    framework_run()
    client = Alert.objects.filter(status="open").order_by("pk").first().client
    Rule.objects.update(enabled=False)
    (python_alerts, python_events, python_counts), (sql_alerts, sql_events, sql_counts) = both_ways(
        monkeypatch, lambda: framework_run(client_ids={client.pk})
    )
    assert sql_alerts == python_alerts and sql_events == python_events
    assert sql_counts.closed == python_counts.closed > 0
    assert not any(row["client_id"] == client.pk and row["status"] == "open" for row in sql_alerts.values())


def test_one_client_runs_after_a_rolled_back_run_on_the_same_connection(book, monkeypatch):
    """Temporary tables created in a transaction that was rolled back are gone; the next run makes them
    again (its prepared statement outlived the rollback)."""
    framework_run()
    client = Client.objects.filter(mortgages__isnull=False).order_by("pk").first()
    LoanPart.objects.filter(mortgage__client=client).update(
        fixed_rate_end_date=timezone.localdate() + timedelta(days=10)
    )
    for _attempt in range(2):
        try:
            with transaction.atomic():
                framework_run(client_ids={client.pk})
                raise Undo
        except Undo:
            pass
    (python_alerts, python_events, _), (sql_alerts, sql_events, _) = both_ways(
        monkeypatch, lambda: framework_run(client_ids={client.pk})
    )
    assert sql_alerts == python_alerts and sql_events == python_events


def test_a_second_one_client_run_reads_no_rules_when_none_changed(book):
    from django.test.utils import CaptureQueriesContext

    framework_run()
    client = Client.objects.order_by("pk").first()
    framework_run(client_ids={client.pk})
    with CaptureQueriesContext(connection) as queries:
        framework_run(client_ids={client.pk})
    rules_read = [query for query in queries.captured_queries if '"framework_rule"."id"' in query["sql"]]
    assert not rules_read  # only their fingerprint


def alerts_in_statistics() -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'alerts_alert'::regclass")
        return cursor.fetchone()[0]


def test_a_run_that_opens_many_alerts_into_a_table_the_planner_thinks_empty_refreshes_its_statistics(book, monkeypatch):
    # The statistics outlive the tests' transactions (ANALYZE writes them in place): whatever earlier
    # tests left, every count counts as stale here.
    monkeypatch.setattr(evaluation, "STALE_STATISTICS_MIN_OPENED", 10)
    monkeypatch.setattr(evaluation, "STALE_STATISTICS_SHARE", 0)
    analyzed = []
    real = evaluation.alert_statistics_refresh_if_stale
    monkeypatch.setattr(
        evaluation, "alert_statistics_refresh_if_stale", lambda **kwargs: analyzed.append(real(**kwargs))
    )

    framework_run()
    assert analyzed == [True] and alerts_in_statistics() == Alert.objects.count() > 10

    framework_run()  # nothing opened: no check at all
    assert analyzed == [True]
    monkeypatch.setattr(evaluation, "STALE_STATISTICS_SHARE", 0.2)
    assert real(opened=1) is False  # a few alerts more than the statistics know are not stale
