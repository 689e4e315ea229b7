"""Purpose limitation: a commercial rule may not read financial data, and offers need an opt-in."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from clients.models import Channel, Purpose
from clients.tests.factories import ClientFactory, ContactPreferenceFactory
from framework import services
from framework.language import compile_expression
from framework.language.references import referenced_fields
from framework.models import FrameworkVersion, Rule
from framework.rules import RuleDefinitionError, rule_program
from framework.tests.test_admin import rule_form
from trust.privacy import consent_recorded, consents_granted, purpose_check_fields


@pytest.fixture
def shipped_framework(db) -> FrameworkVersion:
    return FrameworkVersion.objects.get(name="Default framework")


def test_an_expression_lists_the_stored_fields_it_reads():
    node = compile_expression(
        'sum(policies[kind = "home"].insured_amount) < property.rebuild_value and count(complaints) > 0 '
        'and facts.age > 30 and client.email != ""',
        {},
    )

    assert referenced_fields(node) == {
        "clients.InsurancePolicy.client",
        "clients.InsurancePolicy.kind",
        "clients.InsurancePolicy.insured_amount",
        "clients.Property.rebuild_value",
        "clients.Complaint.client",
        "enrichment.ClientFacts.age",
        "clients.Client.email",
    }


def test_a_commercial_purpose_may_not_use_financial_data_and_the_error_says_what_is_allowed():
    errors = purpose_check_fields("commercial", ["clients.Income.gross_annual_amount", "clients.Client.email"])

    assert [error.field for error in errors] == ["clients.Income.gross_annual_amount"]
    assert errors[0].allowed == ("service", "advice", "compliance")
    assert "clients.Income.gross_annual_amount may not be used for “Offers and marketing”" in str(errors[0])
    assert "Advice and after-care" in str(errors[0])
    assert purpose_check_fields("advice", ["clients.Income.gross_annual_amount"]) == []


def test_a_field_missing_from_the_register_is_refused_for_every_purpose():
    (error,) = purpose_check_fields("advice", ["clients.Client.shoe_size"])
    assert "has no entry in the privacy register" in str(error)


@pytest.mark.django_db
def test_a_commercial_rule_reading_income_is_refused_on_save_naming_the_field(shipped_framework, admin):
    draft = services.framework_version_copy(version=shipped_framework, user=admin, name="Draft")
    rule = Rule(
        version=draft,
        key="upsell_savings",
        name="Offer a savings account",
        alert_type="upsell_savings",
        message_template="Offer",
        condition="sum(incomes.gross_annual_amount) > 80000",
        purpose=Purpose.COMMERCIAL,
    )

    with pytest.raises(ValidationError) as refused:
        rule.full_clean()

    messages = " ".join(refused.value.message_dict["purpose"])
    assert "clients.Income.gross_annual_amount may not be used for “Offers and marketing”" in messages
    rule.purpose = Purpose.ADVICE
    rule.full_clean()  # the same condition serves advice


@pytest.mark.django_db
def test_a_commercial_rule_on_contact_data_and_segment_is_allowed(shipped_framework, admin):
    draft = services.framework_version_copy(version=shipped_framework, user=admin, name="Draft")
    rule = Rule(
        version=draft,
        key="premium_newsletter",
        name="Premium clients",
        alert_type="premium_newsletter",
        message_template="Hello",
        condition='client.segment = "premium" and client.email != ""',
        purpose=Purpose.COMMERCIAL,
    )
    rule.full_clean()


@pytest.mark.django_db
def test_admin_refuses_a_commercial_rule_whose_reported_value_reads_financial_data(client, admin, shipped_framework):
    draft = services.framework_version_copy(version=shipped_framework, user=admin, name="Draft")
    client.force_login(admin)

    response = client.post(
        reverse("admin:framework_rule_add"),
        rule_form(draft, purpose="commercial", condition='client.segment = "premium"'),
    )

    assert response.status_code == 200
    assert "enrichment.ClientFacts.age may not be used for" in response.content.decode()
    assert not draft.rules.filter(key="old_age").exists()


@pytest.mark.django_db
def test_activation_refuses_a_rule_whose_purpose_was_changed_behind_the_admins_back(shipped_framework):
    rule = shipped_framework.rules.filter(enabled=True).first()
    Rule.objects.filter(pk=rule.pk).update(purpose=Purpose.COMMERCIAL)
    rule.refresh_from_db()

    with pytest.raises(RuleDefinitionError) as refused:
        rule_program(rule)
    assert "may not be used for" in str(refused.value)


@pytest.mark.django_db
def test_only_a_live_granted_consent_for_exactly_the_purpose_and_channel_counts(advisor):
    opted_in = ClientFactory(team=advisor.team)
    ContactPreferenceFactory(client=opted_in, purpose="commercial", channel="email", consent="granted")
    other_channel = ClientFactory(team=advisor.team)
    ContactPreferenceFactory(client=other_channel, purpose="commercial", channel="sms", consent="granted")
    refused = ClientFactory(team=advisor.team)
    ContactPreferenceFactory(client=refused, purpose="commercial", channel="email", consent="refused")
    service_only = ClientFactory(team=advisor.team)
    ContactPreferenceFactory(client=service_only, purpose="service", channel="email", consent="granted")

    def may(client, purpose=Purpose.COMMERCIAL):
        return consent_recorded(client_id=client.pk, purpose=purpose, channel=Channel.EMAIL)

    assert [may(c) for c in (opted_in, other_channel, refused, service_only)] == [True, False, False, False]
    # Service mail needs the client's consent too (Steward's policy; the law asks it for offers).
    assert may(service_only, Purpose.SERVICE) and not may(opted_in, Purpose.SERVICE)
    assert set(consents_granted().filter(purpose="commercial", channel="email").values_list("client", flat=True)) == {
        opted_in.pk
    }
