"""Seeded BSNs and IBANs appear nowhere they should not: logs, task payloads, pages, exports,
an error report, a dump of the database (ciphertext is fine, plain text is not) and Redis.

The firm has BSNs switched on and a CRM sends them (and IBANs, which Steward does not map); an
advisor without the right to reveal BSNs works through the flows: a sync, a framework run, the client
list and pages, a search by BSN, an error, the data-subject export.
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
from ingestion.fake_sources.generator import dutch_contacts
from ingestion.fake_sources.hubspot import FakeHubSpot
from ingestion.fake_sources.server import running
from ingestion.models import FieldMapping
from ingestion.services.sync import connector_for, source_sync
from trust.privacy_logging import MaskPersonalNumbersFilter

BSNS = ["111222333", "123456782", "232262536"]
IBANS = ["NL91ABNA0417164300", "NL20INGB0001234567", "NL39RABO0300065264"]
SEEDED = BSNS + IBANS


def _found_in(text: str) -> list[str]:
    return [value for value in SEEDED if value in text]


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
    contacts = list(dutch_contacts(len(BSNS), seed=7))
    for contact, bsn, iban in zip(contacts, BSNS, IBANS, strict=True):
        contact["bsn"] = bsn
        contact["iban"] = iban  # a field the CRM holds and Steward never maps
    server = FakeHubSpot(contacts)
    with running(server) as base_url:
        source = crm_source_configure(base_url=base_url, team=team)
        source.config = {**source.config, "properties": sorted({p for p, *_ in CRM_MAPPINGS} | {"bsn", "iban"})}
        source.save()
        FieldMapping.objects.create(source=source, source_path="bsn", target="client.bsn")
        yield source


def test_the_seeded_numbers_are_real_bsns_and_ibans():
    assert all(bsn_number.is_valid(bsn) for bsn in BSNS)
    assert all(iban_number.is_valid(iban) for iban in IBANS)


@pytest.mark.django_db(transaction=True)
def test_bsns_and_ibans_never_leak(crm_with_bsns, advisor, settings, log_output, task_payloads, caplog, monkeypatch):
    settings.STEWARD_BSN_ENABLED = True
    settings.STEWARD_BSN_LEGAL_BASIS = "Wet op het financieel toezicht, art. 4:..."
    caplog.set_level(logging.DEBUG)

    # A sync, which hands the changed clients on to the framework; then a whole-book framework run.
    run = source_sync(source_id=crm_with_bsns.pk, connector=connector_for(crm_with_bsns))
    assert run.status == "succeeded" and run.created == len(BSNS)
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
