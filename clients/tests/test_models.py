"""The unified client view refuses impossible data with messages a person can act on."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from clients.models import Client
from clients.provenance import Provenance
from clients.validators import normalise_phone_number, normalise_postcode, validate_bsn

from .factories import ClientFactory, ComplaintFactory, LoanPartFactory

pytestmark = pytest.mark.django_db


def test_a_loan_part_with_a_negative_balance_is_refused_with_a_clear_message():
    part = LoanPartFactory.build(mortgage=LoanPartFactory().mortgage, outstanding_balance=Decimal("-1"))
    with pytest.raises(ValidationError) as error:
        part.full_clean()
    assert "An outstanding balance cannot be negative." in str(error.value)


def test_the_database_itself_refuses_a_negative_balance():
    part = LoanPartFactory()
    part.outstanding_balance = Decimal("-500")
    with pytest.raises(IntegrityError), transaction.atomic():
        part.save()


def test_an_interest_rate_outside_zero_to_twenty_percent_is_refused():
    part = LoanPartFactory.build(mortgage=LoanPartFactory().mortgage, interest_rate=Decimal("25"))
    with pytest.raises(ValidationError, match="between 0% and 20%"):
        part.full_clean()


def test_a_complaint_cannot_be_resolved_before_it_was_received():
    complaint = ComplaintFactory()
    complaint.resolved_on = complaint.received_on - timedelta(days=1)
    with pytest.raises(ValidationError, match="resolved before it was received"):
        complaint.full_clean()


@pytest.mark.parametrize("bsn", ["111222333", "123456782"])
def test_a_bsn_that_passes_the_eleven_test_is_accepted(bsn):
    validate_bsn(bsn)


@pytest.mark.parametrize("bsn", ["123456789", "12345678", "abcdefghi", "1112223334"])
def test_a_bsn_that_fails_the_eleven_test_is_refused(bsn):
    with pytest.raises(ValidationError, match="eleven-test"):
        validate_bsn(bsn)


def test_the_bsn_is_encrypted_at_rest_and_masked_for_display():
    client = ClientFactory(bsn="111222333")
    with connection.cursor() as cursor:
        cursor.execute("SELECT bsn FROM clients_client WHERE id = %s", [client.pk])
        stored = cursor.fetchone()[0]
    assert "111222333" not in stored
    assert Client.objects.get(pk=client.pk).bsn == "111222333"
    assert client.masked_bsn == "*****2333"


def test_a_dutch_postcode_is_validated_and_normalised():
    assert normalise_postcode("1015cj") == "1015 CJ"
    client = ClientFactory.build(team=ClientFactory().team, household=None, postcode="0123 AB")
    with pytest.raises(ValidationError, match="Dutch postcode"):
        client.full_clean()


def test_phone_numbers_are_validated_and_stored_in_international_form():
    assert normalise_phone_number("06 12345678") == "+31612345678"
    with pytest.raises(ValidationError):
        normalise_phone_number("12345")


def test_a_value_knows_its_source_record_and_age():
    changed = timezone.now() - timedelta(days=400)
    client = ClientFactory(source="crm", source_record_id="hs-42", source_changed_at=changed)
    provenance = client.provenance_for("email")
    assert (provenance.source, provenance.record_id) == ("crm", "hs-42")
    assert provenance.age_days() == 400


def test_a_field_from_another_source_carries_its_own_provenance():
    changed = timezone.now() - timedelta(days=3)
    client = ClientFactory(
        source="crm",
        provenance={"phone": Provenance(source="advisory-tool", record_id="A-9", changed_at=changed).to_json()},
    )
    client.refresh_from_db()
    assert client.provenance_for("phone").source == "advisory-tool"
    assert client.provenance_for("phone").record_id == "A-9"
    assert client.provenance_for("email").source == "crm"


def test_saving_a_client_keeps_its_search_name_accent_and_case_free():
    client = ClientFactory(first_name="Zoë", last_name_prefix="van", last_name="Dijk")
    assert client.search_name == "zoe van dijk"
