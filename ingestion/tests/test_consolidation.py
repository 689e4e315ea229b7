"""Consolidation: per-field source of truth, manual corrections, entity matching and webhooks."""

import json
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from clients.models import Client, Income
from clients.tests.factories import ClientFactory
from ingestion.connectors.hubspot_webhooks import sign_v3
from ingestion.demo import (
    WEBHOOK_SECRET,
    advisory_source_configure,
    crm_source_configure,
    precedence_configure,
)
from ingestion.fake_sources.advisory import FakeAdvisoryTool
from ingestion.fake_sources.generator import dutch_amount, dutch_date, dutch_timestamp, hubspot_timestamp
from ingestion.fake_sources.hubspot import FakeHubSpot
from ingestion.fake_sources.server import running
from ingestion.matching import Person, score_match
from ingestion.models import DataConflict, FieldPrecedence, MatchCandidate, SourceRecord
from ingestion.precedence import Candidate, PrecedenceRules
from ingestion.services.records import client_value_correct, match_candidate_decide
from ingestion.services.sync import connector_for, source_sync

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)


def contact(
    number,
    *,
    email,
    first="Sanne",
    last="Jansen",
    born="1984-03-12",
    postcode="3511 AB",
    income="52000",
    modified=T0,
):
    return {
        "hs_object_id": str(number),
        "firstname": first,
        "lastname": last,
        "email": email,
        "phone": "+31 6 12345678",
        "date_of_birth": born,
        "zip": postcode,
        "city": "Utrecht",
        "annual_income": income,
        "createdate": hubspot_timestamp(modified - timedelta(days=300)),
        "lastmodifieddate": hubspot_timestamp(modified),
    }


def relation(
    number,
    *,
    email,
    first="Sanne",
    last="Jansen",
    born=date(1984, 3, 12),
    income=Decimal("55000"),
    modified=T0,
):
    return {
        "relatienummer": number,
        "voornaam": first,
        "tussenvoegsel": None,
        "achternaam": last,
        "geboortedatum": dutch_date(born),
        "email": email,
        "telefoon": "06-87654321",
        "adres": {"straat": "Oudegracht", "huisnummer": "12", "postcode": "3511AB", "woonplaats": "UTRECHT"},
        "bruto_jaarinkomen": dutch_amount(income),
        "hypotheek": {"hoofdsom": dutch_amount(Decimal("310000")), "rentevast_tot": "01-12-2026"},
        "gewijzigd_op": dutch_timestamp(modified),
        "status": "actief",
    }


def sync(source):
    return source_sync(source_id=source.pk, connector=connector_for(source, sleep=lambda seconds: None))


@pytest.fixture
def two_sources(team):
    crm_server = FakeHubSpot([contact(101, email="sanne@example.nl", modified=T0 + timedelta(days=2))])
    tool_server = FakeAdvisoryTool([relation("R-1", email="sanne@example.nl")])
    with running(crm_server) as crm_url, running(tool_server) as tool_url:
        crm = crm_source_configure(base_url=crm_url, team=team)
        tool = advisory_source_configure(base_url=tool_url, team=team)
        precedence_configure()
        yield crm, tool, crm_server, tool_server


# --- Precedence -----------------------------------------------------------------------------------


def test_the_declared_source_of_truth_wins_and_the_other_value_is_kept_as_a_conflict(two_sources):
    crm, tool, *_ = two_sources
    sync(crm)
    sync(tool)
    client = Client.objects.get()  # both records describe one person, linked by email
    income = Income.objects.get(client=client, sync_slot="income")
    # Income: the advisory tool outranks the CRM.
    assert income.gross_annual_amount == Decimal("55000")
    assert income.provenance_for("gross_annual_amount").source == "advisory-tool"
    conflict = DataConflict.objects.get(client=client, target="income.gross_annual_amount")
    assert (conflict.winning_source, conflict.other_source, conflict.other_value) == (
        "advisory-tool",
        "crm",
        "52000.00",
    )
    # Contact details: the most recently changed wins (the CRM record changed two days later).
    assert client.phone == "+31612345678"
    assert client.provenance_for("phone").source == "crm"
    assert DataConflict.objects.filter(client=client, target="client.phone", other_source="advisory-tool").exists()


def test_changing_the_precedence_changes_the_winner_on_the_next_recompute(two_sources):
    from ingestion.services.recompute import unified_view_recompute

    crm, tool, *_ = two_sources
    sync(crm)
    sync(tool)
    FieldPrecedence.objects.filter(target="income.*").update(source_order="crm, advisory-tool")
    client = Client.objects.get()
    unified_view_recompute(client_ids={client.pk})
    assert Income.objects.get(client=client, sync_slot="income").gross_annual_amount == Decimal("52000")


def test_the_client_page_shows_the_winner_and_the_conflict(two_sources, client, back_office):
    crm, tool, *_ = two_sources
    sync(crm)
    sync(tool)
    client.force_login(back_office)
    html = client.get(reverse("clients:detail", args=[Client.objects.get().pk])).content.decode()
    assert 'data-testid="data-conflicts"' in html
    assert "Income: gross per year" in html and "€52,000" in html
    assert 'data-field="Income.gross_annual_amount" data-source="advisory-tool"' in html


def test_an_advisors_correction_is_never_silently_overwritten_by_a_sync(two_sources, advisor):
    crm, _, crm_server, _ = two_sources
    sync(crm)
    client = Client.objects.get()
    client_value_correct(client=client, target="client.phone", value="06 11112222", user=advisor)
    crm_server.update_contact("101", modified_at=timezone.now() + timedelta(minutes=1), phone="+31 6 33334444")
    sync(crm)
    client.refresh_from_db()
    assert client.phone == "+31611112222"
    assert client.provenance_for("phone").source == "manual"
    conflict = DataConflict.objects.get(client=client, target="client.phone")
    assert (conflict.winning_source, conflict.other_source) == ("manual", "crm")


def test_an_invalid_correction_is_refused_with_the_reason(two_sources, advisor):
    from django.core.exceptions import ValidationError

    crm, *_ = two_sources
    sync(crm)
    with pytest.raises(ValidationError, match="postcode"):
        client_value_correct(client=Client.objects.get(), target="client.postcode", value="12345", user=advisor)


def test_precedence_rules_resolve_from_the_most_specific_declaration():
    rules = PrecedenceRules({"client.*": ("ordered", ("crm", "tool")), "client.email": ("most_recent", ())})
    old, new = T0, T0 + timedelta(days=1)
    crm = Candidate("crm", "a@x.nl", old, old, "1")
    tool = Candidate("tool", "b@x.nl", new, new, "2")
    assert rules.resolve("client.email", [crm, tool]).winner is tool
    assert rules.resolve("client.phone", [crm, tool]).winner is crm
    manual = Candidate("manual", "c@x.nl", old, old, "m")
    assert PrecedenceRules({}).resolve("client.email", [crm, tool, manual]).winner is manual


# --- Matching -------------------------------------------------------------------------------------


def test_scores_rank_identical_people_high_and_strangers_low():
    sanne = Person("Sanne", "", "Jansen", date(1984, 3, 12), "3511 AB")
    assert score_match(sanne, Person("Sanne", "", "Janssen", date(1984, 3, 12), "3511AB")).score >= 90
    assert 70 <= score_match(sanne, Person("Sanne", "", "Janssen", date(1984, 3, 12), "1011 AA")).score < 90
    assert score_match(sanne, Person("Pieter", "", "Bakker", date(1970, 1, 1), "9711 AA")).score < 70


def test_a_near_certain_match_links_without_email(team):
    known = ClientFactory(
        team=team,
        first_name="Sanne",
        last_name_prefix="",
        last_name="Jansen",
        birth_date=date(1984, 3, 12),
        postcode="3511 AB",
        email="",
    )
    server = FakeHubSpot([contact(101, email="", last="Janssen")])
    with running(server) as url:
        sync(crm_source_configure(base_url=url, team=team))
    assert SourceRecord.objects.get().client_id == known.pk
    assert Client.objects.count() == 1


def test_a_grey_zone_match_waits_for_a_person_and_is_never_merged_silently(team, back_office):
    known = ClientFactory(
        team=team,
        first_name="Sanne",
        last_name_prefix="",
        last_name="Jansen",
        birth_date=date(1984, 3, 12),
        postcode="1011 AA",
        email="",
    )
    server = FakeHubSpot([contact(101, email="", last="Janssen", postcode="3511 AB")])
    with running(server) as url:
        run = sync(crm_source_configure(base_url=url, team=team))
    assert run.in_review == 1
    candidate = MatchCandidate.objects.get()
    assert candidate.client == known and candidate.status == MatchCandidate.Status.PENDING
    assert SourceRecord.objects.get().client_id is None
    assert Client.objects.count() == 1

    linked = match_candidate_decide(candidate=candidate, link=True, user=back_office)
    assert linked == known
    known.refresh_from_db()
    assert known.postcode == "3511 AB"  # the record's values now flow into the client


def test_keeping_a_grey_zone_pair_apart_creates_a_new_client(team, back_office):
    ClientFactory(
        team=team,
        first_name="Sanne",
        last_name_prefix="",
        last_name="Jansen",
        birth_date=date(1984, 3, 12),
        postcode="1011 AA",
        email="",
    )
    server = FakeHubSpot([contact(101, email="", last="Janssen", postcode="3511 AB")])
    with running(server) as url:
        sync(crm_source_configure(base_url=url, team=team))
    new_client = match_candidate_decide(candidate=MatchCandidate.objects.get(), link=False, user=back_office)
    assert Client.objects.count() == 2
    assert new_client.last_name == "Janssen"


@pytest.mark.parametrize("window", [1, 250])
def test_matching_decides_the_same_however_many_records_share_a_candidate_window(team, monkeypatch, window):
    # A sync reads the stored candidates of a few records at a time (memory bounded by that, not by
    # the book); a client created earlier in the batch stays a candidate for every later record.
    monkeypatch.setattr("ingestion.services.sync.MATCH_WINDOW", window)
    sanne = ClientFactory(
        team=team, first_name="Sanne", last_name_prefix="", last_name="Jansen",
        birth_date=date(1984, 3, 12), postcode="3511 AB", email="",
    )  # fmt: skip
    pieter = ClientFactory(
        team=team, first_name="Pieter", last_name_prefix="", last_name="Vries",
        birth_date=date(1970, 1, 1), postcode="1011 AA", email="",
    )  # fmt: skip
    server = FakeHubSpot(
        [
            contact(101, email="", last="Janssen"),  # Sanne, a typo: linked
            # Pieter, moved house: a person decides
            contact(102, email="", first="Pieter", last="Vries", born="1970-01-01", postcode="9711 AA"),
            contact(103, email="", first="Kees", last="Smit", born="1991-06-30", postcode="2511 CV"),  # new
            contact(104, email="", first="Kees", last="Smidt", born="1991-06-30", postcode="2511 CV"),  # 103 again
        ]
    )
    with running(server) as url:
        run = sync(crm_source_configure(base_url=url, team=team))
    assert (Client.objects.count(), run.in_review) == (3, 1)
    linked = dict(SourceRecord.objects.values_list("record_id", "client_id"))
    assert linked["101"] == sanne.pk and linked["102"] is None
    assert linked["103"] == linked["104"] not in (None, sanne.pk, pieter.pk)
    assert MatchCandidate.objects.get().client == pieter


def test_the_review_queue_page_decides_a_match(team, client, back_office):
    ClientFactory(
        team=team,
        first_name="Sanne",
        last_name_prefix="",
        last_name="Jansen",
        birth_date=date(1984, 3, 12),
        postcode="1011 AA",
        email="",
    )
    server = FakeHubSpot([contact(101, email="", last="Janssen", postcode="3511 AB")])
    with running(server) as url:
        sync(crm_source_configure(base_url=url, team=team))
    client.force_login(back_office)
    page = client.get(reverse("ingestion:review")).content.decode()
    assert "Janssen" in page and "same birth date" in page
    candidate = MatchCandidate.objects.get()
    client.post(reverse("ingestion:match_decide", args=[candidate.pk]), {"decision": "link"})
    candidate.refresh_from_db()
    assert candidate.status == MatchCandidate.Status.LINKED and candidate.decided_by == back_office


# --- Webhooks -------------------------------------------------------------------------------------


def _signed_post(client, url, events, *, secret=WEBHOOK_SECRET, timestamp=None, tamper=False):
    body = json.dumps(events)
    timestamp = timestamp or str(int(time.time() * 1000))
    uri = f"http://testserver{url}"
    signature = sign_v3(client_secret=secret, method="POST", uri=uri, body=body, timestamp=timestamp)
    if tamper:
        body = body.replace("101", "102")
    return client.post(
        url,
        data=body,
        content_type="application/json",
        headers={"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp},
    )


def _event(event_id, object_id=101):
    return {
        "eventId": event_id,
        "subscriptionType": "contact.propertyChange",
        "objectId": object_id,
        "occurredAt": int(time.time() * 1000),
        "portalId": 1,
        "subscriptionId": 9,
    }


def test_a_signed_webhook_triggers_a_targeted_sync_and_a_replay_is_ignored(
    two_sources, client, django_capture_on_commit_callbacks
):
    crm, _, crm_server, _ = two_sources
    sync(crm)
    crm_server.update_contact("101", modified_at=timezone.now(), city="Amersfoort")
    url = reverse("ingestion:hubspot_webhook", args=["crm"])
    event = _event(1)
    with django_capture_on_commit_callbacks(execute=True):
        response = _signed_post(client, url, [event])
    assert response.status_code == 200 and response.json() == {"accepted": 1}
    assert Client.objects.get().city == "Amersfoort"  # Celery runs eagerly in tests
    redelivered = {**event, "attemptNumber": 1}  # HubSpot retries keep the event, bump the attempt
    assert _signed_post(client, url, [redelivered]).json() == {"accepted": 0}


@pytest.mark.parametrize(
    "kwargs",
    [{"tamper": True}, {"secret": "wrong-secret"}, {"timestamp": str(int((time.time() - 600) * 1000))}],
    ids=["tampered body", "wrong secret", "stale timestamp"],
)
def test_a_webhook_with_a_bad_signature_is_refused(two_sources, client, kwargs):
    url = reverse("ingestion:hubspot_webhook", args=["crm"])
    assert _signed_post(client, url, [_event(2)], **kwargs).status_code == 401
