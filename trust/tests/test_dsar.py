"""Data-subject access and erasure: everything about a client out, and everything not on hold gone."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from alerts.models import Alert, AlertEvent, AlertType
from clients.models import ContactMoment, Income, LoanPart, Mortgage
from clients.tests.factories import (
    ClientFactory,
    ContactMomentFactory,
    ContactPreferenceFactory,
    IncomeFactory,
    LoanPartFactory,
    MortgageFactory,
)
from ingestion.models import SourceRecord
from trust.dsar import ERASED_NAME, client_data_export, client_erase
from trust.models import ErasureRecord, LegalHold

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(advisor):
    """A client of Team Noord with products, consent, contacts, a source record and an alert."""
    client = ClientFactory(
        team=advisor.team, advisor=advisor, first_name="Fenna", last_name="Oosterhuis", email="fenna@example.nl"
    )
    IncomeFactory(client=client)
    LoanPartFactory(mortgage=MortgageFactory(client=client))
    ContactPreferenceFactory(client=client, purpose="commercial", channel="email", consent="granted")
    ContactMomentFactory(client=client, subject="Called about the fixed-rate period")
    SourceRecord.objects.create(
        source_key="crm",
        record_id="c-1",
        client=client,
        values={"client.email": "fenna@example.nl"},
        content_hash="x",
        changed_at=timezone.now(),
        fetched_at=timezone.now(),
    )
    alert_type = AlertType.objects.get_or_create(key="fixed_rate_ending", defaults={"name": "Fixed rate ends"})[0]
    alert = Alert.objects.create(client=client, team=client.team, alert_type=alert_type, message="Fixed rate ends")
    AlertEvent.objects.create(alert=alert, to_status="open", reason="Raised by the framework.")
    return client


def test_the_export_holds_every_table_with_the_clients_rows_and_why_each_is_kept(person):
    export = client_data_export(client=person).as_dict()

    tables = {section["label"]: section for section in export["sections"]}
    for label in (
        "clients.Client",
        "clients.Income",
        "clients.Mortgage",
        "clients.LoanPart",
        "clients.ContactPreference",
        "clients.ContactMoment",
        "ingestion.SourceRecord",
        "alerts.Alert",
        "alerts.AlertEvent",
    ):
        assert tables[label]["rows"], label
        assert tables[label]["purposes"] and tables[label]["retention"], label
    assert tables["clients.Client"]["rows"][0]["last_name"] == "Oosterhuis"
    assert tables["clients.ContactMoment"]["rows"][0]["subject"] == "Called about the fixed-rate period"


def test_the_export_leaves_the_bsn_out_unless_asked_for_and_enabled(person, settings):
    settings.STEWARD_BSN_ENABLED = True
    person.bsn = "111222333"
    person.save()

    assert "111222333" not in client_data_export(client=person).as_json()
    assert "bsn_blind_index" not in client_data_export(client=person, include_bsn=True).as_json()
    assert "111222333" in client_data_export(client=person, include_bsn=True).as_json()
    settings.STEWARD_BSN_ENABLED = False
    assert "111222333" not in client_data_export(client=person, include_bsn=True).as_json()


def test_erasure_anonymises_the_client_and_deletes_the_rest(person, admin):
    record = client_erase(client=person, user=admin, reason="Request by the client, 3 March")

    person.refresh_from_db()
    assert (person.first_name, person.last_name, person.email, person.phone) == ("", ERASED_NAME, "", "")
    assert person.birth_date is None and person.deleted_at is not None
    assert not Income.objects.filter(client=person).exists()
    assert not Mortgage.objects.filter(client=person).exists()
    assert not LoanPart.objects.filter(mortgage__client=person).exists()
    assert not ContactMoment.objects.filter(client=person).exists()
    assert not SourceRecord.objects.filter(client=person).exists()
    assert not Alert.objects.filter(client=person).exists()
    assert record.complete and record.removed["clients.Income"] == 1
    assert "Fenna" not in client_data_export(client=person).as_json()
    assert "fenna@example.nl" not in client_data_export(client=person).as_json()


def test_erasure_keeps_what_a_legal_hold_needs_and_finishes_when_the_hold_ends(person, admin):
    hold = LegalHold.objects.create(
        client=person,
        basis=LegalHold.Basis.WFT_RECORD_KEEPING,
        end_date=timezone.localdate() + timedelta(days=30),
        created_by=admin,
    )

    first = client_erase(client=person, user=admin, reason="Request by the client")

    person.refresh_from_db()
    assert not first.complete and first.kept["clients.Income"] == [hold.pk]
    assert Income.objects.filter(client=person).exists()  # the advice file stays
    assert person.last_name == "Oosterhuis"  # whose file it is stays too
    assert person.email == "" and not SourceRecord.objects.filter(client=person).exists()

    hold.end_date = timezone.localdate() - timedelta(days=1)
    hold.save()
    second = client_erase(client=person, user=None, reason="legal hold ended")

    person.refresh_from_db()
    assert second.complete and person.last_name == ERASED_NAME
    assert not Income.objects.filter(client=person).exists()
    assert ErasureRecord.objects.filter(client=person).count() == 2


def test_an_advisor_of_the_clients_team_downloads_the_export_as_json_and_pdf(client, advisor, person):
    client.force_login(advisor)

    as_json = client.get(reverse("privacy:client_export", args=[person.pk, "json"]))
    as_pdf = client.get(reverse("privacy:client_export", args=[person.pk, "pdf"]))

    assert as_json.status_code == 200 and "attachment" in as_json["Content-Disposition"]
    assert json.loads(as_json.content)["name"] == "Fenna de Oosterhuis"
    assert as_pdf.status_code == 200 and as_pdf.content.startswith(b"%PDF-1.4")
    assert b"Oosterhuis" in as_pdf.content


def test_another_teams_advisor_gets_a_404_and_back_office_a_403(client, advisor_other_team, back_office, person):
    client.force_login(advisor_other_team)
    assert client.get(reverse("privacy:client_export", args=[person.pk, "json"])).status_code == 404
    client.force_login(back_office)
    assert client.get(reverse("privacy:client_export", args=[person.pk, "json"])).status_code == 403


def test_an_admin_erases_clients_with_the_admin_action(client, admin, person):
    client.force_login(admin)

    response = client.post(
        reverse("admin:trust_datasubject_changelist"),
        {"action": "erase_selected", "_selected_action": [person.pk], "reason": "Request by letter", "apply": "1"},
    )

    assert response.status_code == 302
    person.refresh_from_db()
    assert person.last_name == ERASED_NAME
    assert ErasureRecord.objects.get(client=person).reason == "Request by letter"
