"""The demo's two sources: a fake HubSpot CRM and a fake advisory tool, holding overlapping and
partly conflicting records of the same people, consolidated over real HTTP.

`setup_demo` writes the fake sources' data to `demo-sources.json`, starts both fakes in-process on
their demo ports, syncs, and stops them; `make demo` then serves the same data from a background
process (`python -m ingestion.fake_sources --demo-data demo-sources.json`), so "Sync now" works.
"""

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import transaction

from accounts.models import Team
from clients.models import Client

from .fake_sources.advisory import TEST_API_KEY, FakeAdvisoryTool
from .fake_sources.generator import (
    advisory_relation,
    dutch_amount,
    dutch_date,
    dutch_timestamp,
    hubspot_properties,
    hubspot_timestamp,
)
from .fake_sources.generator import people as fake_people
from .fake_sources.hubspot import TEST_TOKEN, FakeHubSpot
from .fake_sources.server import running
from .models import FieldMapping, FieldPrecedence, Source
from .services.sources import source_credentials_set, source_schedule_save
from .services.sync import source_sync

CRM_PORT = 8100
ADVISORY_PORT = 8101
DEMO_DATA_FILE = Path(settings.BASE_DIR) / "demo-sources.json"
WEBHOOK_SECRET = "demo-webhook-secret"  # noqa: S105 - the demo's own signing secret

CRM_MAPPINGS = [
    ("firstname", "client.first_name", "none", ""),
    ("lastname", "client.last_name_prefix", "surname_prefix", ""),
    ("lastname", "client.last_name", "surname_base", ""),
    ("email", "client.email", "lowercase", ""),
    ("phone", "client.phone", "phone", ""),
    ("date_of_birth", "client.birth_date", "date", ""),
    ("zip", "client.postcode", "postcode", ""),
    ("city", "client.city", "none", ""),
    ("annual_income", "income.gross_annual_amount", "decimal", ""),
    ("mortgage_fixed_rate_end_date", "loan_part.fixed_rate_end_date", "date", ""),
]
ADVISORY_MAPPINGS = [
    ("voornaam", "client.first_name", "none", ""),
    ("tussenvoegsel", "client.last_name_prefix", "none", ""),
    ("achternaam", "client.last_name", "none", ""),
    ("geboortedatum", "client.birth_date", "date", "%d-%m-%Y"),
    ("email", "client.email", "lowercase", ""),
    ("telefoon", "client.phone", "phone", ""),
    ("adres.straat", "client.street", "none", ""),
    ("adres.huisnummer", "client.house_number", "none", ""),
    ("adres.postcode", "client.postcode", "postcode", ""),
    ("bruto_jaarinkomen", "income.gross_annual_amount", "decimal_comma", ""),
    ("hypotheek.hoofdsom", "loan_part.principal", "decimal_comma", ""),
    ("hypotheek.rentevast_tot", "loan_part.fixed_rate_end_date", "date", "%d-%m-%Y"),
]
PRECEDENCE = [
    # Contact details: an advisor's correction, then the client's own answer, then whichever
    # system changed last (sources not listed compete by recency).
    ("client.*", "ordered", "manual, client"),
    # Income and the mortgage: the advisory tool holds the checked figures.
    ("income.*", "ordered", "manual, client, advisory-tool, crm"),
    ("loan_part.*", "ordered", "manual, client, advisory-tool, crm"),
]


def crm_source_configure(*, base_url: str, team: Team, key: str = "crm") -> Source:
    source, _ = Source.objects.update_or_create(
        key=key,
        defaults={
            "name": "HubSpot CRM",
            "kind": Source.Kind.HUBSPOT,
            "default_team": team,
            "config": {
                "base_url": base_url,
                "properties": sorted({path for path, *_ in CRM_MAPPINGS}),
                "timeout_seconds": 10,
            },
        },
    )
    source_credentials_set(source=source, credentials={"access_token": TEST_TOKEN, "client_secret": WEBHOOK_SECRET})
    _mappings_set(source, CRM_MAPPINGS)
    return source


def advisory_source_configure(*, base_url: str, team: Team, key: str = "advisory-tool") -> Source:
    source, _ = Source.objects.update_or_create(
        key=key,
        defaults={
            "name": "Advisory tool",
            "kind": Source.Kind.REST,
            "default_team": team,
            "config": {
                "base_url": base_url,
                "endpoint": "/api/v2/relaties",
                "records_path": "data.items",
                "record_id_path": "relatienummer",
                "changed_at_path": "gewijzigd_op",
                "changed_at_format": "%d-%m-%Y %H:%M:%S",
                "source_timezone": "Europe/Amsterdam",
                "modified_since_param": "gewijzigd_sinds",
                "modified_since_format": "%d-%m-%Y %H:%M:%S",
                "pagination": {
                    "type": "page_number",
                    "page_param": "page",
                    "page_size_param": "per_page",
                    "page_size": 50,
                    "total_pages_path": "meta.totaal_paginas",
                },
                "detail_path": "/api/v2/relaties/{id}",
                "detail_record_path": "data",
                "auth": {"type": "api_key", "header": "X-Api-Key"},
                "timeout_seconds": 10,
            },
        },
    )
    source_credentials_set(source=source, credentials={"api_key": TEST_API_KEY})
    _mappings_set(source, ADVISORY_MAPPINGS)
    return source


def _mappings_set(source: Source, mappings) -> None:
    source.mappings.all().delete()
    FieldMapping.objects.bulk_create(
        FieldMapping(source=source, source_path=path, target=target, transform=transform, transform_argument=argument)
        for path, target, transform, argument in mappings
    )


def precedence_configure() -> None:
    for target, strategy, order in PRECEDENCE:
        FieldPrecedence.objects.update_or_create(target=target, defaults={"strategy": strategy, "source_order": order})


# --- The demo's data ------------------------------------------------------------------------------

DEMO_EPOCH = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # fixed, so re-runs change nothing


def demo_records(existing_clients: list[Client]) -> dict:
    """Fake CRM contacts and advisory-tool relations of the same people, deterministically.

    The CRM knows 60 existing clients (same email: linked for certain) and 25 new people; the
    advisory tool knows 40 of those existing clients and 15 of the new people, with a different
    income for some (a data conflict) and its own mortgage figures.
    """
    contacts, relations = [], []
    for index, client in enumerate(existing_clients[:60]):
        modified = DEMO_EPOCH + timedelta(minutes=index)
        income = Decimal(38000 + (index * 1370) % 60000)
        contact = {
            "hs_object_id": str(5001 + index),
            "firstname": client.first_name,
            "lastname": f"{client.last_name_prefix} {client.last_name}".strip(),
            "email": client.email,
            "phone": client.phone if index % 4 else f"+31 6 1234 56{index % 100:02d}",
            "date_of_birth": client.birth_date.isoformat() if client.birth_date else "",
            "zip": client.postcode,
            "city": client.city,
            "annual_income": str(income),
            "createdate": hubspot_timestamp(modified - timedelta(days=400)),
            "lastmodifieddate": hubspot_timestamp(modified),
        }
        if index % 3 == 0:
            contact["mortgage_fixed_rate_end_date"] = (date(2026, 12, 1) + timedelta(days=index * 9)).isoformat()
        contacts.append(contact)
        if index < 40:
            relations.append(
                {
                    "relatienummer": f"R-{200_001 + index}",
                    "voornaam": client.first_name,
                    "tussenvoegsel": client.last_name_prefix or None,
                    "achternaam": client.last_name,
                    "geboortedatum": dutch_date(client.birth_date) if client.birth_date else None,
                    "email": client.email if index % 5 else None,  # some only matchable by name and birth date
                    "telefoon": None,
                    "adres": {
                        "straat": client.street,
                        "huisnummer": client.house_number,
                        "postcode": client.postcode.replace(" ", ""),
                        "woonplaats": client.city.upper(),
                    },
                    # Every third one disagrees with the CRM on income: a conflict the advisor sees.
                    "bruto_jaarinkomen": dutch_amount(income + (Decimal(2500) if index % 3 == 1 else 0)),
                    "hypotheek": {
                        "hoofdsom": dutch_amount(Decimal(200000 + index * 5000)),
                        "rentevast_tot": dutch_date(date(2027, 1, 1) + timedelta(days=index * 11)),
                    },
                    "gewijzigd_op": dutch_timestamp(modified + timedelta(hours=1)),
                    "status": "actief",
                }
            )
    # Three people the CRM holds without an email, with a typo in the name and another postcode:
    # alike enough to suggest, not enough to link. They wait in the review queue.
    for index, client in enumerate(existing_clients[60:63]):
        contacts.append(
            {
                "hs_object_id": str(7001 + index),
                "firstname": client.first_name,
                "lastname": f"{client.last_name_prefix} {client.last_name}s".strip(),
                "date_of_birth": client.birth_date.isoformat() if client.birth_date else "",
                "zip": "1011 AB",
                "city": "Amsterdam",
                "createdate": hubspot_timestamp(DEMO_EPOCH),
                "lastmodifieddate": hubspot_timestamp(DEMO_EPOCH + timedelta(hours=2, minutes=index)),
            }
        )
    newcomers = fake_people(25, seed=7, start=DEMO_EPOCH)
    for person in newcomers:
        contacts.append(hubspot_properties(person, 9001 + person.number))
        if person.number < 15:
            relations.append(advisory_relation(person))
    return {"hubspot": contacts, "advisory": relations}


def demo_servers(data: dict, *, crm_port: int = CRM_PORT, advisory_port: int = ADVISORY_PORT):
    return (
        FakeHubSpot(data["hubspot"], port=crm_port),
        FakeAdvisoryTool(data["advisory"], port=advisory_port, pagination="page_number", page_size=50),
    )


def demo_sources_load(*, stdout) -> None:
    """Configure the two demo sources and consolidate them once (idempotent)."""
    team = Team.objects.get(name="Team Noord")
    with transaction.atomic():
        crm = crm_source_configure(base_url=f"http://127.0.0.1:{CRM_PORT}", team=team)
        advisory = advisory_source_configure(base_url=f"http://127.0.0.1:{ADVISORY_PORT}", team=team)
        precedence_configure()
        for source in (crm, advisory):
            source_schedule_save(source=source)
    existing = list(Client.objects.filter(team=team, source="generated").exclude(email="").order_by("pk")[:63])
    data = demo_records(existing)
    DEMO_DATA_FILE.write_text(json.dumps(data, indent=1))
    hubspot, advisory_tool = demo_servers(data)
    try:
        with running(hubspot), running(advisory_tool):
            for source in (crm, advisory):
                run = source_sync(source_id=source.pk, trigger="manual")
                stdout.write(
                    f"Synced {source.name}: {run.fetched} fetched, {run.created} new, {run.updated} changed, "
                    f"{run.unchanged} unchanged, {run.quarantined} quarantined, {run.in_review} to review."
                )
    except OSError as error:
        stdout.write(
            f"Demo sources not synced ({error}); is another demo still running on ports {CRM_PORT}/{ADVISORY_PORT}?"
        )
