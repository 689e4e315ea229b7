"""The duty-of-care file: per client, which framework versions ran when, on which data, which alerts
they raised, what follow-up went out through which channel, how the client responded and how each
alert was closed; as JSON (validated against its schema) and as PDF (read back); downloadable by
whoever may see the client, a 404 for another team's advisor."""

import io
import json
from datetime import date, timedelta

import jsonschema
import pytest
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from alerts.evaluation import framework_run, framework_run_range
from alerts.models import Alert
from alerts.services import alerts_resolve
from clients.tests.factories import ClientFactory
from followup.models import Message, MessageAlert, SelfServiceResponse
from framework.models import FrameworkVersion
from trust.duty_of_care import JSON_SCHEMA, client_runs, duty_of_care_file
from trust.models import EvaluationRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def sanne(advisor):
    """A client of anouk's team nobody has spoken to since 2010: the framework raises "no contact"."""
    return ClientFactory(
        team=advisor.team,
        advisor=advisor,
        household=None,
        first_name="Sanne",
        last_name="Zoë de Vries",
        client_since=date(2010, 3, 1),
        phone="+31612345678",
        source="crm",
    )


@pytest.fixture
def after_care(sanne, advisor):
    """The framework runs, raises an alert, an email goes out, the client answers, the advisor closes it."""
    framework_run(client_ids={sanne.pk})
    alert = Alert.objects.get(client=sanne, rule__key="no_contact_12_months")
    now = timezone.now()
    message = Message.objects.create(
        client=sanne,
        team=sanne.team,
        channel="email",
        purpose="service",
        language="nl",
        subject="Even bijpraten?",
        status="responded",
        queued_at=now,
        sent_at=now,
        delivered_at=now,
        responded_at=now + timedelta(hours=2),
        idempotency_key="duty-of-care-test",
    )
    MessageAlert.objects.create(message=message, alert=alert, channel="email")
    SelfServiceResponse.objects.create(
        message=message, alert=alert, client=sanne, flow_key="confirm_details", answers={"still_right": True}
    )
    alerts_resolve(alerts=Alert.objects.filter(pk=alert.pk), user=advisor, reason="Spoke with the client by phone")
    return alert


def test_the_file_says_which_version_ran_when_what_it_raised_what_went_out_and_how_it_closed(sanne, after_care):
    document = duty_of_care_file(client=sanne)

    jsonschema.validate(document, JSON_SCHEMA)
    active = FrameworkVersion.objects.get(status="active")
    assert [run["version"] for run in document["framework_runs"]] == [active.pk]
    alert = next(item for item in document["alerts"] if item["id"] == after_care.pk)
    assert alert["rule"]["key"] == "no_contact_12_months" and alert["rule"]["legal_basis"]
    assert alert["framework_version"]["id"] == active.pk
    # On which data: the values the rule read, and the client's data as it stood, with its source.
    assert alert["values"]
    assert alert["data_when_raised"]["phone"] == {
        **alert["data_when_raised"]["phone"],
        "value": "+31612345678",
        "source": "crm",
    }
    assert [(m["channel"], m["status"], m["subject"]) for m in alert["follow_up"]] == [
        ("email", "responded", "Even bijpraten?")
    ]
    assert [(r["kind"], r["flow"]) for r in alert["responses"]] == [("self_service", "confirm_details")]
    assert [(e["from_status"], e["to_status"]) for e in alert["events"]] == [("", "open"), ("open", "resolved")]
    assert alert["events"][-1]["by"] == "anouk"
    assert alert["events"][-1]["reason"] == "Spoke with the client by phone"
    assert alert["status"] == "resolved" and alert["closed_at"]


def test_the_json_download_is_valid_and_the_pdf_reads_back_with_the_key_facts(client, advisor, sanne, after_care):
    client.force_login(advisor)

    response = client.get(reverse("trust:duty_of_care", args=[sanne.pk, "json"]))
    assert response["Content-Type"].startswith("application/json")
    assert "attachment" in response["Content-Disposition"]
    document = json.loads(response.content)
    jsonschema.validate(document, JSON_SCHEMA)
    assert document["client"]["name"] == sanne.full_name

    response = client.get(reverse("trust:duty_of_care", args=[sanne.pk, "pdf"]))
    assert response["Content-Type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    flat = " ".join(text.split())
    assert f"Duty-of-care file: {sanne.full_name}" in flat
    assert FrameworkVersion.objects.get(status="active").name in flat
    assert "no_contact_12_months" in flat
    assert "Follow-up: email message" in flat and "responded" in flat
    assert "open -> resolved" in flat and "Spoke with the client by phone" in flat


def test_the_page_links_the_file_and_another_teams_advisor_gets_404(client, advisor, advisor_other_team, sanne):
    client.force_login(advisor)
    page = client.get(reverse("clients:detail", args=[sanne.pk])).content.decode()
    assert reverse("trust:duty_of_care", args=[sanne.pk, "pdf"]) in page
    client.force_login(advisor_other_team)
    for file_format in ("json", "pdf"):
        assert client.get(reverse("trust:duty_of_care", args=[sanne.pk, file_format])).status_code == 404


def test_a_run_over_a_range_of_the_book_and_a_run_over_named_clients_are_both_found(sanne, team):
    other = ClientFactory(team=team, household=None)
    framework_run_range(start=min(sanne.pk, other.pk), stop=max(sanne.pk, other.pk) + 1)  # the nightly chunk
    framework_run(client_ids={other.pk})  # after a sync changed only `other`

    assert [run.client_ids for run in client_runs(client_id=sanne.pk)] == [[]]
    assert [run.client_ids for run in client_runs(client_id=other.pk)] == [[], [other.pk]]
    assert EvaluationRun.objects.count() == 2
