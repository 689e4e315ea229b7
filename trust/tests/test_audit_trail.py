"""The audit trail: every change to client data, rules, the canvas and permissions is recorded with
who (or which source), when and old → new; syncs are recorded per changed row and a sync that
changes nothing records nothing; the history is on the client's page and in admin."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from alerts.models import AlertType
from canvas.services import placement_move
from clients.audit_hook import written_by
from clients.bulk import rows_update
from clients.models import Client, Income
from clients.tests.factories import ClientFactory, IncomeFactory
from framework import services as framework_services
from framework.models import FrameworkVersion, Rule
from framework.tests.test_admin import form_data
from ingestion.demo import crm_source_configure
from ingestion.fake_sources.generator import dutch_contacts
from ingestion.fake_sources.hubspot import FakeHubSpot
from ingestion.fake_sources.server import running
from ingestion.services.records import client_value_correct
from ingestion.services.sync import connector_for, source_sync
from trust.audit import history_model_of, history_record_bulk
from trust.audit_selectors import _related_label, client_changes

pytestmark = pytest.mark.django_db


def history_of(model):
    return history_model_of(model).objects


def only_change(entries, field_name: str):
    """The one change of `field_name` after the object was created."""
    matches = [
        change for entry in entries if entry.kind == "~" for change in entry.changes if change.name == field_name
    ]
    assert len(matches) == 1, matches
    return matches[0]


# --- People's edits -------------------------------------------------------------------------------


def test_an_advisors_correction_is_recorded_with_the_advisor_and_the_old_and_new_value(advisor):
    client = ClientFactory(team=advisor.team, phone="+31612345678")

    client_value_correct(client=client, target="client.phone", value="06 11112222", user=advisor)

    record = history_of(Client).filter(id=client.pk, history_type="~").get()
    assert (record.history_user_id, record.history_username) == (advisor.pk, "anouk")
    assert record.history_source == "manual"  # the correction is the source "manual", entered by anouk
    change = only_change(client_changes(client=client), "phone")
    assert (change.old, change.new) == ("+31612345678", "+31611112222")


def test_a_rule_edited_in_admin_is_in_its_admin_history_with_old_and_new(client, admin):
    draft = framework_services.framework_version_copy(
        version=FrameworkVersion.objects.get(name="Default framework"), user=admin, name="Draft 2027"
    )
    rule = draft.rules.get(key="pension_gap")
    client.force_login(admin)
    change_url = reverse("admin:framework_rule_change", args=[rule.pk])
    data = form_data(client.get(change_url))
    data["name"] = "Pension gap (revised)"

    assert client.post(change_url, data).status_code == 302

    latest = history_of(Rule).filter(id=rule.pk).latest()
    assert (latest.name, latest.history_user_id, latest.history_username) == (
        "Pension gap (revised)",
        admin.pk,
        admin.username,
    )
    page = client.get(reverse("admin:framework_rule_history", args=[rule.pk])).content.decode()
    assert "Pension gap (revised)" in page and rule.name in page  # old → new, field by field
    assert admin.username in page


def test_a_canvas_move_is_recorded_with_who_and_where_from(back_office):
    alert_type = AlertType.objects.create(key="audit_trail_card", name="A card for the audit trail")
    placement_move(alert_type=alert_type, urgency=20, sensitivity=30, user=back_office)

    placement_move(alert_type=alert_type, urgency=80, sensitivity=70, user=back_office)

    placements = history_of(alert_type.canvas_placements.model).filter(alert_type_id=alert_type.pk)
    records = list(placements.order_by("history_date", "history_id"))
    # The card is made in the tray, then placed, then moved: each step recorded.
    assert [(r.urgency, r.advice_sensitivity) for r in records] == [(None, None), (20, 30), (80, 70)]
    # Moves name who made them (the placement records its editor); called in a request, the
    # middleware names the user of the tray card's creation too.
    assert [r.history_username for r in records[1:]] == [back_office.username] * 2
    delta = records[2].diff_against(records[1])
    assert {(c.field, c.old, c.new) for c in delta.changes} >= {("urgency", 20, 80), ("advice_sensitivity", 30, 70)}


def test_a_change_of_a_users_roles_in_admin_is_recorded_with_the_admin(client, admin, advisor):
    client.force_login(admin)
    change_url = reverse("admin:accounts_user_change", args=[advisor.pk])
    data = form_data(client.get(change_url))
    joined = timezone.localtime(data.pop("date_joined"))  # admin shows it as a date and a time box
    data.update(date_joined_0=f"{joined:%Y-%m-%d}", date_joined_1=f"{joined:%H:%M:%S}")
    back_office_group = Group.objects.get(name="Back office")
    data["groups"] = [*data["groups"], back_office_group.pk]

    assert client.post(change_url, data).status_code == 302

    latest = history_of(type(advisor)).filter(id=advisor.pk).latest()
    assert latest.history_username == admin.username
    assert {group.group_id for group in latest.groups.all()} == set(advisor.groups.values_list("pk", flat=True))
    assert back_office_group.pk in {group.group_id for group in latest.groups.all()}


def test_a_direct_permission_given_to_a_user_is_recorded(admin, advisor):
    permission = Permission.objects.get(codename="reveal_bsn")
    before = history_of(type(advisor)).filter(id=advisor.pk).count()

    with written_by(user=admin):
        advisor.user_permissions.add(permission)

    latest = history_of(type(advisor)).filter(id=advisor.pk).latest()
    assert history_of(type(advisor)).filter(id=advisor.pk).count() == before + 1
    assert [p.permission_id for p in latest.user_permissions.all()] == [permission.pk]
    assert latest.history_username == admin.username


def test_logging_in_is_not_a_change_of_the_user(client, advisor, persona_password):
    before = history_of(type(advisor)).filter(id=advisor.pk).count()
    assert client.login(username=advisor.username, password=persona_password)
    assert history_of(type(advisor)).filter(id=advisor.pk).count() == before


def test_a_groups_permissions_are_audited_too(admin):
    group = Group.objects.get(name="Advisor")
    permission = Permission.objects.get(codename="reveal_bsn")
    with written_by(user=admin):
        group.permissions.add(permission)
    latest = history_of(Group).filter(id=group.pk).latest()
    assert permission.pk in {row.permission_id for row in latest.permissions.all()}


# --- Syncs ----------------------------------------------------------------------------------------


@pytest.fixture
def crm_server():
    server = FakeHubSpot(dutch_contacts(30, seed=5))
    with running(server) as base_url:
        server.base_url_for_tests = base_url
        yield server


@pytest.fixture
def crm(crm_server, team):
    source = crm_source_configure(base_url=crm_server.base_url_for_tests, team=team)
    source.config = {**source.config, "timeout_seconds": 2, "max_attempts": 2, "backoff_base_seconds": 0.01}
    source.save()
    return source


def sync(source):
    return source_sync(source_id=source.pk, connector=connector_for(source, sleep=lambda seconds: None))


def test_a_first_sync_records_each_new_client_as_created_by_the_source(crm):
    sync(crm)
    created = history_of(Client).filter(history_type="+")
    assert created.count() == Client.objects.count() == 30
    assert set(created.values_list("history_source", flat=True)) == {"crm"}
    assert set(created.values_list("history_user_id", flat=True)) == {None}


def test_a_sync_changing_a_field_records_one_row_for_that_client_attributed_to_the_source(crm, crm_server):
    sync(crm)
    client = Client.objects.get(source_records__record_id="1005")
    old_email = client.email

    crm_server.update_contact("1005", modified_at=timezone.now() + timedelta(minutes=5), email="nieuw@example.nl")
    sync(crm)

    changed = history_of(Client).filter(history_type="~")
    assert list(changed.values_list("id", flat=True)) == [client.pk]
    record = changed.get()
    assert (record.history_source, record.history_user_id, record.email) == ("crm", None, "nieuw@example.nl")
    change = only_change(client_changes(client=client), "email")
    assert (change.old, change.new) == (old_email, "nieuw@example.nl")


def test_a_sync_that_changes_nothing_writes_no_history(crm):
    sync(crm)
    rows_before = sum(history_of(model).count() for model in (Client, Income))
    crm.watermark = None  # the second run reads every record again: all unchanged
    crm.save()

    run = sync(crm)

    assert (run.updated, run.unchanged) == (0, 30)
    assert sum(history_of(model).count() for model in (Client, Income)) == rows_before


def test_a_bulk_write_that_only_refreshes_bookkeeping_writes_no_history():
    client = ClientFactory()
    row = {"id": client.pk, "email": client.email, "fetched_at": timezone.now(), "provenance": {"email": {}}}
    assert history_record_bulk(model=Client, rows=[row], field_names=["email", "fetched_at", "provenance"]) == 0
    row["email"] = "other@example.nl"
    assert history_record_bulk(model=Client, rows=[row], field_names=["email", "fetched_at", "provenance"]) == 1


def test_a_bulk_update_is_recorded_as_the_whole_row_after_it_the_fields_it_left_as_they_were():
    client = ClientFactory(first_name="Anna", source="crm", provenance={"email": {"source": "old"}})
    row = {"id": client.pk, "email": "nieuw@example.nl", "provenance": {"email": {"source": "crm"}}}
    from clients.bulk import rows_update

    rows_update(Client, [row], ["email", "provenance"])

    record = history_of(Client).filter(id=client.pk, history_type="~").get()
    assert (record.email, record.provenance) == ("nieuw@example.nl", {"email": {"source": "crm"}})
    assert (record.first_name, record.team_id, record.created_at) == ("Anna", client.team_id, client.created_at)
    assert (record.source, record.history_source) == ("crm", "crm")


def test_products_changed_in_bulk_are_recorded_and_on_the_clients_history(advisor):
    income = IncomeFactory(client=ClientFactory(team=advisor.team))
    old_amount = income.gross_annual_amount
    from clients.bulk import rows_update

    with written_by(source="payroll-export"):
        rows_update(Income, [{"id": income.pk, "gross_annual_amount": old_amount + 1000}], ["gross_annual_amount"])

    record = history_of(Income).filter(id=income.pk, history_type="~").get()
    assert record.history_source == "payroll-export"
    entry = next(entry for entry in client_changes(client=income.client) if entry.kind == "~")
    assert entry.by == "source payroll-export"
    assert entry.changes[0].name == "gross_annual_amount"


def _history_written(model, rows, field_names, *, staged: bool) -> list[dict]:
    """The "~" rows that recording these updates writes, by the staged comparison (rows_update on
    PostgreSQL) or in Python (the recorder without a staging table); rolled back either way."""
    history = history_model_of(model)
    columns = [field.attname for field in history.tracked_fields]
    meta = ["history_source", "history_user_id", "history_username", "history_change_reason"]
    with transaction.atomic():
        if staged:
            with CaptureQueriesContext(connection) as queries:
                rows_update(model, rows, field_names)
            # Compared in the database: nothing of the table is read into Python.
            table = f'FROM "{model._meta.db_table}"'
            assert not [
                query
                for query in queries.captured_queries
                if query["sql"].startswith("SELECT") and table in query["sql"]
            ]
        else:
            history_record_bulk(model=model, rows=rows, field_names=field_names)
        written = list(history.objects.filter(history_type="~").order_by("id").values(*columns, *meta))
        transaction.set_rollback(True)
    return written


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the staged comparison is PostgreSQL's")
def test_a_staged_update_records_exactly_what_the_comparison_in_python_records():
    clients = [
        ClientFactory(source="crm", city="Utrecht", birth_date=date(1970, 1, 1), email=f"c{index}@example.nl")
        for index in range(6)
    ]
    now = timezone.now()
    entry = {"source": "z-portal", "record": "1"}
    changes = [
        {"fetched_at": now, "provenance": {"email": entry}},  # bookkeeping only: no row
        {"email": "nieuw@example.nl", "provenance": {"email": entry}},  # the provenance names the source
        {"email": "b@example.nl", "city": "Zeist", "provenance": {"email": entry}},  # and the row's own
        {"city": "Zeist", "provenance": {"city": "not an entry"}},  # no entry: the row's source
        {"birth_date": None, "provenance": {"birth_date": {"record": "2"}}},  # an entry without a source
        {"email": "c5@example.nl", "birth_date": date(1970, 1, 1), "provenance": {}},  # the same values
    ]
    fields = ["email", "city", "birth_date", "bsn", "fetched_at", "provenance"]  # the BSN is written, not kept
    rows = []
    for client, change in zip(clients, changes, strict=True):
        row = {field: getattr(client, field) for field in fields}
        rows.append({**row, "id": client.pk, **change})

    staged = _history_written(Client, rows, fields, staged=True)

    assert staged == _history_written(Client, rows, fields, staged=False)
    assert [(row["id"], row["history_source"]) for row in staged] == [
        (clients[1].pk, "z-portal"),
        (clients[2].pk, "crm, z-portal"),
        (clients[3].pk, "crm"),
        (clients[4].pk, "crm"),
    ]
    second = staged[1]  # the whole row after the update: written fields and the ones left
    assert (second["email"], second["city"], second["team_id"]) == ("b@example.nl", "Zeist", clients[2].team_id)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the staged comparison is PostgreSQL's")
def test_a_staged_update_on_whose_behalf_a_source_writes_names_that_source():
    incomes = [IncomeFactory(gross_annual_amount=Decimal("50000.00")) for _ in range(2)]
    rows = [
        {"id": incomes[0].pk, "gross_annual_amount": Decimal("50000.0")},  # the same amount, written otherwise
        {"id": incomes[1].pk, "gross_annual_amount": Decimal("51000.00")},
    ]
    with written_by(source="payroll-export"):
        staged = _history_written(Income, rows, ["gross_annual_amount"], staged=True)
        assert staged == _history_written(Income, rows, ["gross_annual_amount"], staged=False)
    assert [(row["id"], row["history_source"]) for row in staged] == [(incomes[1].pk, "payroll-export")]


# --- Where people see it --------------------------------------------------------------------------


def test_the_client_page_offers_the_history_and_it_lists_field_changes(client, advisor):
    subject = ClientFactory(team=advisor.team, phone="+31612345678")
    client_value_correct(client=subject, target="client.phone", value="06 11112222", user=advisor)
    client.force_login(advisor)

    page = client.get(reverse("clients:detail", args=[subject.pk])).content.decode()
    assert reverse("trust:client_history", args=[subject.pk]) in page
    history = client.get(reverse("trust:client_history", args=[subject.pk])).content.decode()
    assert 'data-field="phone" data-source="manual" data-user="anouk"' in history
    assert "+31612345678" in history and "+31611112222" in history


def test_a_key_is_shown_by_what_it_names_and_by_its_id_once_that_is_gone(advisor, advisor_other_team):
    subject = ClientFactory(team=advisor.team)
    subject.team = advisor_other_team.team
    subject.save()

    change = only_change(client_changes(client=subject), "team")
    assert (change.old, change.new) == (str(advisor.team), str(advisor_other_team.team))
    assert str(advisor.team) == advisor.team.name
    assert _related_label(Client._meta.get_field("team"), 987654, {}) == "#987654"


def test_another_teams_advisor_gets_404_for_the_history(client, advisor, advisor_other_team):
    subject = ClientFactory(team=advisor.team)
    client.force_login(advisor_other_team)
    assert client.get(reverse("trust:client_history", args=[subject.pk])).status_code == 404


def test_the_bsn_never_enters_the_trail():
    fields = {field.name for field in history_model_of(Client)._meta.fields}
    assert "bsn" not in fields and "bsn_blind_index" not in fields
    assert "email" in fields


def test_an_old_version_cannot_be_posted_back_from_the_admin_history(client, admin):
    rule = Rule.objects.filter(version__status="active").first()
    rule.save()  # a history row to open
    record = history_of(Rule).filter(id=rule.pk).latest()
    client.force_login(admin)
    url = reverse("admin:framework_rule_simple_history", args=[rule.pk, record.history_id])

    assert client.get(url).status_code == 200  # an old version can be read
    assert client.post(url, {"name": "Rewritten"}).status_code == 403  # never saved back
    rule.refresh_from_db()
    assert rule.name != "Rewritten"
