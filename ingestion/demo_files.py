"""The demo's file source: "Spreadsheet uploads", and a sample CSV to try the upload with.

`demo_file_source_load` configures the source (with the mapping of the sample's layout, so the
mapping step arrives pre-filled) and writes `demo-import.csv` beside manage.py: an export as a
Dutch spreadsheet writes it (semicolons, decimal commas, dd-mm-yyyy dates), with a few clients
Steward already knows, new people, and two rows that will go to quarantine. Nothing is imported:
uploading the file is the demo.
"""

import csv
from pathlib import Path

from django.conf import settings
from django.db import transaction

from accounts.models import Team
from clients.models import Client

from .fake_sources.generator import dutch_amount, dutch_date, people
from .models import FieldMapping, Source
from .services.file_import import column_path

DEMO_IMPORT_FILE = Path(settings.BASE_DIR) / "demo-import.csv"
SPREADSHEET_KEY = "spreadsheet"
RECORD_ID_COLUMN = "Klantnummer"
COLUMNS = [
    "Klantnummer",
    "Voornaam",
    "Tussenvoegsel",
    "Achternaam",
    "Geboortedatum",
    "E-mail",
    "Telefoon",
    "Straat",
    "Huisnummer",
    "Postcode",
    "Woonplaats",
    "Bruto jaarinkomen",
    "Hypotheek hoofdsom",
    "Rentevast tot",
]
SPREADSHEET_MAPPINGS = [
    ("Voornaam", "client.first_name", "none", ""),
    ("Tussenvoegsel", "client.last_name_prefix", "none", ""),
    ("Achternaam", "client.last_name", "none", ""),
    ("Geboortedatum", "client.birth_date", "date", "%d-%m-%Y"),
    ("E-mail", "client.email", "lowercase", ""),
    ("Telefoon", "client.phone", "phone", ""),
    ("Straat", "client.street", "none", ""),
    ("Huisnummer", "client.house_number", "none", ""),
    ("Postcode", "client.postcode", "postcode", ""),
    ("Woonplaats", "client.city", "none", ""),
    ("Bruto jaarinkomen", "income.gross_annual_amount", "decimal_comma", ""),
    ("Hypotheek hoofdsom", "loan_part.principal", "decimal_comma", ""),
    ("Rentevast tot", "loan_part.fixed_rate_end_date", "date", "%d-%m-%Y"),
]


def spreadsheet_source_configure(*, team: Team) -> Source:
    """The file source and the mapping of the sample's layout (idempotent)."""
    with transaction.atomic():
        source, _ = Source.objects.update_or_create(
            key=SPREADSHEET_KEY,
            defaults={
                "name": "Spreadsheet uploads",
                "kind": Source.Kind.FILE,
                "default_team": team,
                "sync_interval_minutes": 0,
                "config": {"record_id_column": RECORD_ID_COLUMN},
            },
        )
        source.mappings.all().delete()
        FieldMapping.objects.bulk_create(
            FieldMapping(
                source=source,
                source_path=column_path(column),
                target=target,
                transform=transform,
                transform_argument=argument,
            )
            for column, target, transform, argument in SPREADSHEET_MAPPINGS
        )
    return source


def demo_import_rows(known_clients: list[Client]) -> list[dict[str, str]]:
    """About 30 rows: clients Steward knows (linked by email), new people, and two bad rows."""
    rows = []
    for index, client in enumerate(known_clients):
        rows.append(
            {
                "Klantnummer": f"K-{3001 + index}",
                "Voornaam": client.first_name,
                "Tussenvoegsel": client.last_name_prefix,
                "Achternaam": client.last_name,
                "Geboortedatum": dutch_date(client.birth_date) if client.birth_date else "",
                "E-mail": client.email.upper() if index % 2 else client.email,
                "Telefoon": f"06-{41234500 + index}",  # a newer number than the CRM's
                "Straat": client.street,
                "Huisnummer": client.house_number,
                "Postcode": client.postcode.replace(" ", ""),
                "Woonplaats": client.city,
                "Bruto jaarinkomen": dutch_amount(40_000 + 2_750 * index),
                "Hypotheek hoofdsom": "",
                "Rentevast tot": "",
            }
        )
    for person in people(30 - len(rows), seed=4242):
        rows.append(
            {
                "Klantnummer": f"K-{4001 + person.number}",
                "Voornaam": person.first_name,
                "Tussenvoegsel": person.infix,
                "Achternaam": person.last_name,
                "Geboortedatum": dutch_date(person.date_of_birth),
                "E-mail": person.email,
                "Telefoon": person.phone.replace("+31 6 ", "06-"),
                "Straat": person.street,
                "Huisnummer": str(person.house_number),
                "Postcode": person.postcode,
                "Woonplaats": person.city,
                "Bruto jaarinkomen": dutch_amount(person.annual_income),
                "Hypotheek hoofdsom": dutch_amount(person.mortgage_principal) if person.mortgage_principal else "",
                "Rentevast tot": dutch_date(person.fixed_rate_end_date) if person.fixed_rate_end_date else "",
            }
        )
    # Two typing errors, as real exports have them: they go to quarantine, the rest lands.
    rows[-3]["Postcode"] = "12345"
    rows[-7]["Geboortedatum"] = "31-02-1980"
    return rows


def demo_import_file_write(rows: list[dict[str, str]], path: Path) -> Path:
    # utf-8-sig: what Excel writes as "CSV UTF-8", byte order mark included.
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
    return path


def demo_file_source_load(*, stdout) -> None:
    """Configure "Spreadsheet uploads" and write demo-import.csv to try the upload with (idempotent)."""
    team = Team.objects.get(name="Team Noord")
    source = spreadsheet_source_configure(team=team)
    # Clients the CRM demo does not use (it takes the first 63), so linking by email shows here.
    known = list(Client.objects.filter(team=team, source="generated").exclude(email="").order_by("pk")[100:105])
    path = demo_import_file_write(demo_import_rows(known), DEMO_IMPORT_FILE)
    stdout.write(f"Configured {source.name}; upload {path.name} on its page to try a file import.")
