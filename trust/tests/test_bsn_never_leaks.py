"""Seeded BSNs and IBANs appear nowhere they should not: logs, task payloads, pages, exports,
an error report, a dump of the database (ciphertext is fine, plain text is not) and Redis.

The firm has BSNs switched on and a CRM sends them (and IBANs, which Steward does not map); an
advisor without the right to reveal BSNs works through the flows: a sync, a framework run, the client
list and pages, a search by BSN, an error, the data-subject export. Back office meanwhile meets the
stores that keep what a source sent whole: a CRM record that goes to quarantine, a file whose bad row
does too, and an uploaded file nobody finished importing; and looks at them on the Sources page and
in Django admin. Those stores are encrypted at rest and their pages show the numbers masked.
"""

import io
import json
import logging
import subprocess
import sys

import pytest
from celery.app.task import Task
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client as BrowserClient
from django.urls import reverse
from django.views.debug import get_exception_reporter_class
from stdnum import iban as iban_number
from stdnum.nl import bsn as bsn_number

from clients.models import Client
from ingestion.demo import CRM_MAPPINGS, crm_source_configure
from ingestion.demo_files import spreadsheet_source_configure
from ingestion.fake_sources.generator import dutch_contacts
from ingestion.fake_sources.hubspot import FakeHubSpot
from ingestion.fake_sources.server import running
from ingestion.models import FieldMapping, FileImport, QuarantinedRecord
from ingestion.services.file_import import (
    file_import_apply,
    file_import_map,
    file_import_preview,
    file_import_upload,
)
from ingestion.services.sync import connector_for, source_sync
from trust.privacy_logging import MaskPersonalNumbersFilter

BSNS = ["111222333", "123456782", "232262536"]
IBANS = ["NL91ABNA0417164300", "NL20INGB0001234567", "NL39RABO0300065264"]
# The CRM record that goes to quarantine (its postcode is unreadable) carries these.
QUARANTINED_BSN, QUARANTINED_IBAN = "645290415", "NL02ABNA0123456789"
# An uploaded file: its first row lands, its second goes to quarantine; a second upload of it is left.
FILE_BSNS = ["759233275", "425774624"]
FILE_IBANS = ["NL44RABO0123456789", "NL86INGB0002445588"]
SEEDED = BSNS + IBANS + [QUARANTINED_BSN, QUARANTINED_IBAN] + FILE_BSNS + FILE_IBANS


def _found_in(text: str) -> list[str]:
    """The seeded values in the text, in plain text or as hex (how a dump writes bytes, a file's)."""
    lowered = text.lower()
    return [value for value in SEEDED if value in text or value.encode().hex() in lowered]


def _database_dump() -> str:
    if connection.vendor == "sqlite":
        return "\n".join(connection.connection.iterdump())
    database = connection.settings_dict
    return subprocess.run(
        [
            "pg_dump",
            "--data-only",
            "--no-owner",
            "-h",
            database["HOST"] or "127.0.0.1",
            "-p",
            str(database["PORT"] or 5432),
            "-U",
            database["USER"] or "postgres",
            database["NAME"],
        ],
        check=True,
        capture_output=True,
        text=True,
        env={"PGPASSWORD": database["PASSWORD"] or "", "PATH": "/usr/bin:/bin"},
    ).stdout


def _redis_contents() -> str:
    import redis

    store = redis.Redis.from_url(settings.REDIS_URL)
    parts = []
    for key in store.scan_iter(count=1000):
        kind = store.type(key).decode()
        parts.append(key.decode(errors="replace"))
        if kind == "string":
            parts.append(store.get(key).decode(errors="replace"))
        elif kind == "hash":
            parts.extend(f"{k!r}={v!r}" for k, v in store.hgetall(key).items())
        elif kind == "list":
            parts.extend(repr(item) for item in store.lrange(key, 0, -1))
        elif kind == "set":
            parts.extend(repr(item) for item in store.smembers(key))
        elif kind == "zset":
            parts.extend(repr(item) for item in store.zrange(key, 0, -1))
    return "\n".join(parts)


@pytest.fixture
def log_output():
    """Every log record as the production handler writes it (with the masking filter)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(MaskPersonalNumbersFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.fixture
def task_payloads(monkeypatch):
    """The arguments of every task sent, as a broker would carry them."""
    sent: list[str] = []
    original = Task.apply_async

    def recording(self, args=None, kwargs=None, *rest, **options):
        sent.append(json.dumps({"task": self.name, "args": args, "kwargs": kwargs}, default=str))
        return original(self, args, kwargs, *rest, **options)

    monkeypatch.setattr(Task, "apply_async", recording)
    return sent


@pytest.fixture
def crm_with_bsns(team):
    contacts = list(dutch_contacts(len(BSNS) + 1, seed=7))
    for contact, bsn, iban in zip(contacts, [*BSNS, QUARANTINED_BSN], [*IBANS, QUARANTINED_IBAN], strict=True):
        contact["bsn"] = bsn
        contact["iban"] = iban  # a field the CRM holds and Steward never maps
    contacts[-1]["zip"] = "NOPE"  # not a postcode: the whole record waits in quarantine
    server = FakeHubSpot(contacts)
    with running(server) as base_url:
        source = crm_source_configure(base_url=base_url, team=team)
        source.config = {**source.config, "properties": sorted({p for p, *_ in CRM_MAPPINGS} | {"bsn", "iban"})}
        source.save()
        FieldMapping.objects.create(source=source, source_path="bsn", target="client.bsn")
        yield source


FILE_HEADER = ["Klantnummer", "Voornaam", "Achternaam", "Postcode", "BSN", "IBAN"]
FILE_ROWS = [
    ["K-1", "Sanne", "Visser", "3511 AB", FILE_BSNS[0], FILE_IBANS[0]],
    ["K-2", "Daan", "Bos", "NOPE", FILE_BSNS[1], FILE_IBANS[1]],  # not a postcode: quarantined
]
FILE_MAPPING = [
    {"column": column, "target": target, "transform": transform, "argument": "", "required": False}
    for column, target, transform in [
        ("Voornaam", "client.first_name", "none"),
        ("Achternaam", "client.last_name", "none"),
        ("Postcode", "client.postcode", "postcode"),
        ("BSN", "client.bsn", "none"),
    ]
]  # the IBAN column is not mapped: it stays in the file only


def _file_import_through_quarantine(*, team, user) -> FileImport:
    """A file applied (one row lands, one goes to quarantine with its BSN) and the same file uploaded
    again and left mapped: its bytes, BSNs and IBANs included, wait in the database."""
    source = spreadsheet_source_configure(team=team)
    content = "\n".join(";".join(row) for row in [FILE_HEADER, *FILE_ROWS]).encode()
    imports = []
    for _attempt in range(2):
        upload = file_import_upload(source=source, filename="export.csv", content=content, user=user)
        file_import_map(file_import=upload, mapping=FILE_MAPPING, record_id_column="Klantnummer")
        file_import_preview(file_import=upload)
        imports.append(upload)
    run = file_import_apply(file_import=imports[0], user=user)
    assert (run.created, run.quarantined) == (1, 1)
    return imports[1]


def test_the_seeded_numbers_are_real_bsns_and_ibans():
    assert all(bsn_number.is_valid(bsn) for bsn in [*BSNS, QUARANTINED_BSN, *FILE_BSNS])
    assert all(iban_number.is_valid(iban) for iban in [*IBANS, QUARANTINED_IBAN, *FILE_IBANS])


@pytest.mark.django_db(transaction=True)
def test_bsns_and_ibans_never_leak(
    crm_with_bsns, team, advisor, back_office, admin, settings, log_output, task_payloads, caplog, monkeypatch
):
    settings.STEWARD_BSN_ENABLED = True
    settings.STEWARD_BSN_LEGAL_BASIS = "Wet op het financieel toezicht, art. 4:..."
    caplog.set_level(logging.DEBUG)

    # A sync, which hands the changed clients on to the framework; then a whole-book framework run.
    run = source_sync(source_id=crm_with_bsns.pk, connector=connector_for(crm_with_bsns))
    assert run.status == "succeeded" and (run.created, run.quarantined) == (len(BSNS), 1)
    call_command("evaluate_framework", stdout=io.StringIO())
    stored = {client.bsn for client in Client.objects.all()}
    assert stored == set(BSNS)  # it works: the numbers are there, encrypted

    # The advisor's pages, a search by BSN, the API and the data-subject export.
    browser = BrowserClient(raise_request_exception=False)
    browser.force_login(advisor)
    pages = [browser.get(reverse("clients:list"))]
    # The search page shows back in its box what the advisor typed: it is left out of the grep below.
    found = browser.get(reverse("clients:list"), {"q": BSNS[0]}).content.decode()
    for client in Client.objects.all():
        pages += [
            browser.get(reverse("clients:detail", args=[client.pk])),
            browser.get(reverse("api:client-detail", args=[client.pk])),
            browser.get(reverse("privacy:client_export", args=[client.pk, "json"])),
            browser.get(reverse("privacy:client_export", args=[client.pk, "pdf"])),
        ]
    assert all(page.status_code == 200 for page in pages), [page.status_code for page in pages]
    searched = next(client for client in Client.objects.all() if client.bsn == BSNS[0])
    assert searched.last_name in found  # the search by BSN found them (through the blind index)
    assert not _found_in(caplog.text), "logged in plain text by the code itself"

    # Back office: a file import with a row in quarantine, an upload left unfinished, and the pages
    # and admin views where quarantined records are fixed. The stored payloads are whole.
    left_open = _file_import_through_quarantine(team=team, user=back_office)
    assert FILE_IBANS[1].encode() in left_open.content  # readable by the import's next step
    quarantined = {item.record_id: item for item in QuarantinedRecord.objects.all()}
    assert quarantined["K-2"].raw["BSN"] == FILE_BSNS[1]
    crm_held = next(item for key, item in quarantined.items() if key != "K-2")
    assert QUARANTINED_BSN in json.dumps(crm_held.raw) and QUARANTINED_IBAN in json.dumps(crm_held.raw)
    office = BrowserClient(raise_request_exception=False)
    office.force_login(back_office)
    source_pages = [office.get(reverse("ingestion:source", args=[key])) for key in (crm_with_bsns.key, "spreadsheet")]
    staff = BrowserClient(raise_request_exception=False)
    staff.force_login(admin)
    admin_pages = [
        staff.get(reverse("admin:ingestion_quarantinedrecord_change", args=[item.pk])) for item in quarantined.values()
    ]
    pages += [
        *source_pages,
        *admin_pages,
        staff.get(reverse("admin:ingestion_quarantinedrecord_changelist")),
        staff.get(reverse("admin:ingestion_fileimport_change", args=[left_open.pk])),
    ]
    assert all(page.status_code == 200 for page in pages), [page.status_code for page in pages]
    # Shown masked: whoever fixes a record still sees that it carries a BSN.
    assert all("[BSN]" in page.content.decode() for page in source_pages + admin_pages)

    # An error while a client's BSN is at hand: the page, the log line and the report to ADMINS.
    import clients.views

    def failing(*, client, user):
        raise ValueError(f"could not record the view of {client.bsn}")

    monkeypatch.setattr(clients.views, "client_page_view_record", failing)
    error_client = Client.objects.order_by("pk").first()
    error_page = browser.get(reverse("clients:detail", args=[error_client.pk]))
    assert error_page.status_code == 500
    pages.append(error_page)
    try:
        failing(client=error_client, user=advisor)
    except ValueError:
        reporter = get_exception_reporter_class(None)(None, *sys.exc_info())
        report = reporter.get_traceback_text() + reporter.get_traceback_html()

    leaks = {
        "logs": _found_in(log_output.getvalue()),
        "task payloads": _found_in("\n".join(task_payloads)),
        "pages and exports": _found_in("\n".join(page.content.decode("latin-1") for page in pages)),
        "error report": _found_in(report),
        "database dump": _found_in(_database_dump()),
        "redis": _found_in(_redis_contents()) if settings.REDIS_URL else [],
    }
    assert leaks == {key: [] for key in leaks}, leaks
    assert task_payloads, "the flows sent tasks, so the payload check checked something"
    assert "[BSN]" in report and "[BSN]" in log_output.getvalue()
