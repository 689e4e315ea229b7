"""Loading a whole book of client rows at once: created once, updated when changed, never duplicated."""

import io
import time
from datetime import UTC, date, datetime

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone, translation

from clients.audit_hook import written_by
from clients.models import Client
from ingestion.models import FieldMapping, QuarantinedRecord, Source, SourceRecord
from ingestion.services.bulk_load import (
    BulkLoadError,
    client_row_from_values,
    clients_bulk_load,
    source_file_bulk_load,
)
from trust.audit import history_model_of

pytestmark = pytest.mark.django_db

CHANGED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def rows(count=3, **overrides):
    return [
        {
            "record_id": f"BO-{number}",
            "changed_at": CHANGED,
            "first_name": "Zoë",
            "last_name_prefix": "van den",
            "last_name": f"Berg{number}",
            "birth_date": date(1980, 1, number + 1),
            "email": f"zoe{number}@example.nl",
            "postcode": "3511 AB",
            "city": "Utrecht",
            **overrides,
        }
        for number in range(count)
    ]


def load(team, book, **options):
    return clients_bulk_load(source_key="backoffice", team_id=team.pk, rows=book, **options)


def test_a_first_load_creates_every_client_with_its_origin_and_search_name(team):
    report = load(team, rows(3))
    assert (report.rows, report.created, report.updated, report.unchanged) == (3, 3, 0, 0)
    client = Client.objects.get(source_record_id="BO-1")
    assert (client.source, client.team, client.source_changed_at) == ("backoffice", team, CHANGED)
    assert (client.first_name, client.last_name, client.birth_date) == ("Zoë", "Berg1", date(1980, 1, 2))
    assert client.search_name == "zoe van den berg1"  # as Client.save() would have made it
    assert client.fetched_at is not None and client.created_at is not None
    assert client.gender == Client._meta.get_field("gender").get_default()  # a column no row names


def test_loading_the_same_rows_again_changes_nothing(team):
    load(team, rows(3))
    before = list(Client.objects.order_by("pk").values())
    report = load(team, rows(3), now=timezone.now())
    assert (report.created, report.updated, report.unchanged) == (0, 0, 3)
    assert list(Client.objects.order_by("pk").values()) == before


def test_a_changed_row_updates_only_its_client(team):
    load(team, rows(3))
    changed = rows(3)
    changed[1]["city"] = "Zwolle"
    report = load(team, changed)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
    assert list(Client.objects.order_by("source_record_id").values_list("city", flat=True)) == [
        "Utrecht",
        "Zwolle",
        "Utrecht",
    ]


def test_a_client_that_syncs_consolidate_is_left_to_the_sync_engine(team):
    load(team, rows(2))
    client = Client.objects.get(source_record_id="BO-0")
    SourceRecord.objects.create(
        source_key="crm",
        record_id="1",
        client=client,
        values={},
        content_hash="x",
        changed_at=CHANGED,
        fetched_at=CHANGED,
    )
    report = load(team, rows(2, city="Zwolle"))
    assert (report.updated, report.unchanged) == (1, 1)
    assert Client.objects.get(source_record_id="BO-0").city == "Utrecht"


def client_history(**filters):
    return history_model_of(Client).objects.filter(**filters).order_by("history_id")


def test_the_audit_trail_has_each_client_created_and_each_change_on_behalf_of_the_source(team, admin):
    with written_by(user=admin, reason="first load of the book"):
        load(team, rows(3))
    created = client_history(history_type="+")
    assert created.count() == 3
    assert {(row.history_source, row.history_user_id, row.history_change_reason) for row in created} == {
        ("backoffice", admin.pk, "first load of the book")
    }

    changed = rows(3)
    changed[1]["city"] = "Zwolle"
    changed[2]["changed_at"] = datetime(2026, 4, 1, tzinfo=UTC)  # bookkeeping only: no change anyone made
    load(team, changed)
    load(team, changed)  # the same rows again: nothing

    change = client_history(history_type="~").get()
    assert (change.source_record_id, change.city, change.history_source) == ("BO-1", "Zwolle", "backoffice")
    assert (change.first_name, change.team_id) == ("Zoë", team.pk)  # the whole row after the change


def test_rows_are_loaded_in_batches_and_each_batch_commits_on_its_own(team):
    report = load(team, rows(7), batch_size=3)
    assert (report.rows, report.created) == (7, 7)
    assert Client.objects.filter(source="backoffice").count() == 7


@pytest.mark.django_db(transaction=True)
def test_a_row_the_database_refuses_stops_the_load_and_the_batches_before_it_stay(team):
    from django.db import DatabaseError, connection

    if connection.vendor != "postgresql":
        pytest.skip("the lanes are PostgreSQL's (COPY)")
    book = rows(9)
    book[4]["postcode"] = "3511 ABCDEFG"  # longer than the column: PostgreSQL refuses the batch's part
    with pytest.raises(DatabaseError):
        load(team, book, batch_size=3)
    loaded = set(Client.objects.filter(source="backoffice").values_list("source_record_id", flat=True))
    assert {"BO-0", "BO-1", "BO-2"} <= loaded  # the first batch
    assert "BO-4" not in loaded
    # Nothing is left half-open: the same rows, mended, load in full, each client once.
    book[4]["postcode"] = "3511 AB"
    load(team, book, batch_size=3)
    assert Client.objects.filter(source="backoffice").count() == 9


def test_a_first_load_that_meets_a_record_id_again_in_a_later_batch_updates_that_client(team):
    # The first load of a source does not look its rows up (nothing can be known yet), except where
    # an earlier batch of the same load wrote the record id.
    book = [*rows(5), {**rows(2)[1], "city": "Zwolle"}]
    report = load(team, book, batch_size=3)
    assert (report.rows, report.created, report.updated) == (6, 5, 1)
    assert Client.objects.filter(source="backoffice").count() == 5
    assert Client.objects.get(source_record_id="BO-1").city == "Zwolle"


def test_only_a_source_that_loaded_before_has_its_rows_looked_up_per_batch(team):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("the COPY path's lookup; the ORM path reads each batch's known clients")

    def lookups(book):
        with CaptureQueriesContext(connection) as queries:
            load(team, book, batch_size=3)
        return sum('"source_record_id"' in query["sql"] and "SELECT" in query["sql"][:10] for query in queries)

    assert lookups(rows(7)) == 0  # three batches of a new source: the table is not read per batch
    assert lookups(rows(7, city="Zwolle")) == 3  # loaded before: each batch finds its clients
    assert Client.objects.filter(source="backoffice", city="Zwolle").count() == 7


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_postgresql_loads_each_batch_in_lanes_side_by_side(team):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the lanes are PostgreSQL's (COPY); elsewhere a load runs as one lane")

    def other_sessions():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0]

    before = other_sessions()  # what earlier tests of the run left open
    first = load(team, rows(9), batch_size=4)
    assert (first.rows, first.created, first.updated) == (9, 9, 0)
    # Changed rows are applied in their order even when one record id comes twice, in two batches.
    book = [*rows(9), {**rows(1)[0], "city": "Amersfoort"}]
    again = load(team, book, batch_size=9)
    assert (again.rows, again.created, again.updated, again.unchanged) == (10, 0, 1, 9)
    assert Client.objects.filter(source="backoffice").count() == 9
    assert Client.objects.get(source_record_id="BO-0").city == "Amersfoort"
    # Each lane closed its own connection (a backend leaves pg_stat_activity a moment after).
    for _attempt in range(50):
        if other_sessions() <= before:
            break
        time.sleep(0.1)
    assert other_sessions() <= before


def test_a_load_leaves_the_garbage_collector_as_it_found_it(team):
    import gc

    before = (gc.get_threshold(), gc.get_freeze_count())
    load(team, rows(3))
    with pytest.raises(BulkLoadError):
        load(team, rows(1) + rows(1))
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


@pytest.mark.parametrize(
    ("book", "message"),
    [
        (rows(1, bsn="111222333"), "not client fields"),
        (rows(1, income=1), "not client fields"),
        ([{"first_name": "Sanne"}], "record_id"),
        (rows(1) + rows(1), "twice"),
    ],
)
def test_rows_that_cannot_be_loaded_are_refused_with_the_reason(team, book, message):
    with pytest.raises(BulkLoadError, match=message):
        load(team, book)
    assert not Client.objects.exists()


def test_mapped_values_become_a_loadable_row():
    row = client_row_from_values(
        record_id="7",
        values={"client.first_name": "Sanne", "client.birth_date": "1984-03-12", "client.postcode": "3511 AB"},
    )
    assert row == {
        "record_id": "7",
        "changed_at": None,
        "first_name": "Sanne",
        "birth_date": date(1984, 3, 12),
        "postcode": "3511 AB",
    }
    with pytest.raises(BulkLoadError, match=r"income\.gross_annual_amount"):
        client_row_from_values(record_id="7", values={"income.gross_annual_amount": "52000.00"})


# --- A file of the whole book, by command ---------------------------------------------------------


@pytest.fixture
def file_source(team):
    source = Source.objects.create(
        key="backoffice-file",
        name="Back-office export",
        kind=Source.Kind.FILE,
        default_team=team,
        config={"record_id_column": "Relatienummer"},
    )
    for column, target, transform, argument in [
        ("Voornaam", "client.first_name", "none", ""),
        ("Achternaam", "client.last_name", "surname_base", ""),
        ("Achternaam", "client.last_name_prefix", "surname_prefix", ""),
        ("Geboortedatum", "client.birth_date", "date", "%d-%m-%Y"),
        ("E-mail", "client.email", "lowercase", ""),
        ("Inkomen", "income.gross_annual_amount", "decimal_comma", ""),  # not a client field: left out
    ]:
        FieldMapping.objects.create(
            source=source, source_path=column, target=target, transform=transform, transform_argument=argument
        )
    return source


BOOK_CSV = (
    "Relatienummer;Voornaam;Achternaam;Geboortedatum;E-mail\n"
    "R-1;Sanne;de Vries;01-02-1980;Sanne@Example.nl\n"
    "R-2;Daan;van den Berg;15-07-1975;daan@example.nl\n"
    ";;;;\n"
    "R-3;Eva;Jansen;31-02-1990;eva@example.nl\n"
    "R-1;Sanne;de Vries;01-02-1980;sanne@example.nl\n"
)


def test_a_book_file_loads_with_its_sources_mapping_and_bad_rows_are_quarantined(tmp_path, team, file_source):
    book = tmp_path / "klanten.csv"
    book.write_text(BOOK_CSV, encoding="utf-8")
    out = io.StringIO()

    call_command("load_clients", "backoffice-file", str(book), "--team", team.name, stdout=out)

    assert "created 2, updated 0, unchanged 0; quarantined 2." in out.getvalue()
    assert "Not loaded (not client fields; the file import or a sync writes them): income.gross_annual_amount" in (
        out.getvalue()
    )
    daan = Client.objects.get(source_record_id="R-2")
    assert (daan.source, daan.team, daan.last_name_prefix, daan.last_name) == (
        "backoffice-file",
        team,
        "van den",
        "Berg",
    )
    assert daan.birth_date == date(1975, 7, 15)
    assert Client.objects.get(source_record_id="R-1").email == "sanne@example.nl"
    reasons = sorted(QuarantinedRecord.objects.filter(source=file_source).values_list("reason", flat=True))
    assert reasons == [
        "row 5: client.birth_date: day is out of range for month (got '31-02-1990')",
        "row 6: the same record as row 2 (id 'R-1')",
    ]
    assert history_model_of(Client).objects.filter(history_type="+", history_source="backoffice-file").count() == 2

    again = io.StringIO()
    call_command("load_clients", "backoffice-file", str(book), "--team", team.name, stdout=again)
    assert "created 0, updated 0, unchanged 2" in again.getvalue()


def test_a_file_loaded_again_keeps_one_open_entry_per_bad_row_and_a_corrected_row_resolves_its_own(
    tmp_path, team, file_source
):
    book = tmp_path / "klanten.csv"
    book.write_text(BOOK_CSV, encoding="utf-8")
    source_file_bulk_load(source=file_source, path=str(book), team_id=team.pk)
    source_file_bulk_load(source=file_source, path=str(book), team_id=team.pk)

    entries = QuarantinedRecord.objects.filter(source=file_source).order_by("record_id")
    assert [(e.record_id, e.status, e.times_seen) for e in entries] == [("R-1", "open", 2), ("R-3", "open", 2)]
    assert all(e.seen_at > e.created_at for e in entries)

    book.write_text(BOOK_CSV.replace("31-02-1990", "28-02-1990"), encoding="utf-8")
    out = io.StringIO()
    call_command("load_clients", "backoffice-file", str(book), "--team", team.name, stdout=out)

    assert "created 1, updated 0, unchanged 2; quarantined 1." in out.getvalue()
    assert "Rows quarantined before that landed this time, their entries resolved: 1." in out.getvalue()
    corrected = QuarantinedRecord.objects.get(record_id="R-3")
    assert (corrected.status, corrected.resolved_at is not None) == ("resolved", True)
    # R-1 landed from row 2, but row 6 still repeats it: that entry stays open.
    assert QuarantinedRecord.objects.get(record_id="R-1").status == "open"


def test_a_source_without_a_mapping_or_a_file_without_its_id_column_loads_nothing(tmp_path, team, file_source):
    book = tmp_path / "klanten.csv"
    book.write_text("Nummer;Voornaam\nR-1;Sanne\n", encoding="utf-8")
    with pytest.raises(CommandError, match="no column 'Relatienummer'"):
        call_command("load_clients", "backoffice-file", str(book), "--team", team.name)
    bare = Source.objects.create(key="bare", name="Bare", kind=Source.Kind.FILE, default_team=team)
    with pytest.raises(CommandError, match="no column mapping"):
        call_command("load_clients", bare.key, str(book), "--team", team.name)
    assert not Client.objects.exists()


def test_quarantine_reasons_are_in_the_language_of_the_load(tmp_path, team, file_source):
    book = tmp_path / "klanten.csv"
    book.write_text(BOOK_CSV, encoding="utf-8")
    with translation.override("nl"):
        source_file_bulk_load(source=file_source, path=str(book), team_id=team.pk)
    reasons = sorted(QuarantinedRecord.objects.filter(source=file_source).values_list("reason", flat=True))
    assert reasons[0].startswith("rij 5: client.birth_date: ")
    assert reasons[1] == "rij 6: hetzelfde record als rij 2 (id 'R-1')"
