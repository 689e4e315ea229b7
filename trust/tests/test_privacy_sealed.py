"""What a source sent, kept whole for a person to fix, is encrypted at rest and shown masked; fixing it
loses nothing (trust/privacy_sealed.py)."""

import json

import pytest
from django.db import connection
from django.urls import reverse

from clients.models import Client
from ingestion.demo import CRM_MAPPINGS, crm_source_configure
from ingestion.demo_files import spreadsheet_source_configure
from ingestion.fake_sources.generator import dutch_contacts
from ingestion.fake_sources.hubspot import FakeHubSpot
from ingestion.fake_sources.server import running
from ingestion.models import FieldMapping, FileImport, QuarantinedRecord, SyncRun
from trust.privacy_sealed import personal_values_mask, personal_values_restore

BSN, IBAN = "645290415", "NL02ABNA0123456789"
OTHER_BSN = "759233275"


def _stored(table: str, column: str, pk: int):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


# --- Masked on the page, restored when sent back --------------------------------------------------


def test_a_payload_is_shown_with_its_bsns_and_ibans_masked_and_the_rest_as_it_is():
    payload = {"bsn": BSN, "number": int(BSN), "iban": f"pay to {IBAN}", "zip": "NOPE", "id": 123456789, "ok": True}
    assert personal_values_mask(payload) == {
        "bsn": "[BSN]",
        "number": "[BSN]",
        "iban": "pay to [IBAN]",
        "zip": "NOPE",
        "id": 123456789,  # nine digits, but no BSN (the eleven-test fails): left readable
        "ok": True,
    }


def test_values_sent_back_still_masked_are_the_original_ones_and_typed_values_are_kept():
    original = {"bsn": BSN, "number": int(BSN), "nested": [{"iban": IBAN}], "zip": "NOPE"}
    corrected = {**personal_values_mask(original), "zip": "1234 AB"}
    assert personal_values_restore(corrected, original) == {**original, "zip": "1234 AB"}
    retyped = {**corrected, "bsn": OTHER_BSN, "added": "[BSN]"}
    restored = personal_values_restore(retyped, original)
    assert restored["bsn"] == OTHER_BSN  # typed anew: the person's correction wins
    assert restored["added"] == "[BSN]"  # no original at that place: nothing to restore from


def test_a_record_kept_as_text_gets_its_masked_values_back_in_order():
    original_text = f"{{'bsn': '{BSN}', 'iban': '{IBAN}', 'other': '{OTHER_BSN}', 'amount': nan}}"
    assert personal_values_mask(original_text) == "{'bsn': '[BSN]', 'iban': '[IBAN]', 'other': '[BSN]', 'amount': nan}"
    corrected = {"bsn": "[BSN]", "iban": "[IBAN]", "other": "[BSN]", "amount": 0}
    assert personal_values_restore(corrected, original_text) == {
        "bsn": BSN,
        "iban": IBAN,
        "other": OTHER_BSN,
        "amount": 0,
    }


# --- Encrypted at rest ----------------------------------------------------------------------------


@pytest.fixture
def source(team):
    return crm_source_configure(base_url="http://127.0.0.1:9", team=team)


@pytest.mark.django_db
def test_a_quarantined_payload_is_stored_encrypted_and_reads_back_whole(source):
    raw = {"id": "7", "bsn": BSN, "iban": IBAN, "amount": 1.5, "tags": ["a", None], "zip": "NOPE"}
    saved = QuarantinedRecord.objects.create(source=source, record_id="7", raw=raw, reason="client.postcode")
    as_text = QuarantinedRecord.objects.create(source=source, raw=None, raw_text=f"{{'bsn': '{BSN}'}}", reason="x")
    QuarantinedRecord.objects.bulk_create([QuarantinedRecord(source=source, record_id="8", raw=raw, reason="y")])
    table = QuarantinedRecord._meta.db_table
    for record in QuarantinedRecord.objects.all():
        stored = f"{_stored(table, 'raw', record.pk)} {_stored(table, 'raw_text', record.pk)}"
        assert BSN not in stored and IBAN not in stored and "NOPE" not in stored
    assert QuarantinedRecord.objects.get(pk=saved.pk).raw == raw
    assert QuarantinedRecord.objects.get(record_id="8").raw == raw
    assert QuarantinedRecord.objects.get(pk=as_text.pk).raw_text == f"{{'bsn': '{BSN}'}}"
    assert QuarantinedRecord.objects.filter(raw__isnull=True).get() == as_text


@pytest.mark.django_db
def test_a_reason_quoting_a_bsn_or_iban_is_stored_masked(source):
    record = QuarantinedRecord.objects.create(
        source=source, raw={}, reason=f"client.phone: not a phone number (got '{IBAN}'), also {BSN}"
    )
    record.refresh_from_db()
    assert record.reason == "client.phone: not a phone number (got '[IBAN]'), also [BSN]"


@pytest.mark.django_db
def test_rows_written_before_sealing_are_read_as_they_are(source):
    record = QuarantinedRecord.objects.create(source=source, raw={"a": 1}, reason="x")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {QuarantinedRecord._meta.db_table} SET raw = %s WHERE id = %s",
            [json.dumps({"bsn": BSN}), record.pk],
        )
    assert QuarantinedRecord.objects.get(pk=record.pk).raw == {"bsn": BSN}


@pytest.mark.django_db
def test_an_uploaded_file_is_stored_encrypted_until_it_is_cleared(team, back_office):
    from ingestion.services.file_import import file_import_cancel, file_import_upload

    content = f"Klantnummer;Achternaam;BSN;IBAN\nK-1;Visser;{BSN};{IBAN}\n".encode()
    upload = file_import_upload(
        source=spreadsheet_source_configure(team=team), filename="export.csv", content=content, user=back_office
    )
    stored = bytes(_stored(FileImport._meta.db_table, "content", upload.pk))
    assert BSN.encode() not in stored and IBAN.encode() not in stored and b"Visser" not in stored
    assert FileImport.objects.get(pk=upload.pk).content == content
    file_import_cancel(file_import=upload)
    assert _stored(FileImport._meta.db_table, "content", upload.pk) is None


# --- Fixed on the Sources page without losing the BSN ---------------------------------------------


@pytest.fixture
def crm_sending_a_bsn(team, settings):
    settings.STEWARD_BSN_ENABLED = True
    settings.STEWARD_BSN_LEGAL_BASIS = "Wft"
    contacts = dutch_contacts(2, seed=5)
    contacts[0].update(bsn=BSN, iban=IBAN, zip="NOPE")
    with running(FakeHubSpot(contacts)) as url:
        source = crm_source_configure(base_url=url, team=team)
        source.config = {**source.config, "properties": sorted({p for p, *_ in CRM_MAPPINGS} | {"bsn", "iban"})}
        source.save()
        FieldMapping.objects.create(source=source, source_path="bsn", target="client.bsn")
        yield source


@pytest.mark.django_db
def test_the_quarantine_is_fixed_on_the_page_from_the_masked_record_and_the_bsn_lands(
    client, back_office, crm_sending_a_bsn, django_capture_on_commit_callbacks
):
    client.force_login(back_office)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("ingestion:sync_now", args=[crm_sending_a_bsn.key]))
    assert SyncRun.objects.get().quarantined == 1
    page = client.get(reverse("ingestion:source", args=[crm_sending_a_bsn.key])).content.decode()
    assert "[BSN]" in page and "[IBAN]" in page and BSN not in page and IBAN not in page
    quarantined = QuarantinedRecord.objects.get()
    received = quarantined.raw
    corrected = quarantined.raw_shown.replace('"NOPE"', '"1234 AB"')  # the textarea, postcode fixed
    client.post(reverse("ingestion:quarantine_retry", args=[quarantined.pk]), {"raw": corrected})
    quarantined.refresh_from_db()
    assert quarantined.status == QuarantinedRecord.Status.RETRIED
    assert quarantined.raw == json.loads(json.dumps(received).replace('"NOPE"', '"1234 AB"'))
    assert Client.objects.get(postcode="1234 AB").bsn == BSN
