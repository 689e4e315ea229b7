"""File uploads: CSV and Excel read as text, mapped, previewed, then applied through the sync engine."""

import io
from datetime import date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from clients.models import Client, Income
from ingestion.demo_files import demo_file_source_load
from ingestion.mapping import read_path
from ingestion.models import FieldMapping, FileImport, QuarantinedRecord, Source, SourceRecord, SyncRun
from ingestion.services.file_import import (
    FileImportError,
    column_path,
    file_import_apply,
    file_import_cancel,
    file_import_initial_mapping,
    file_import_map,
    file_import_preview,
    file_import_upload,
    file_imports_purge_stale,
    file_read,
    path_column,
)
from ingestion.services.records import quarantined_record_retry
from ingestion.services.sync import source_lock_acquire, source_lock_release

pytestmark = pytest.mark.django_db

HEADER = ["Klantnummer", "Voornaam", "Achternaam", "Geb. datum", "E-mail", "Postcode", "Bruto jaarinkomen", "Notitie"]
ROWS = [
    ["K-1", "Sanne", "van den Berg", "12-03-1984", "sanne@example.nl", "3511ab", "52.000,00", "belt graag 's avonds"],
    ["K-2", "Daan", "Jansen", "01-11-1979", "daan@example.nl", "1011 AB", "38.500,50", ""],
    ["K-3", "Fleur", "de Vries", "31-02-1980", "fleur@example.nl", "2513 CD", "61.250", ""],  # no 31 February
    ["K-4", "Pieter", "Bakker", "05-07-1990", "pieter@example.nl", "12345", "44.000", ""],  # not a postcode
    ["K-5", "Noor", "Visser", "23-09-1988", "noor@example.nl", "9711 EF", "1.234,56", ""],
]
MAPPING = [
    {"column": "Voornaam", "target": "client.first_name", "transform": "none", "argument": "", "required": False},
    {
        "column": "Achternaam",
        "target": "client.last_name_prefix",
        "transform": "surname_prefix",
        "argument": "",
        "required": False,
    },
    {
        "column": "Achternaam",
        "target": "client.last_name",
        "transform": "surname_base",
        "argument": "",
        "required": True,
    },
    {
        "column": "Geb. datum",
        "target": "client.birth_date",
        "transform": "date",
        "argument": "%d-%m-%Y",
        "required": False,
    },
    {"column": "E-mail", "target": "client.email", "transform": "lowercase", "argument": "", "required": False},
    {"column": "Postcode", "target": "client.postcode", "transform": "postcode", "argument": "", "required": False},
    {
        "column": "Bruto jaarinkomen",
        "target": "income.gross_annual_amount",
        "transform": "decimal_comma",
        "argument": "",
        "required": False,
    },
]


def csv_bytes(rows=ROWS, header=HEADER, *, sep=";", encoding="utf-8-sig") -> bytes:
    return pd.DataFrame(rows, columns=header).to_csv(sep=sep, index=False).encode(encoding)


def xlsx_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_excel(buffer, index=False, engine="openpyxl")
    return buffer.getvalue()


@pytest.fixture
def spreadsheet(team):
    return Source.objects.create(
        key="spreadsheet", name="Spreadsheet uploads", kind=Source.Kind.FILE, default_team=team
    )


def upload(source, content=None, *, filename="klanten.csv", user=None):
    return file_import_upload(
        source=source, filename=filename, content=csv_bytes() if content is None else content, user=user
    )


def mapped(source, content=None, *, filename="klanten.csv", mapping=MAPPING, record_id_column="Klantnummer"):
    file_import = upload(source, content, filename=filename)
    return file_import_map(file_import=file_import, mapping=mapping, record_id_column=record_id_column)


def imported(source, content=None, **options) -> SyncRun:
    file_import = mapped(source, content, **options)
    file_import_preview(file_import=file_import)
    return file_import_apply(file_import=file_import)


def unified_snapshot():
    return sorted(
        (
            client.email,
            client.first_name,
            client.last_name_prefix,
            client.last_name,
            str(client.birth_date),
            client.postcode,
        )
        for client in Client.objects.all()
    ) + sorted((str(income.client_id), str(income.gross_annual_amount)) for income in Income.objects.all())


# --- Reading --------------------------------------------------------------------------------------


def test_a_semicolon_csv_keeps_dutch_decimal_commas_and_leading_zeros_as_text():
    parsed = file_read(
        content=csv_bytes([["K-1", "0612345678", "1.234,56", "0012"]], ["Id", "Telefoon", "Bedrag", "Huisnr."]),
        filename="export.csv",
    )
    assert parsed.columns == ["Id", "Telefoon", "Bedrag", "Huisnr."]
    assert parsed.rows == [{"Id": "K-1", "Telefoon": "0612345678", "Bedrag": "1.234,56", "Huisnr.": "0012"}]


def test_a_comma_separated_csv_in_windows_1252_is_read():
    content = csv_bytes(
        [["René", "Zoë", "52000.50"]], ["Voornaam", "Achternaam", "Inkomen"], sep=",", encoding="cp1252"
    )
    parsed = file_read(content=content, filename="export.CSV")
    assert parsed.rows == [{"Voornaam": "René", "Achternaam": "Zoë", "Inkomen": "52000.50"}]


def test_blank_rows_and_nameless_empty_columns_are_dropped():
    content = b"Naam;Plaats;;\r\nSanne;Utrecht;;\r\n;;;\r\n\r\nDaan;Zwolle;;\r\n"
    parsed = file_read(content=content, filename="export.csv")
    assert parsed.columns == ["Naam", "Plaats"]
    assert [row["Naam"] for row in parsed.rows] == ["Sanne", "Daan"]


def test_an_excel_workbook_is_read_with_every_cell_as_text():
    frame = pd.DataFrame(
        {
            "Klantnummer": [1001, 1002],
            "Geboortedatum": [datetime(1984, 3, 12), datetime(1979, 11, 1)],
            "Telefoon": ["0612345678", "06-87654321"],
            "Inkomen": [52000, 38500.5],
        }
    )
    parsed = file_read(content=xlsx_bytes(frame), filename="klanten.xlsx")
    assert parsed.rows[0] == {
        "Klantnummer": "1001",
        "Geboortedatum": "1984-03-12",
        "Telefoon": "0612345678",
        "Inkomen": "52000",
    }
    assert parsed.rows[1]["Inkomen"] == "38500.5"


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"", "leeg.csv", "empty"),
        (b"Naam;Plaats\r\n", "kop.csv", "no rows"),
        (b"Naam;Naam\r\nSanne;Jansen\r\n", "dubbel.csv", "Two columns are called 'Naam'"),
        (b"Naam;\r\nSanne;Utrecht\r\n", "naamloos.csv", "Column 2 has values but no name"),
        (b"Naam;Plaats\r\nSanne;Utrecht;extra\r\n", "scheef.csv", "could not be read as CSV"),
        (b"\xd0\xcf\x11\xe0", "oud.xls", "old Excel format"),
        (b"PK\x03\x04 not really", "kapot.xlsx", "not a valid Excel workbook"),
        (b"%PDF-1.7", "brief.pdf", "Upload a CSV file"),
        ("Naam\r\n".encode("utf-16"), "unicode.csv", "UTF-16"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_with_a_reason(content, filename, message):
    with pytest.raises(FileImportError, match=message):
        file_read(content=content, filename=filename)


def test_a_file_over_the_limits_is_refused(monkeypatch):
    from ingestion.services import file_import

    monkeypatch.setattr(file_import, "MAX_ROWS", 3)
    with pytest.raises(FileImportError, match="5 rows; the limit is 3"):
        file_read(content=csv_bytes(), filename="klanten.csv")
    monkeypatch.setattr(file_import, "MAX_FILE_BYTES", 100)
    with pytest.raises(FileImportError, match="limit is 0 MB"):
        file_read(content=csv_bytes(), filename="klanten.csv")


@given(st.text(min_size=1, max_size=40).map(str.strip).filter(bool))
def test_any_column_name_reads_back_as_that_column(name):
    assert path_column(column_path(name)) == name
    assert read_path({name: "x"}, column_path(name)) == "x"


# --- Preview --------------------------------------------------------------------------------------


def test_the_preview_shows_every_row_mapped_or_with_its_reason_and_writes_nothing(spreadsheet):
    file_import = mapped(spreadsheet)
    counts = [model.objects.count() for model in (Client, SourceRecord, QuarantinedRecord, SyncRun, FieldMapping)]

    preview = file_import_preview(file_import=file_import)

    assert [
        model.objects.count() for model in (Client, SourceRecord, QuarantinedRecord, SyncRun, FieldMapping)
    ] == counts
    assert (preview.total, preview.valid, preview.invalid, preview.new) == (5, 3, 2, 3)
    sanne = preview.sample[0]
    assert sanne.values == {
        "client.first_name": "Sanne",
        "client.last_name_prefix": "van den",
        "client.last_name": "Berg",
        "client.birth_date": "1984-03-12",
        "client.email": "sanne@example.nl",
        "client.postcode": "3511 AB",
        "income.gross_annual_amount": "52000.00",
    }
    assert preview.sample[4].values["income.gross_annual_amount"] == "1234.56"
    reasons = {row.row_number: row.reason for row in preview.invalid_rows}
    assert set(reasons) == {4, 5}  # spreadsheet rows: the header is row 1
    assert reasons[4].startswith("client.birth_date:") and "31-02-1980" in reasons[4]
    assert reasons[5].startswith("client.postcode:") and "12345" in reasons[5]
    assert FileImport.objects.get(pk=file_import.pk).status == FileImport.Status.PREVIEWED


def test_importing_needs_a_preview_first(spreadsheet):
    file_import = mapped(spreadsheet)
    with pytest.raises(FileImportError, match="preview"):
        file_import_apply(file_import=file_import)
    assert not SyncRun.objects.exists()


def test_a_mapping_that_fills_one_field_from_two_columns_is_refused(spreadsheet):
    from django.core.exceptions import ValidationError

    file_import = upload(spreadsheet)
    twice = [*MAPPING, {"column": "Notitie", "target": "client.email", "transform": "none", "argument": ""}]
    with pytest.raises(ValidationError, match=r"both fill client\.email"):
        file_import_map(file_import=file_import, mapping=twice, record_id_column="Klantnummer")


# --- Apply ----------------------------------------------------------------------------------------


def test_valid_rows_land_and_invalid_rows_go_to_quarantine_with_their_reason(spreadsheet):
    run = imported(spreadsheet)

    assert (run.trigger, run.status) == (SyncRun.Trigger.FILE, SyncRun.Status.SUCCEEDED)
    assert (run.fetched, run.created, run.quarantined) == (5, 3, 2)
    assert run.fetched == run.created + run.updated + run.unchanged + run.quarantined
    sanne = Client.objects.get(email="sanne@example.nl")
    assert (sanne.last_name_prefix, sanne.last_name, sanne.birth_date) == ("van den", "Berg", date(1984, 3, 12))
    assert sanne.incomes.get().gross_annual_amount == Decimal("52000.00")
    assert sanne.team == spreadsheet.default_team
    provenance = sanne.provenance_for("email")
    assert (provenance.source, provenance.record_id) == ("spreadsheet", "K-1")
    quarantined = {item.record_id: item for item in QuarantinedRecord.objects.filter(run=run)}
    assert set(quarantined) == {"K-3", "K-4"}
    assert "12345" in quarantined["K-4"].reason
    assert "Notitie" not in quarantined["K-4"].raw  # an ignored column never reaches the database
    file_import = FileImport.objects.get(sync_run=run)
    assert (file_import.status, file_import.content) == (FileImport.Status.APPLIED, None)


def test_an_excel_import_lands_like_a_csv_one(spreadsheet):
    frame = pd.DataFrame(
        {
            "Relatie": [7001],
            "Voornaam": ["Iris"],
            "Achternaam": ["de Groot"],
            "Geboortedatum": [datetime(1975, 6, 30)],
            "Inkomen": [61250.75],
        }
    )
    mapping = [
        {"column": "Relatie", "target": "client.initials", "transform": "none", "argument": ""},
        {"column": "Voornaam", "target": "client.first_name", "transform": "none", "argument": ""},
        {"column": "Achternaam", "target": "client.last_name", "transform": "surname_base", "argument": ""},
        {"column": "Geboortedatum", "target": "client.birth_date", "transform": "date", "argument": ""},
        {"column": "Inkomen", "target": "income.gross_annual_amount", "transform": "decimal", "argument": ""},
    ]
    run = imported(
        spreadsheet, xlsx_bytes(frame), filename="relaties.xlsx", mapping=mapping, record_id_column="Relatie"
    )
    assert (run.created, run.quarantined) == (1, 0)
    iris = Client.objects.get(first_name="Iris")
    assert (iris.last_name, iris.birth_date) == ("Groot", date(1975, 6, 30))
    assert iris.incomes.get().gross_annual_amount == Decimal("61250.75")
    assert SourceRecord.objects.get(source_key="spreadsheet").record_id == "7001"


def test_importing_the_same_file_again_changes_nothing(spreadsheet):
    imported(spreadsheet)
    before = unified_snapshot()
    records_before = list(
        SourceRecord.objects.order_by("record_id").values_list("record_id", "content_hash", "changed_at")
    )

    preview_import = mapped(spreadsheet)
    preview = file_import_preview(file_import=preview_import)
    assert (preview.new, preview.changed, preview.unchanged) == (0, 0, 3)
    run = file_import_apply(file_import=preview_import)

    assert (run.created, run.updated, run.unchanged, run.quarantined) == (0, 0, 3, 2)
    assert unified_snapshot() == before
    assert list(SourceRecord.objects.order_by("record_id").values_list("record_id", "content_hash", "changed_at")) == (
        records_before
    )


def test_a_changed_row_updates_its_client_and_the_rest_stays_unchanged(spreadsheet):
    imported(spreadsheet)
    rows = [list(row) for row in ROWS]
    rows[1][6] = "41.000,00"
    run = imported(spreadsheet, csv_bytes(rows))
    assert (run.created, run.updated, run.unchanged) == (0, 1, 2)
    assert Client.objects.get(email="daan@example.nl").incomes.get().gross_annual_amount == Decimal("41000.00")


def test_without_an_id_column_a_row_is_known_by_its_values(spreadsheet):
    first = imported(spreadsheet, record_id_column="")
    again = imported(spreadsheet, record_id_column="")
    assert (first.created, again.created, again.unchanged) == (3, 0, 3)
    assert all(record_id.startswith("row-") for record_id in SourceRecord.objects.values_list("record_id", flat=True))


def test_two_rows_with_the_same_id_send_the_second_to_quarantine(spreadsheet):
    rows = [*ROWS[:2], ["K-1", "Sanne", "Jansen", "12-03-1984", "s.jansen@example.nl", "3511 AB", "1,00", ""]]
    run = imported(spreadsheet, csv_bytes(rows))
    assert (run.created, run.quarantined) == (2, 1)
    assert "the same record as row 2" in QuarantinedRecord.objects.get(run=run).reason


def test_the_mapping_is_saved_on_the_source_so_the_next_upload_arrives_mapped(spreadsheet):
    imported(spreadsheet)
    saved = {(mapping.source_path, mapping.target) for mapping in spreadsheet.mappings.all()}
    assert ('$["Geb. datum"]', "client.birth_date") in saved
    assert ("Achternaam", "client.last_name_prefix") in saved and ("Achternaam", "client.last_name") in saved

    spreadsheet.refresh_from_db()
    second = upload(spreadsheet)
    mapping, record_id_column = file_import_initial_mapping(file_import=second)
    assert record_id_column == "Klantnummer"
    assert sorted(mapping, key=lambda rule: rule["target"]) == sorted(MAPPING, key=lambda rule: rule["target"])


def test_a_quarantined_row_is_retried_with_the_saved_mapping_once_corrected(spreadsheet):
    imported(spreadsheet)
    quarantined = QuarantinedRecord.objects.get(record_id="K-4")
    corrected = {**quarantined.raw, "Postcode": "1234 AB"}
    assert quarantined_record_retry(quarantined=quarantined, raw=corrected).status == QuarantinedRecord.Status.RETRIED
    assert Client.objects.get(email="pieter@example.nl").postcode == "1234 AB"


def test_an_import_waits_for_a_run_that_holds_the_source(spreadsheet):
    file_import = mapped(spreadsheet)
    file_import_preview(file_import=file_import)
    token = source_lock_acquire(source_id=spreadsheet.pk)
    with pytest.raises(FileImportError, match="Another import or sync"):
        file_import_apply(file_import=file_import)
    source_lock_release(source_id=spreadsheet.pk, token=token)
    assert file_import_apply(file_import=file_import).created == 3


def test_an_import_that_fails_part_way_is_recorded_and_can_be_applied_again(spreadsheet, monkeypatch):
    from ingestion.services import file_import as service

    monkeypatch.setattr(service, "PAGE_SIZE", 2)
    real_page_apply = service.page_apply
    pages = []

    def page_apply_failing_on_the_second_page(**kwargs):
        pages.append(1)
        if len(pages) == 2:
            raise RuntimeError("worker lost")
        return real_page_apply(**kwargs)

    monkeypatch.setattr(service, "page_apply", page_apply_failing_on_the_second_page)
    file_import = mapped(spreadsheet)
    file_import_preview(file_import=file_import)
    with pytest.raises(RuntimeError):
        file_import_apply(file_import=file_import)
    failed = SyncRun.objects.get()
    assert (failed.status, failed.error) == (SyncRun.Status.FAILED, "RuntimeError: worker lost")
    assert FileImport.objects.get(pk=file_import.pk).status == FileImport.Status.PREVIEWED

    monkeypatch.setattr(service, "page_apply", real_page_apply)
    run = file_import_apply(file_import=file_import)
    assert (run.status, run.created, run.unchanged, run.quarantined) == (
        SyncRun.Status.SUCCEEDED,
        1,
        2,
        2,
    )  # the first page had landed


def test_cancelling_an_import_deletes_the_file_and_writes_nothing(spreadsheet):
    file_import = mapped(spreadsheet)
    file_import_cancel(file_import=file_import)
    file_import.refresh_from_db()
    assert (file_import.status, file_import.content) == (FileImport.Status.CANCELLED, None)
    with pytest.raises(FileImportError, match="already finished"):
        file_import_preview(file_import=file_import)
    assert not SourceRecord.objects.exists()


def test_imports_left_unfinished_for_a_day_are_cancelled_and_their_files_deleted(spreadsheet):
    old = upload(spreadsheet)
    FileImport.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    fresh = upload(spreadsheet)
    assert file_imports_purge_stale() == 0  # the upload above already purged the old one
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (old.status, old.content) == (FileImport.Status.CANCELLED, None)
    assert fresh.status == FileImport.Status.UPLOADED and fresh.content


def test_a_synced_source_refuses_uploads(team):
    crm = Source.objects.create(key="crm", name="CRM", kind=Source.Kind.HUBSPOT, default_team=team)
    with pytest.raises(FileImportError, match="Only a file source"):
        upload(crm)


# --- Pages ----------------------------------------------------------------------------------------


def test_back_office_uploads_maps_previews_and_imports_through_the_pages(client, back_office, spreadsheet):
    client.force_login(back_office)
    response = client.get(reverse("ingestion:source", args=["spreadsheet"]))
    assert reverse("ingestion:import_upload", args=["spreadsheet"]) in response.content.decode()

    response = client.post(
        reverse("ingestion:import_upload", args=["spreadsheet"]),
        {"file": SimpleUploadedFile("klanten.csv", csv_bytes())},
    )
    file_import = FileImport.objects.get()
    assert response.url == reverse("ingestion:import_map", args=[file_import.pk])
    assert client.get(response.url).status_code == 200

    form = {"map-TOTAL_FORMS": str(len(HEADER)), "map-INITIAL_FORMS": "0", "id-record_id_column": "Klantnummer"}
    targets = {"Voornaam": "client.first_name", "Achternaam": "client.last_name", "E-mail": "client.email"}
    for index, column in enumerate(HEADER):
        form |= {
            f"map-{index}-column": column,
            f"map-{index}-target": targets.get(column, ""),
            f"map-{index}-transform": "none",
        }
    response = client.post(reverse("ingestion:import_map", args=[file_import.pk]), form)
    assert response.url == reverse("ingestion:import_preview", args=[file_import.pk])

    page = client.get(response.url).content.decode()
    assert "Import 5 valid rows" in page
    assert "sanne@example.nl" in page

    response = client.post(reverse("ingestion:import_apply", args=[file_import.pk]))
    assert response.url == reverse("ingestion:source", args=["spreadsheet"])
    page = client.get(response.url).content.decode()
    assert "File upload" in page and "Imported klanten.csv: 5 new" in page
    assert Client.objects.count() == 5


def test_the_mapping_page_arrives_filled_from_the_previous_upload(client, back_office, spreadsheet):
    imported(spreadsheet)
    second = upload(spreadsheet)
    client.force_login(back_office)
    page = client.get(reverse("ingestion:import_map", args=[second.pk])).content.decode()
    assert '<option value="client.birth_date" selected>' in page
    assert '<option value="Klantnummer" selected>' in page


def test_a_bad_file_is_refused_on_the_upload_page_with_its_reason(client, back_office, spreadsheet):
    client.force_login(back_office)
    response = client.post(
        reverse("ingestion:import_upload", args=["spreadsheet"]),
        {"file": SimpleUploadedFile("x.csv", b"Naam;Naam\r\na;b\r\n")},
    )
    assert response.status_code == 200
    assert "Two columns are called" in response.content.decode()
    assert not FileImport.objects.exists()


def test_an_advisor_may_not_upload_or_import(client, advisor, spreadsheet):
    file_import = mapped(spreadsheet)
    client.force_login(advisor)
    assert client.get(reverse("ingestion:import_upload", args=["spreadsheet"])).status_code == 403
    assert client.get(reverse("ingestion:import_preview", args=[file_import.pk])).status_code == 403
    assert client.post(reverse("ingestion:import_apply", args=[file_import.pk])).status_code == 403
    assert not SyncRun.objects.exists()


def test_a_synced_source_has_no_upload_page(client, back_office, team):
    Source.objects.create(key="crm", name="CRM", kind=Source.Kind.HUBSPOT, default_team=team)
    client.force_login(back_office)
    assert client.get(reverse("ingestion:import_upload", args=["crm"])).status_code == 404


# --- Demo -----------------------------------------------------------------------------------------


def test_the_demo_file_source_and_its_sample_file_import_with_two_rows_in_quarantine(team, tmp_path, monkeypatch):
    from ingestion import demo_files

    monkeypatch.setattr(demo_files, "DEMO_IMPORT_FILE", tmp_path / "demo-import.csv")
    demo_file_source_load(stdout=io.StringIO())
    demo_file_source_load(stdout=io.StringIO())  # idempotent
    source = Source.objects.get(key="spreadsheet")
    content = (tmp_path / "demo-import.csv").read_bytes()

    file_import = upload(source, content, filename="demo-import.csv")
    mapping, record_id_column = file_import_initial_mapping(file_import=file_import)
    assert len(mapping) == 13 and record_id_column == "Klantnummer"
    file_import_map(file_import=file_import, mapping=mapping, record_id_column=record_id_column)
    preview = file_import_preview(file_import=file_import)
    assert (preview.total, preview.invalid) == (30, 2)
    run = file_import_apply(file_import=file_import)
    assert (run.created, run.quarantined) == (28, 2)


def test_cancel_on_the_preview_page_deletes_the_file(client, back_office, spreadsheet):
    file_import = mapped(spreadsheet)
    client.force_login(back_office)
    assert "Cancel" in client.get(reverse("ingestion:import_preview", args=[file_import.pk])).content.decode()
    response = client.post(reverse("ingestion:import_cancel", args=[file_import.pk]))
    assert response.url == reverse("ingestion:source", args=["spreadsheet"])
    file_import.refresh_from_db()
    assert (file_import.status, file_import.content) == (FileImport.Status.CANCELLED, None)
    response = client.get(reverse("ingestion:import_preview", args=[file_import.pk]), follow=True)
    assert "already finished" in response.content.decode()
