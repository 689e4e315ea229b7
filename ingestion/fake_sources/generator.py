"""Deterministic, realistic Dutch clients for the fakes and the demo.

The same seed gives the same people on every machine and Python version (no Faker: its output
changes between releases). `dutch_contacts` shapes them as HubSpot contact properties (all values
strings, as HubSpot returns them); `advisory_relations` shapes the same people the way a Dutch
advisory tool would (decimal commas, dd-mm-yyyy dates), so the demo can match them across sources.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

FIRST_NAMES = (
    "Daan", "Sem", "Lucas", "Levi", "Finn", "Milan", "Bram", "Thijs", "Jesse", "Ruben", "Sven", "Jeroen",
    "Pieter", "Willem", "Henk", "Kees", "Marco", "Ahmed", "Mohamed", "Yusuf", "Emma", "Julia", "Sophie",
    "Tess", "Anna", "Fleur", "Lotte", "Sanne", "Lisa", "Eva", "Iris", "Noor", "Marieke", "Ingrid",
    "Anouk", "Fatima", "Samira", "Priya", "Hanna", "Mila",
)  # fmt: skip
LAST_NAMES = (
    ("", "Jansen"), ("de", "Vries"), ("van den", "Berg"), ("van", "Dijk"), ("", "Bakker"), ("", "Visser"),
    ("", "Smit"), ("", "Meijer"), ("de", "Boer"), ("", "Mulder"), ("de", "Groot"), ("", "Bos"),
    ("", "Vos"), ("", "Peters"), ("", "Hendriks"), ("van", "Leeuwen"), ("", "Dekker"), ("", "Brouwer"),
    ("de", "Wit"), ("", "Dijkstra"), ("", "Smits"), ("de", "Graaf"), ("van der", "Meer"), ("", "Kok"),
    ("", "Yilmaz"), ("El", "Amrani"), ("", "Jacobs"), ("van der", "Linden"), ("", "Kuipers"),
    ("", "Veenstra"), ("", "Hoekstra"), ("van", "Beek"),
)  # fmt: skip
# (city, first two digits range of its postcodes, a few real street names)
PLACES = (
    ("Amsterdam", (10, 11), ("Keizersgracht", "Overtoom", "Ferdinand Bolstraat", "Javastraat")),
    ("Rotterdam", (30, 31), ("Coolsingel", "Witte de Withstraat", "Nieuwe Binnenweg")),
    ("Den Haag", (25, 25), ("Laan van Meerdervoort", "Frederik Hendriklaan", "Weimarstraat")),
    ("Utrecht", (35, 35), ("Oudegracht", "Biltstraat", "Amsterdamsestraatweg")),
    ("Eindhoven", (56, 56), ("Stratumseind", "Kruisstraat", "Woenselse Markt")),
    ("Groningen", (97, 97), ("Herestraat", "Oosterstraat", "Paterswoldseweg")),
    ("Zwolle", (80, 80), ("Diezerstraat", "Assendorperstraat")),
    ("Haarlem", (20, 20), ("Zijlweg", "Kleverparkweg", "Rijksstraatweg")),
    ("Amersfoort", (38, 38), ("Leusderweg", "Kamp", "Soesterweg")),
    ("Nijmegen", (65, 65), ("Sint Annastraat", "Groesbeekseweg", "Graafseweg")),
    ("Arnhem", (68, 68), ("Amsterdamseweg", "Utrechtseweg", "Steenstraat")),
    ("Breda", (48, 48), ("Ginnekenweg", "Haagweg", "Boschstraat")),
    ("Leeuwarden", (89, 89), ("Nieuwestad", "Tesselschadestraat")),
    ("Maastricht", (62, 62), ("Tongersestraat", "Wycker Brugstraat", "Scharnerweg")),
)  # fmt: skip
POSTCODE_LETTERS = "ABCDEFGHJKLMNPRSTVWXZ"  # SA, SD and SS are not issued; avoiding the letters is simpler
EMAIL_DOMAINS = (
    "gmail.com",
    "hotmail.com",
    "outlook.com",
    "ziggo.nl",
    "kpnmail.nl",
    "xs4all.nl",
    "planet.nl",
)
DEFAULT_START = datetime(2025, 1, 6, 8, 30, tzinfo=UTC)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@dataclass(frozen=True)
class Person:
    """One generated client, in plain Python types; shaped per source by the functions below."""

    number: int
    first_name: str
    infix: str
    last_name: str
    email: str
    phone: str
    date_of_birth: date
    street: str
    house_number: int
    postcode: str
    city: str
    annual_income: Decimal
    mortgage_principal: Decimal | None
    fixed_rate_end_date: date | None
    created_at: datetime
    modified_at: datetime


def people(count: int, *, seed: int = 2026, start: datetime = DEFAULT_START) -> list[Person]:
    """`count` people; person i is the same for a given seed whatever `count` is."""
    result = []
    modified = start
    for number in range(count):
        rng = random.Random(f"{seed}:{number}")  # noqa: S311 - demo data, not secrets
        first = rng.choice(FIRST_NAMES)
        infix, last = rng.choice(LAST_NAMES)
        city, (low, high), streets = rng.choice(PLACES)
        letters = rng.choice(POSTCODE_LETTERS) + rng.choice(POSTCODE_LETTERS)
        postcode = f"{rng.randint(low, high)}{rng.randint(0, 99):02d} {letters}"
        birth = date(1948, 1, 1) + timedelta(days=rng.randint(0, 365 * 55))
        income = Decimal(rng.randrange(28_000, 240_000, 500))
        has_mortgage = rng.random() < 0.7
        principal = Decimal(rng.randrange(120_000, 780_000, 1_000)) if has_mortgage else None
        fixed_end = date(2025, 1, 1) + timedelta(days=rng.randint(0, 365 * 12)) if has_mortgage else None
        created = start - timedelta(days=rng.randint(30, 3_000), seconds=rng.randint(0, 86_399))
        # Distinct, increasing change times (like a CRM's audit trail), with milliseconds.
        modified = modified + timedelta(seconds=rng.randint(5, 600), milliseconds=rng.randint(0, 999))
        suffix = rng.randint(1, 99) if rng.random() < 0.4 else ""
        local_part = _ascii(f"{first}.{infix}{last}".replace(" ", "")).lower()
        result.append(
            Person(
                number=number,
                first_name=first,
                infix=infix,
                last_name=last,
                email=f"{local_part}{suffix}@{rng.choice(EMAIL_DOMAINS)}",
                # 06-1 to 06-5 are the mobile ranges in use; numbers elsewhere fail validation.
                phone=f"+31 6 {rng.randint(10_000_000, 59_999_999)}",
                date_of_birth=birth,
                street=rng.choice(streets),
                house_number=rng.randint(1, 250),
                postcode=postcode,
                city=city,
                annual_income=income,
                mortgage_principal=principal,
                fixed_rate_end_date=fixed_end,
                created_at=created,
                modified_at=modified,
            )
        )
    return result


def dutch_contacts(
    count: int, *, seed: int = 2026, start: datetime = DEFAULT_START, first_id: int = 1001
) -> list[dict[str, str]]:
    """HubSpot contact properties (strings, ISO timestamps with milliseconds and Z)."""
    return [hubspot_properties(person, first_id + person.number) for person in people(count, seed=seed, start=start)]


def with_own_emails(contacts: list[dict[str, str]]) -> list[dict[str, str]]:
    """The contacts, each with an email of its own (`name+id@domain`).

    The generator derives emails from names, so two people of the same name can share one, and
    the engine rightly takes the same name with the same email for one person (one client). Tests
    that count one client per contact use this.
    """
    result = []
    for contact in contacts:
        local, _, domain = (contact.get("email") or "x@example.nl").partition("@")
        result.append({**contact, "email": f"{local}+{contact['hs_object_id']}@{domain}"})
    return result


def hubspot_properties(person: Person, object_id: int) -> dict[str, str]:
    properties = {
        "hs_object_id": str(object_id),
        "firstname": person.first_name,
        "lastname": f"{person.infix} {person.last_name}".strip(),
        "email": person.email,
        "phone": person.phone,
        "date_of_birth": person.date_of_birth.isoformat(),
        "address": f"{person.street} {person.house_number}",
        "zip": person.postcode,
        "city": person.city,
        "country": "Netherlands",
        "annual_income": str(person.annual_income),
        "createdate": hubspot_timestamp(person.created_at),
        "lastmodifieddate": hubspot_timestamp(person.modified_at),
    }
    if person.fixed_rate_end_date:
        properties["mortgage_fixed_rate_end_date"] = person.fixed_rate_end_date.isoformat()
    return properties


def advisory_relations(count: int, *, seed: int = 2026, start: datetime = DEFAULT_START) -> list[dict]:
    """The same people as an advisory tool exports them: nested, Dutch number and date formats."""
    return [advisory_relation(person) for person in people(count, seed=seed, start=start)]


def advisory_relation(person: Person) -> dict:
    relation = {
        "relatienummer": f"R-{100_001 + person.number}",
        "voornaam": person.first_name,
        "tussenvoegsel": person.infix or None,
        "achternaam": person.last_name,
        "geboortedatum": dutch_date(person.date_of_birth),
        "email": person.email,
        "telefoon": person.phone.replace("+31 6 ", "06-"),
        "adres": {
            "straat": person.street,
            "huisnummer": str(person.house_number),
            "postcode": person.postcode.replace(" ", ""),
            "woonplaats": person.city.upper(),
        },
        "bruto_jaarinkomen": dutch_amount(person.annual_income),
        "hypotheek": None,
        "gewijzigd_op": dutch_timestamp(person.modified_at),
        "status": "actief",
    }
    if person.mortgage_principal is not None and person.fixed_rate_end_date is not None:
        relation["hypotheek"] = {
            "hoofdsom": dutch_amount(person.mortgage_principal),
            "rentevast_tot": dutch_date(person.fixed_rate_end_date),
        }
    return relation


def hubspot_timestamp(moment: datetime) -> str:
    """`2025-01-06T08:30:00.123Z`, HubSpot's format."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def dutch_amount(amount: Decimal) -> str:
    """`245.000,00`: dots for thousands, a comma for cents."""
    text = f"{amount:,.2f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def dutch_date(day: date) -> str:
    return day.strftime("%d-%m-%Y")


def dutch_timestamp(moment: datetime) -> str:
    """`31-12-2026 14:05:09`, local Dutch time without an offset, as such tools show it."""
    return moment.astimezone(AMSTERDAM).strftime("%d-%m-%Y %H:%M:%S")


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
