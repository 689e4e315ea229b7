"""Client confirmation: a signed, single-use, expiring link; answers enter as source "client" only
after back office accepts them."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone, translation

from clients.models import Income, MaritalStatus
from clients.provenance import CLIENT
from clients.tests.factories import ClientFactory, EmploymentFactory, IncomeFactory, PropertyFactory
from enrichment.forms import ConfirmationAnswerForm
from enrichment.models import ConfirmationRequest
from enrichment.services.confirmations import (
    ConfirmationLinkInvalid,
    confirmation_request_accept,
    confirmation_request_answer,
    confirmation_request_for_token,
    confirmation_request_reject,
    confirmation_request_send,
    confirmation_requests_expire,
    marital_status_from_answer,
)

pytestmark = pytest.mark.django_db

ANSWERS = {
    "gross_annual_income": "64000",
    "employer": "Gemeente Utrecht",
    "job_title": "Teamleider",
    "has_partner": "yes",
    "children_count": "1",
    "property_value": "480000",
    "confirmed": "on",
}


@pytest.fixture
def person(team):
    client = ClientFactory(team=team, marital_status=MaritalStatus.SINGLE)
    # Rows a sync wrote (they have a slot), so the client's answers update them rather than add rows.
    IncomeFactory(client=client, sync_slot="income", gross_annual_amount=Decimal("58000"))
    EmploymentFactory(client=client, sync_slot="employment")
    PropertyFactory(client=client, sync_slot="property")
    return client


def send(client, user, django_capture_on_commit_callbacks) -> tuple[ConfirmationRequest, str]:
    with django_capture_on_commit_callbacks(execute=True):
        return confirmation_request_send(
            client=client, requested_by=user, link_for=lambda token: f"http://testserver/confirm/{token}/"
        )


def token_of(link: str) -> str:
    return re.search(r"/confirm/([^/]+)/", link).group(1)


def test_sending_emails_a_link_and_stores_only_its_fingerprint(person, back_office, django_capture_on_commit_callbacks):
    confirmation, link = send(person, back_office, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [person.email]
    assert link in mail.outbox[0].body
    token = token_of(link)
    raw = token.split(":")[0]
    assert raw not in confirmation.token_hash and token not in str(ConfirmationRequest.objects.values().get())
    assert confirmation.expires_at - confirmation.created_at == timedelta(days=14)
    assert confirmation.current_values["gross_annual_income"] == "58000.00"


def test_a_link_is_answered_once(client, person, back_office, django_capture_on_commit_callbacks):
    _confirmation, link = send(person, back_office, django_capture_on_commit_callbacks)
    url = reverse("confirm:answer", args=[token_of(link)])
    assert client.get(url).status_code == 200
    response = client.post(url, ANSWERS)
    assert response.status_code == 200 and b'data-testid="thanks"' in response.content
    again = client.post(url, {**ANSWERS, "gross_annual_income": "1"})
    assert again.status_code == 410 and b'data-reason="used"' in again.content
    assert client.get(url).status_code == 410
    assert ConfirmationRequest.objects.get().answers["gross_annual_income"] == "64000"


def test_answering_twice_through_the_service_is_refused(person, back_office, django_capture_on_commit_callbacks):
    _confirmation, link = send(person, back_office, django_capture_on_commit_callbacks)
    confirmation_request_answer(token=token_of(link), answers={"employer": "A"})
    with pytest.raises(ConfirmationLinkInvalid) as refused:
        confirmation_request_answer(token=token_of(link), answers={"employer": "B"})
    assert refused.value.reason == "used"


def test_an_expired_link_is_refused(client, person, back_office, django_capture_on_commit_callbacks):
    confirmation, link = send(person, back_office, django_capture_on_commit_callbacks)
    ConfirmationRequest.objects.filter(pk=confirmation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(reverse("confirm:answer", args=[token_of(link)]))
    assert response.status_code == 410 and b'data-reason="expired"' in response.content
    with pytest.raises(ConfirmationLinkInvalid) as refused:
        confirmation_request_answer(token=token_of(link), answers={})
    assert refused.value.reason == "expired"
    assert confirmation_requests_expire() == 1
    assert ConfirmationRequest.objects.get().status == ConfirmationRequest.Status.EXPIRED


def test_a_link_is_valid_until_its_expiry_and_not_after(person, back_office, django_capture_on_commit_callbacks):
    confirmation, link = send(person, back_office, django_capture_on_commit_callbacks)
    just_before = confirmation.expires_at - timedelta(seconds=1)
    assert confirmation_request_for_token(token_of(link), now=just_before).pk == confirmation.pk
    with pytest.raises(ConfirmationLinkInvalid):
        confirmation_request_for_token(token_of(link), now=confirmation.expires_at)


def test_a_tampered_or_unknown_link_is_refused(client, person, back_office, django_capture_on_commit_callbacks):
    _confirmation, link = send(person, back_office, django_capture_on_commit_callbacks)
    raw, signature = token_of(link).split(":")
    for token in (f"{raw}x:{signature}", f"{raw}:{signature[:-2]}ab", "nonsense", raw):
        response = client.get(reverse("confirm:answer", args=[token]))
        assert response.status_code == 410 and b'data-reason="invalid"' in response.content


def test_the_client_page_needs_no_login_and_is_not_cached(
    client, person, back_office, django_capture_on_commit_callbacks
):
    _confirmation, link = send(person, back_office, django_capture_on_commit_callbacks)
    response = client.get(reverse("confirm:answer", args=[token_of(link)]))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "same-origin"
    assert "58,000.00" in response.content.decode()  # prefilled with what Steward holds


def test_accepting_writes_the_answers_as_the_clients_own_source(
    person, back_office, django_capture_on_commit_callbacks
):
    confirmation, link = send(person, back_office, django_capture_on_commit_callbacks)
    confirmation_request_answer(
        token=token_of(link),
        answers={
            "gross_annual_income": "64000",
            "employer": "Gemeente Utrecht",
            "job_title": "Teamleider",
            "has_partner": True,
            "children_count": 0,
            "property_value": "480000",
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        confirmation_request_accept(confirmation=confirmation, reviewed_by=back_office)
    income = Income.objects.get(client=person, sync_slot="income")
    assert income.gross_annual_amount == Decimal("64000.00")
    assert income.provenance_for("gross_annual_amount").source == CLIENT
    person.refresh_from_db()
    assert person.marital_status == MaritalStatus.COHABITING
    assert person.provenance_for("marital_status").source == CLIENT
    home = person.properties.get(sync_slot="property")
    assert home.market_value == Decimal("480000.00")
    assert home.market_value_date == timezone.localdate()
    assert person.employments.get(sync_slot="employment").employer == "Gemeente Utrecht"
    assert ConfirmationRequest.objects.get().status == ConfirmationRequest.Status.ACCEPTED
    assert person.facts.gross_income == Decimal("64000.00")  # the facts were derived again


def test_rejecting_writes_nothing(person, back_office, django_capture_on_commit_callbacks):
    confirmation, link = send(person, back_office, django_capture_on_commit_callbacks)
    confirmation_request_answer(token=token_of(link), answers={"gross_annual_income": "1", "has_partner": False})
    confirmation_request_reject(confirmation=confirmation, reviewed_by=back_office)
    income = Income.objects.get(client=person, sync_slot="income")
    assert income.gross_annual_amount == Decimal("58000.00")
    assert income.provenance_for("gross_annual_amount").source == "crm"
    assert ConfirmationRequest.objects.get().status == ConfirmationRequest.Status.REJECTED


@pytest.mark.parametrize(
    ("current", "has_partner", "recorded"),
    [
        (MaritalStatus.MARRIED, True, MaritalStatus.MARRIED),
        (MaritalStatus.SINGLE, True, MaritalStatus.COHABITING),
        (MaritalStatus.UNKNOWN, True, MaritalStatus.COHABITING),
        (MaritalStatus.DIVORCED, False, MaritalStatus.DIVORCED),
        (MaritalStatus.COHABITING, False, MaritalStatus.SINGLE),
        (MaritalStatus.MARRIED, False, None),  # divorced or widowed? back office decides
        (MaritalStatus.UNKNOWN, False, None),
    ],
)
def test_the_partner_answer_sets_only_the_marital_status_it_implies(current, has_partner, recorded):
    assert marital_status_from_answer(current, has_partner) == recorded


def test_only_back_office_sends_and_reviews(client, advisor, back_office, person):
    person.team = advisor.team
    person.save()
    client.force_login(advisor)
    assert client.post(reverse("enrichment:confirmation_send", args=[person.pk])).status_code == 403
    assert client.get(reverse("enrichment:confirmations")).status_code == 403
    client.force_login(back_office)
    response = client.post(reverse("enrichment:confirmation_send", args=[person.pk]))
    assert response.status_code == 302
    detail = client.get(response["Location"]).content.decode()
    assert 'data-testid="confirmation-link"' in detail
    assert 'data-testid="confirmation-link"' not in client.get(response["Location"]).content.decode()  # shown once


def test_a_client_without_email_cannot_be_sent_a_link(client, back_office, team):
    person = ClientFactory(team=team, email="")
    client.force_login(back_office)
    response = client.post(reverse("enrichment:confirmation_send", args=[person.pk]), follow=True)
    assert "no email address" in response.content.decode()
    assert not ConfirmationRequest.objects.exists()


@pytest.mark.parametrize(("language", "typed"), [("nl", "64.000"), ("nl", "64000"), ("en", "64,000"), ("en", "64000")])
def test_amounts_are_read_the_way_the_client_writes_them(language, typed):
    with translation.override(language):
        form = ConfirmationAnswerForm({**ANSWERS, "gross_annual_income": typed})
        assert form.is_valid(), form.errors
    assert form.answers()["gross_annual_income"] == "64000"
