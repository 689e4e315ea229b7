"""The BSN: off by default, encrypted at rest, found by a keyed blind index, masked in logs."""

import hashlib
import logging

import pytest
from django.core.checks import run_checks
from django.db import connection
from django.utils import timezone

from clients.models import Client
from clients.selectors import ClientFilters, client_list
from clients.tests.factories import ClientFactory
from ingestion.models import DataConflict, SourceRecord
from ingestion.services.records import client_value_correct
from trust.privacy_bsn import (
    SEALED_PREFIX,
    bsn_blind_index,
    bsn_unseal,
    source_values_for_hash,
    source_values_protect,
)
from trust.privacy_logging import MaskPersonalNumbersFilter, mask_personal_numbers

pytestmark = pytest.mark.django_db

BSN = "111222333"


def test_the_blind_index_is_keyed_so_it_cannot_be_reversed_by_hashing_all_numbers(settings):
    index = bsn_blind_index(BSN)

    assert index == bsn_blind_index(" 1112.22.333 ")  # the same number written differently
    assert index != hashlib.sha256(BSN.encode()).hexdigest()
    settings.STEWARD_BSN_INDEX_KEY = "another-key"
    assert bsn_blind_index(BSN) != index
    assert bsn_blind_index("") == bsn_blind_index(None) == ""


def test_saving_a_client_maintains_the_index_and_the_number_is_only_ciphertext_in_the_table():
    client = ClientFactory(bsn=BSN)

    with connection.cursor() as cursor:
        cursor.execute("SELECT bsn, bsn_blind_index FROM clients_client WHERE id = %s", [client.pk])
        stored, index = cursor.fetchone()
    assert BSN not in stored and index == bsn_blind_index(BSN)
    client.bsn = None
    client.save(update_fields=["bsn"])
    assert Client.objects.get(pk=client.pk).bsn_blind_index == ""


def test_search_by_bsn_uses_the_index_and_only_where_the_firm_processes_bsns(advisor, settings):
    wanted = ClientFactory(team=advisor.team, bsn=BSN)
    ClientFactory(team=advisor.team, bsn="123456782")

    settings.STEWARD_BSN_ENABLED = False
    assert list(client_list(user=advisor, filters=ClientFilters(query=BSN))) == []
    settings.STEWARD_BSN_ENABLED = True
    assert list(client_list(user=advisor, filters=ClientFilters(query=BSN))) == [wanted]
    assert "bsn_blind_index" in str(client_list(user=advisor, filters=ClientFilters(query=BSN)).query)


def test_a_source_record_keeps_the_bsn_sealed_and_not_at_all_without_a_legal_basis(settings):
    settings.STEWARD_BSN_ENABLED = False
    assert source_values_protect({"client.bsn": BSN, "client.email": "a@b.nl"}) == {"client.email": "a@b.nl"}

    settings.STEWARD_BSN_ENABLED = True
    sealed = source_values_protect({"client.bsn": BSN})["client.bsn"]
    again = source_values_protect({"client.bsn": BSN})["client.bsn"]
    assert sealed.startswith(SEALED_PREFIX) and BSN not in sealed and bsn_unseal(sealed) == BSN
    # A new ciphertext every time, yet the same content hash: an unchanged record writes nothing.
    assert sealed != again
    assert source_values_for_hash({"client.bsn": sealed}) == source_values_for_hash({"client.bsn": again})


def test_an_advisors_bsn_correction_is_stored_sealed_and_lands_on_the_client_with_its_index(advisor, settings):
    settings.STEWARD_BSN_ENABLED = True
    client = ClientFactory(team=advisor.team)

    client_value_correct(client=client, target="client.bsn", value=BSN, user=advisor)

    record = SourceRecord.objects.get(client=client, source_key="manual")
    assert record.values["client.bsn"].startswith(SEALED_PREFIX)
    client.refresh_from_db()
    assert client.bsn == BSN and client.bsn_blind_index == bsn_blind_index(BSN)


def test_a_conflict_about_the_bsn_is_stored_with_the_last_four_digits_only(advisor, settings):
    settings.STEWARD_BSN_ENABLED = True
    client = ClientFactory(team=advisor.team)
    now = timezone.now()
    SourceRecord.objects.create(
        source_key="crm",
        record_id="1",
        client=client,
        values=source_values_protect({"client.bsn": "123456782"}),
        content_hash="x",
        changed_at=now,
        fetched_at=now,
    )

    client_value_correct(client=client, target="client.bsn", value=BSN, user=advisor)

    conflict = DataConflict.objects.get(client=client, target="client.bsn")
    assert (conflict.winning_value, conflict.other_value) == ("*****2333", "*****6782")


def test_the_log_filter_masks_bsns_and_ibans_but_leaves_other_numbers():
    text = "client 111222333 paid from NL91 ABNA 0417 1643 00, ref 123456789, id 4200001"

    assert mask_personal_numbers(text) == "client [BSN] paid from [IBAN], ref 123456789, id 4200001"
    record = logging.LogRecord("x", logging.INFO, "f", 1, "bsn %s iban %s", ("111222333", "NL91ABNA0417164300"), None)
    MaskPersonalNumbersFilter().filter(record)
    assert record.getMessage() == "bsn [BSN] iban [IBAN]"


def test_switching_the_bsn_on_needs_a_legal_basis_and_a_key_of_its_own(settings):
    settings.STEWARD_BSN_ENABLED = True
    settings.STEWARD_BSN_LEGAL_BASIS = ""
    settings.STEWARD_BSN_INDEX_KEY = settings.SECRET_KEY

    ids = {problem.id for problem in run_checks()}

    assert {"steward.E101", "steward.E102"} <= ids
