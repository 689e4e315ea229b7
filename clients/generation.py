"""Deterministic synthetic clients: the demo book and the load-test book.

Why a generator of its own rather than factory_boy: a million clients must load in minutes, so rows
are built as plain dicts and written per batch with one bulk statement per table (COPY on
PostgreSQL, bulk_create elsewhere), never a query per client.

Why it is deterministic: every household draws from its own random stream, seeded by the run's seed
and the household's number, and every date hangs off one reference day. So the same seed, count and
day give the same people and products whatever the batch size, and a run that stopped half-way (each
batch commits on its own) is completed by running it again.

The book is shaped for the rules that later steps evaluate: some fixed-rate periods end within 14
days or six months, some homes are insured below their rebuild value, some clients face a pension
gap, some have a mortgage and dependants but no life cover, some interest-only parts run past the
state pension age, some clients have not been contacted for over a year, some complaints have been
open for over 30 days, and some values were last changed years ago.

Names, addresses and products come from weighted lists below rather than Faker: Faker's nl_NL lists
are unweighted and mix medieval and modern names, while an advisory book needs the names of the
generation a client was born in, and postcodes that belong to the city they are printed with.
E-mail addresses use the reserved example domains (RFC 2606), so a demo can never mail a real person.
"""

import calendar
import contextlib
import json
import math
import random
import time as stopwatch
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from itertools import accumulate
from operator import itemgetter
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import Team

from .bulk import ids_reserve
from .models import (
    Agreement,
    Asset,
    Channel,
    Client,
    Complaint,
    ConsumerLoan,
    ContactMoment,
    ContactPreference,
    EducationLevel,
    Employment,
    FamilyMember,
    Gender,
    Household,
    Income,
    InsurancePolicy,
    LoanPart,
    MaritalStatus,
    MissedPayment,
    Mortgage,
    Pension,
    Property,
    Purpose,
    RepaymentType,
    Segment,
)
from .provenance import CLIENT, GENERATED, MANUAL, Provenance
from .search import normalise_search_text

DEFAULT_BATCH_SIZE = 5000

# Sources other than GENERATED that a per-field provenance entry may name: the firm's advisory
# package, and the national pension register (mijnpensioenoverzicht.nl).
ADVISORY_TOOL = "advisory-tool"
PENSION_REGISTER = "pension-register"

# --- Teams ----------------------------------------------------------------------------------------

NORTH, SOUTH = "north", "south"
# The demo teams of accounts.services.DEMO_USERS. A generated client's team follows from where they
# live, as at a firm with regional offices: Team Zuid serves postcodes 4000-6999 (Zeeland, Brabant,
# Limburg and the river area), Team Noord the rest.
REGION_TEAMS = {NORTH: "Team Noord", SOUTH: "Team Zuid"}


def region_of_postcode(postcode: str) -> str:
    return SOUTH if postcode[:1] in ("4", "5", "6") else NORTH


@dataclass(frozen=True)
class Advisor:
    id: int
    name: str


@dataclass(frozen=True)
class Book:
    """A team and the advisors its clients are spread over (none: the clients wait for one)."""

    team_id: int
    advisors: tuple[Advisor, ...] = ()


def books_ensure(*, advisor_usernames: Mapping[str, Sequence[str]] | None = None) -> dict[str, Book]:
    """Team Noord and Team Zuid (created when missing), each with the advisors who get its clients.

    A client needs a team, so the teams are created when they do not exist. The advisors are the named
    users of the team when given (the demo names its two advisors), else every active member of the
    team, else nobody: a client may wait for an advisor, the advisor field is optional.
    """
    user_model = get_user_model()
    books = {}
    for region, team_name in REGION_TEAMS.items():
        team = Team.objects.get_or_create(name=team_name)[0]
        members = list(user_model.objects.filter(team=team, is_active=True).order_by("username"))
        wanted = set((advisor_usernames or {}).get(region, ()))
        chosen = [user for user in members if user.username in wanted] or members
        advisors = tuple(Advisor(id=user.pk, name=user.get_full_name() or user.username) for user in chosen)
        books[region] = Book(team_id=team.pk, advisors=advisors)
    return books


# --- Reference data -------------------------------------------------------------------------------


class _Weighted:
    """Options drawn by weight. `random.choices` adds the weights up again on every call; a million
    clients draw a few hundred million times, so the sums are made once."""

    def __init__(self, options: Sequence, weights: Sequence[float]):
        self.options = list(options)
        self.cumulative = list(accumulate(weights))
        self.total = self.cumulative[-1]

    def pick(self, rng: random.Random):
        return self.options[bisect_right(self.cumulative, rng.random() * self.total)]


def _randint(rng: random.Random, low: int, high: int) -> int:
    """`rng.randint` in a fraction of the time (with `_choice`, the generator's hottest calls)."""
    return low + int(rng.random() * (high - low + 1))


def _choice(rng: random.Random, options: Sequence):
    return options[int(rng.random() * len(options))]


# fmt: off

# City, first and last postcode number, area code, population (thousands, as weight), average house
# price (thousands of euros) and the share of apartments among homes.
CITIES = [
    ("Amsterdam", 1011, 1109, "20", 930, 620, 0.75), ("Rotterdam", 3011, 3089, "10", 670, 380, 0.55),
    ("Den Haag", 2491, 2597, "70", 560, 430, 0.6), ("Utrecht", 3511, 3585, "30", 370, 520, 0.5),
    ("Eindhoven", 5611, 5658, "40", 240, 420, 0.35), ("Groningen", 9711, 9747, "50", 240, 330, 0.45),
    ("Tilburg", 5011, 5049, "13", 225, 370, 0.3), ("Almere", 1311, 1363, "36", 220, 400, 0.25),
    ("Breda", 4811, 4839, "76", 185, 430, 0.3), ("Nijmegen", 6511, 6546, "24", 180, 400, 0.35),
    ("Apeldoorn", 7311, 7339, "55", 165, 400, 0.2), ("Haarlem", 2011, 2037, "23", 165, 560, 0.45),
    ("Arnhem", 6811, 6846, "26", 165, 370, 0.35), ("Enschede", 7511, 7548, "53", 160, 310, 0.25),
    ("Amersfoort", 3811, 3830, "33", 160, 470, 0.3), ("Zaandam", 1501, 1509, "75", 160, 420, 0.35),
    ("'s-Hertogenbosch", 5211, 5247, "73", 160, 440, 0.3), ("Zwolle", 8011, 8043, "38", 130, 390, 0.25),
    ("Leiden", 2311, 2334, "71", 125, 470, 0.4), ("Zoetermeer", 2711, 2729, "79", 125, 390, 0.35),
    ("Leeuwarden", 8911, 8939, "58", 125, 290, 0.25), ("Maastricht", 6211, 6229, "43", 120, 380, 0.4),
    ("Dordrecht", 3311, 3319, "78", 120, 330, 0.3), ("Ede", 6711, 6718, "318", 118, 430, 0.2),
    ("Alkmaar", 1811, 1827, "72", 110, 430, 0.3), ("Emmen", 7811, 7833, "591", 108, 290, 0.1),
    ("Delft", 2611, 2629, "15", 105, 420, 0.45), ("Venlo", 5911, 5935, "77", 100, 320, 0.2),
    ("Deventer", 7411, 7429, "570", 100, 360, 0.2), ("Helmond", 5701, 5709, "492", 93, 350, 0.2),
    ("Oss", 5341, 5349, "412", 93, 360, 0.15), ("Purmerend", 1441, 1448, "299", 93, 400, 0.3),
    ("Hilversum", 1211, 1223, "35", 92, 560, 0.3), ("Amstelveen", 1181, 1189, "20", 92, 650, 0.4),
    ("Sittard", 6131, 6137, "46", 92, 290, 0.2), ("Heerlen", 6411, 6422, "45", 87, 270, 0.2),
    ("Lelystad", 8211, 8245, "320", 80, 340, 0.2), ("Roosendaal", 4701, 4709, "165", 77, 340, 0.2),
    ("Gouda", 2801, 2809, "182", 74, 390, 0.3), ("Hoorn", 1621, 1628, "229", 74, 380, 0.2),
    ("Assen", 9401, 9409, "592", 69, 320, 0.15), ("Bergen op Zoom", 4611, 4625, "164", 68, 320, 0.2),
    ("Veenendaal", 3901, 3907, "318", 67, 400, 0.2), ("Roermond", 6041, 6045, "475", 58, 320, 0.2),
    ("Den Helder", 1781, 1789, "223", 56, 280, 0.25), ("Heerenveen", 8440, 8448, "513", 51, 320, 0.1),
    ("Middelburg", 4331, 4339, "118", 49, 340, 0.2), ("Drachten", 9200, 9206, "512", 45, 300, 0.1),
    ("Tiel", 4001, 4007, "344", 42, 350, 0.15), ("Goes", 4461, 4465, "113", 38, 340, 0.15),
]
WEIGHTED_CITIES = _Weighted(CITIES, [city[4] for city in CITIES])
# Letters F, I, O, Q, U and Y do not occur in Dutch postcodes; SA, SD and SS were never issued.
POSTCODE_LETTERS = "ABCDEGHJKLMNPRSTVWXZ"
POSTCODE_SKIP = {"SA", "SD", "SS"}

STREETS = [
    "Kerkstraat", "Dorpsstraat", "Schoolstraat", "Molenweg", "Stationsweg", "Hoofdstraat",
    "Julianastraat", "Beatrixlaan", "Wilhelminastraat", "Prins Bernhardlaan", "Eikenlaan",
    "Lindenlaan", "Beukenlaan", "Kastanjelaan", "Nieuwstraat", "Marktstraat", "Parallelweg",
    "Sportlaan", "Burgemeester de Withstraat", "Populierenlaan", "Vondelstraat", "Rembrandtlaan",
    "Oranjestraat", "Emmastraat", "Mozartlaan", "Tulpstraat", "Rozenstraat", "Merelstraat",
    "Zwanenbloem", "Havenstraat", "Dijkweg", "Kanaalweg", "Bernhardstraat", "Vincent van Goghstraat",
    "Johan de Wittlaan", "Thorbeckestraat", "Koningin Julianaweg", "Esdoornlaan", "Berkenlaan",
    "Weverstraat", "Smidsstraat", "Bakkerstraat", "Graaf Florisstraat", "Van Goyenstraat",
    "Lange Voorhout", "Achterweg", "Meidoornstraat", "Spoorlaan", "Zuiderpark", "Noorderhaven",
]
HOUSE_NUMBER_SUFFIXES = ["A", "B", "C", "-1", "-2", "hs", "bis"]

# (prefix, surname, weight): the most frequent Dutch surnames with their rough relative frequency.
SURNAMES = [
    ("de", "Jong", 88), ("", "Jansen", 73), ("de", "Vries", 71), ("van den", "Berg", 60),
    ("van", "Dijk", 58), ("", "Bakker", 57), ("", "Janssen", 56), ("", "Visser", 50), ("", "Smit", 47),
    ("", "Meijer", 45), ("de", "Boer", 43), ("", "Mulder", 40), ("de", "Groot", 40), ("", "Bos", 39),
    ("", "Vos", 35), ("", "Peters", 34), ("", "Hendriks", 33), ("van", "Leeuwen", 32), ("", "Dekker", 31),
    ("", "Brouwer", 30), ("de", "Wit", 29), ("", "Dijkstra", 28), ("", "Smits", 27), ("de", "Graaf", 27),
    ("van der", "Meer", 26), ("van der", "Linden", 25), ("", "Kok", 25), ("", "Jacobs", 24),
    ("de", "Haan", 24), ("", "Vermeulen", 24), ("van den", "Heuvel", 23), ("van der", "Veen", 23),
    ("van den", "Broek", 22), ("de", "Bruijn", 22), ("de", "Bruin", 21), ("van der", "Heijden", 21),
    ("", "Schouten", 21), ("van", "Beek", 20), ("", "Willems", 20), ("van", "Vliet", 20),
    ("van de", "Ven", 20), ("", "Hoekstra", 19), ("", "Maas", 19), ("", "Verhoeven", 19), ("", "Koster", 18),
    ("van", "Dam", 18), ("van der", "Wal", 18), ("", "Prins", 18), ("", "Blom", 17), ("", "Huisman", 17),
    ("", "Peeters", 17), ("de", "Jonge", 17), ("", "Kuipers", 16), ("van", "Veen", 16), ("", "Post", 16),
    ("", "Kuiper", 16), ("", "Veenstra", 16), ("", "Kramer", 16), ("van den", "Brink", 15),
    ("", "Scholten", 15), ("van", "Wijk", 15), ("", "Postma", 15), ("", "Martens", 15), ("", "Vink", 15),
    ("de", "Ruiter", 15), ("", "Timmermans", 14), ("", "Groen", 14), ("", "Gerritsen", 14),
    ("", "Jonker", 14), ("van", "Loon", 14), ("", "Boer", 14), ("van der", "Velde", 14),
    ("", "Willemsen", 13), ("", "Smeets", 13), ("de", "Lange", 13), ("de", "Vos", 13), ("", "Bosch", 13),
    ("van", "Dongen", 13), ("", "Schipper", 13), ("de", "Koning", 13), ("van der", "Laan", 12),
    ("", "Koning", 12), ("van der", "Velden", 12), ("", "Driessen", 12), ("van", "Doorn", 12),
    ("", "Hermans", 12), ("", "Evers", 12), ("van den", "Bosch", 12), ("van der", "Meulen", 12),
    ("", "Hofman", 11), ("", "Bosman", 11), ("", "Wolters", 11), ("", "Sanders", 11),
    ("van der", "Horst", 11), ("", "Mertens", 11), ("", "Kuijpers", 11), ("", "Wouters", 11),
    ("'t", "Hart", 9), ("ter", "Horst", 6), ("ten", "Brink", 6), ("in 't", "Veld", 5), ("op de", "Beek", 4),
    ("", "Brinkman", 10), ("", "Hoogendoorn", 9), ("", "Zwart", 9), ("", "Bouwman", 9), ("", "Verbeek", 9),
    # Dutch citizens with roots elsewhere, as most advisory books have them.
    ("", "Yilmaz", 10), ("", "Öztürk", 6), ("", "Kaya", 7), ("", "Demir", 6), ("", "Şahin", 5),
    ("", "Çelik", 4), ("", "El Amrani", 6), ("", "Bouzid", 5), ("", "El Idrissi", 5), ("", "Benali", 4),
    ("", "Ramdin", 4), ("", "Kartosen", 3), ("", "Pinas", 3), ("", "Nguyen", 4), ("", "Kowalski", 3),
    ("", "Santos", 3),
]
WEIGHTED_SURNAMES = _Weighted(SURNAMES, [weight for _, _, weight in SURNAMES])

# First names by the period of birth: a 75-year-old is a Johanna or a Kees, a 25-year-old a Sanne
# or a Daan. The lists are for those born before 1950, in 1950-1969, 1970-1989 and from 1990.
NAME_PERIODS = (1950, 1970, 1990)
MALE_NAMES = [
    ["Jan", "Johannes", "Cornelis", "Hendrik", "Willem", "Gerrit", "Pieter", "Jacobus", "Adrianus",
     "Theo", "Antonius", "Gerard", "Kees", "Henk", "Piet", "Wim", "Klaas", "Dirk", "Arie", "Bert", "Harm",
     "Jaap", "Ahmed", "Mustafa"],
    ["Peter", "Hans", "Johan", "Gerard", "Jan", "Marcel", "Rob", "Ronald", "Frank", "Paul", "René", "Ad",
     "Ton", "Erik", "Henk", "Fred", "Martin", "André", "Jos", "Harry", "Ruud", "Gert", "Mohamed", "Hasan"],
    ["Mark", "Jeroen", "Dennis", "Martijn", "Sander", "Michiel", "Bas", "Patrick", "Marco", "Remco",
     "Richard", "Vincent", "Niels", "Tim", "Bart", "Joost", "Maarten", "Rick", "Robin", "Stefan", "Wouter",
     "Arjen", "Jasper", "Mehmet", "Rachid"],
    ["Daan", "Thijs", "Lars", "Jesse", "Ruben", "Sem", "Luuk", "Bram", "Milan", "Stijn", "Tom", "Max",
     "Thomas", "Niek", "Jelle", "Sven", "Kevin", "Noah", "Finn", "Levi", "Lucas", "Gijs", "Youssef",
     "Emre", "Bilal"],
]
FEMALE_NAMES = [
    ["Maria", "Johanna", "Cornelia", "Anna", "Hendrika", "Elisabeth", "Wilhelmina", "Catharina",
     "Gerda", "Riet", "Annie", "Truus", "Corrie", "Bep", "Joke", "Ans", "Nel", "Greet", "Dina", "Tineke",
     "Fatima"],
    ["Marian", "Ingrid", "Monique", "Anja", "Petra", "Ellen", "Yvonne", "Astrid", "Jolanda", "Karin",
     "Marja", "Wilma", "Annemarie", "Ria", "Carla", "José", "Margriet", "Els", "Ineke", "Marjolein",
     "Aicha", "Ayşe"],
    ["Sandra", "Linda", "Esther", "Marieke", "Kim", "Nicole", "Wendy", "Mirjam", "Saskia", "Femke",
     "Anouk", "Ilse", "Judith", "Sanne", "Chantal", "Daniëlle", "Manon", "Suzanne", "Eva", "Iris",
     "Marloes", "Naima", "Samira"],
    ["Emma", "Sanne", "Lisa", "Anne", "Julia", "Sophie", "Fleur", "Lotte", "Eva", "Isa", "Lieke", "Noa",
     "Zoë", "Tess", "Mila", "Sara", "Britt", "Romy", "Amber", "Fenna", "Nina", "Yasmina", "Elif", "Chloë"],
]

EDUCATION_LEVELS = [
    EducationLevel.PRIMARY, EducationLevel.VMBO, EducationLevel.MBO, EducationLevel.HAVO_VWO,
    EducationLevel.HBO, EducationLevel.WO, EducationLevel.UNKNOWN,
]
# Older clients left school earlier: the share with HBO or WO has roughly doubled since the 1970s.
EDUCATION_OLDER = _Weighted(EDUCATION_LEVELS, [10, 28, 28, 8, 15, 7, 4])
EDUCATION_YOUNGER = _Weighted(EDUCATION_LEVELS, [2, 12, 34, 8, 26, 15, 3])
# Median gross salary (full time, mid-career) by education.
SALARY_BY_EDUCATION = {
    EducationLevel.PRIMARY: 29_000, EducationLevel.VMBO: 33_000, EducationLevel.MBO: 39_000,
    EducationLevel.HAVO_VWO: 43_000, EducationLevel.HBO: 56_000, EducationLevel.WO: 68_000,
    EducationLevel.UNKNOWN: 40_000,
}


@dataclass(frozen=True)
class Sector:
    """Where employees work: employers ("{city}" and "{last_name}" are filled in), funds and jobs."""

    employers: tuple[str, ...]
    pension_funds: tuple[str, ...]
    jobs: tuple[str, ...]
    weight: int
    salary_factor: float = 1.0


SECTORS = [
    Sector(("Gemeente {city}", "Belastingdienst", "Rijkswaterstaat", "Politie Nederland", "UWV"),
           ("ABP",),
           ("Beleidsmedewerker", "Projectleider", "Juridisch medewerker", "Wijkagent",
            "Adviseur ruimtelijke ordening", "Klantmanager"), 12),
    Sector(("Basisschool De Regenboog", "Openbare Basisschool De Wilgen", "Het {city} College",
            "ROC Midden Nederland", "Hogeschool Utrecht", "Universiteit Leiden"),
           ("ABP",),
           ("Leraar basisonderwijs", "Docent", "Onderwijsassistent", "Teamleider", "Docent wiskunde"),
           8, 0.95),
    Sector(("Ziekenhuis Rivierenland", "Zorggroep Noorderboog", "Thuiszorg West-Brabant",
            "Gelre ziekenhuizen", "Cordaan", "Huisartsenpraktijk De Linde"),
           ("PFZW",),
           ("Verpleegkundige", "Verzorgende IG", "Doktersassistent", "Fysiotherapeut", "Medewerker planning"),
           16, 0.95),
    Sector(("ASML", "VDL Groep", "DAF Trucks", "Vanderlande", "Stork"),
           ("PME", "PMT"),
           ("Monteur", "Werkvoorbereider", "Engineer", "Lasser", "Productiemedewerker"), 8, 1.1),
    Sector(("Albert Heijn", "Jumbo Supermarkten", "HEMA", "Action", "Kruidvat"),
           ("Pensioenfonds Detailhandel",),
           ("Verkoopmedewerker", "Filiaalmanager", "Teamleider vers", "Medewerker logistiek"), 10, 0.8),
    Sector(("Heijmans", "BAM", "Dura Vermeer", "VolkerWessels", "Bouwbedrijf {last_name}"),
           ("bpfBOUW",),
           ("Timmerman", "Uitvoerder", "Metselaar", "Calculator"), 6),
    Sector(("Rabobank", "ING", "ABN AMRO", "a.s.r.", "Achmea"),
           ("Rabobank Pensioenfonds", "ING CDC Pensioenfonds", "ABN AMRO Pensioenfonds", "a.s.r. Pensioenen"),
           ("Accountmanager", "Risicomanager", "Klantadviseur", "Data-analist"), 6, 1.2),
    Sector(("NS", "PostNL", "KLM", "Transportbedrijf {last_name}", "DHL Parcel"),
           ("Spoorwegpensioenfonds", "Pensioenfonds PostNL", "Pensioenfonds Vervoer"),
           ("Vrachtwagenchauffeur", "Machinist", "Logistiek planner", "Pakketbezorger"), 6, 0.95),
    Sector(("Booking.com", "Adyen", "Exact", "Bol", "Coolblue"),
           ("BeFrank", "Brand New Day", "Nationale-Nederlanden"),
           ("Software engineer", "Product owner", "Data engineer", "Klantenservicemedewerker"), 6, 1.25),
    Sector(("Restaurant De Gouden Leeuw", "Van der Valk", "Hotel {city}"),
           ("Pensioenfonds Horeca & Catering",),
           ("Kok", "Bedieningsmedewerker", "Hotelmanager"), 4, 0.75),
    Sector(("PwC", "Deloitte", "Randstad", "Installatiebedrijf {last_name} B.V.",
            "Accountantskantoor {last_name}"),
           ("Nationale-Nederlanden", "a.s.r. Pensioenen", "Aegon"),
           ("Accountant", "Consultant", "Office manager", "Recruiter", "Administratief medewerker"),
           10, 1.05),
]
WEIGHTED_SECTORS = _Weighted(SECTORS, [sector.weight for sector in SECTORS])
# Self-employed trades: the business name and the job that goes with it.
TRADES = [
    ("{last_name} Advies", "Zelfstandig adviseur"), ("Bouwbedrijf {last_name}", "Aannemer"),
    ("Schildersbedrijf {last_name}", "Schilder"), ("Fysiotherapie {city}", "Fysiotherapeut"),
    ("Fotografie {last_name}", "Fotograaf"), ("Hoveniersbedrijf {last_name}", "Hovenier"),
    ("{last_name} ICT", "IT-consultant"), ("Installatietechniek {last_name}", "Installateur"),
    ("Tekstbureau {last_name}", "Tekstschrijver"), ("Kapsalon {first_name}", "Kapper"),
]

LENDERS = [
    "Rabobank", "ING", "ABN AMRO", "SNS", "ASN Bank", "RegioBank", "Obvion", "Aegon", "Nationale-Nederlanden",
    "a.s.r.", "Florius", "Munt Hypotheken", "Venn Hypotheken", "Tulp Hypotheken", "Argenta", "BLG Wonen",
]
INSURERS = {
    InsurancePolicy.Kind.HOME: ["Centraal Beheer", "Interpolis", "FBTO", "Nationale-Nederlanden", "a.s.r.",
                                "Univé"],
    InsurancePolicy.Kind.CONTENTS: ["Centraal Beheer", "Interpolis", "FBTO", "OHRA", "Univé", "InShared"],
    InsurancePolicy.Kind.LIFE: ["Nationale-Nederlanden", "a.s.r.", "Aegon", "Zwitserleven", "Reaal"],
    InsurancePolicy.Kind.TERM_LIFE: ["Nationale-Nederlanden", "a.s.r.", "Aegon", "Dazure", "Scildon",
                                     "Allianz"],
    InsurancePolicy.Kind.DISABILITY: ["De Amersfoortse", "Movir", "a.s.r.", "Allianz",
                                      "Nationale-Nederlanden"],
    InsurancePolicy.Kind.LIABILITY: ["Centraal Beheer", "Interpolis", "FBTO", "Ditzo", "ANWB", "Univé"],
    InsurancePolicy.Kind.TRAVEL: ["ANWB", "Centraal Beheer", "Allianz Direct", "OHRA", "Interpolis"],
    InsurancePolicy.Kind.CAR: ["Centraal Beheer", "InShared", "FBTO", "ANWB", "Allianz Direct", "Univé"],
    InsurancePolicy.Kind.FUNERAL: ["DELA", "Monuta", "Yarden", "Ardanta"],
}
SAVINGS_BANKS = [
    "Rabobank", "ING", "ABN AMRO", "ASN Bank", "SNS", "Triodos Bank", "Knab", "bunq", "RegioBank",
]
INVESTMENT_FIRMS = ["Meesman", "Brand New Day", "DEGIRO", "ABN AMRO", "Rabobank", "ING", "Saxo", "Peaks"]
OTHER_ASSETS = ["Bitvavo", "Goud- en zilverdepot", "Crowdfunding"]
INDIVIDUAL_PENSION_PROVIDERS = [
    "Brand New Day", "Nationale-Nederlanden", "a.s.r.", "Aegon", "Centraal Beheer",
]
CONSUMER_LENDERS = {
    ConsumerLoan.Kind.PERSONAL: ["Rabobank", "ING", "Freo", "Santander", "Defam"],
    ConsumerLoan.Kind.REVOLVING: ["ING", "Santander", "Freo", "Lender & Spender"],
    ConsumerLoan.Kind.CAR: ["Santander", "Hiltermann Lease", "Athlon", "ALD Automotive"],
    ConsumerLoan.Kind.STUDENT: ["DUO"],
}
EMAIL_DOMAINS = ["example.com", "example.net", "example.org"]
BACK_OFFICE_NAMES = ["C. Bakker", "M. de Wit", "S. Yilmaz", "J. Peters", "L. van Dam"]

CONTACT_SUBJECTS = {
    Channel.EMAIL: [
        "Vraag over hypotheekrente", "Wijziging bankrekeningnummer", "Vraag over jaaropgave",
        "Verhuizing doorgegeven", "Rentevoorstel verlenging rentevaste periode", "Bevestiging afspraak",
        "Offerte overlijdensrisicoverzekering", "Jaarlijkse check financiële situatie", "Schademelding",
    ],
    Channel.PHONE: [
        "Telefonisch adviesgesprek", "Teruggebeld over rentevoorstel", "Vraag over oversluiten",
        "Vraag over extra aflossen", "Vraag over pensioenoverzicht",
    ],
    Channel.MEETING: [
        "Adviesgesprek hypotheek", "Periodiek klantgesprek", "Pensioenadvies", "Kennismakingsgesprek",
    ],
    Channel.LETTER: ["Jaaroverzicht verzekeringen", "Wijziging voorwaarden", "Rentevoorstel per brief"],
    Channel.PORTAL: ["Document geüpload", "Gegevens bijgewerkt in het portaal", "Loonstrook geüpload"],
    Channel.WHATSAPP: ["Herinnering afspraak", "Korte vraag via WhatsApp"],
    Channel.SMS: ["Herinnering afspraak per sms"],
    Channel.PUSH: ["Melding in de app over nieuw document"],
}
CONTACT_CHANNELS = [
    Channel.EMAIL, Channel.PHONE, Channel.MEETING, Channel.LETTER, Channel.PORTAL, Channel.WHATSAPP,
    Channel.SMS, Channel.PUSH,
]
WEIGHTED_CONTACT_CHANNELS = _Weighted(CONTACT_CHANNELS, [35, 30, 12, 8, 7, 6, 1, 1])
AGREEMENTS = [
    "Rentevoorstel bespreken voor het einde van de rentevaste periode", "Herbouwwaarde woning laten taxeren",
    "Pensioenoverzicht opvragen via mijnpensioenoverzicht.nl", "Offerte overlijdensrisicoverzekering sturen",
    "Terugbellen over extra aflossing", "Jaarlijkse financiële check inplannen",
    "Testament en nabestaandenvoorziening bespreken", "Werkgeversverklaring aanleveren",
    "Verzekeringen doorlichten na verhuizing",
]
COMPLAINTS = [
    ("Te laat gereageerd op vraag over hypotheek", "Excuses aangeboden; vraag dezelfde week beantwoord."),
    ("Onduidelijke kosten in adviesnota", "Kosten toegelicht en deels gecrediteerd."),
    ("Premieverhoging niet aangekondigd", "Uitleg gegeven over de indexatie; klant tevreden."),
    ("Schadeclaim te traag afgehandeld", "Met verzekeraar opgeschaald; schade uitgekeerd."),
    ("Verkeerde gegevens in offerte", "Offerte gecorrigeerd en opnieuw verstuurd."),
    ("Afspraak niet nagekomen", "Excuses aangeboden en nieuwe afspraak ingepland."),
]
# Before 2013, interest-only and savings-linked loans were the norm; since then only (part of) a loan
# that is repaid during its term qualifies for mortgage interest relief.
REPAYMENT_TYPES = [
    RepaymentType.INTEREST_ONLY, RepaymentType.SAVINGS, RepaymentType.INVESTMENT, RepaymentType.ANNUITY,
    RepaymentType.LINEAR,
]
REPAYMENT_BEFORE_2013 = _Weighted(REPAYMENT_TYPES, [40, 18, 10, 27, 5])
REPAYMENT_SINCE_2013 = _Weighted(REPAYMENT_TYPES, [0, 0, 0, 83, 17])
PREMIUM_FREQUENCIES = _Weighted([
    InsurancePolicy.PremiumFrequency.MONTHLY, InsurancePolicy.PremiumFrequency.QUARTERLY,
    InsurancePolicy.PremiumFrequency.YEARLY,
], [80, 5, 15])
# Client ages: advisory books lean towards the middle-aged, who own homes and build pensions.
AGE_BANDS = _Weighted(
    [(18, 24), (25, 34), (35, 44), (45, 54), (55, 64), (65, 74), (75, 90)], [4, 16, 20, 20, 18, 13, 9],
)
GENDERS = _Weighted([Gender.FEMALE, Gender.MALE, Gender.OTHER, Gender.UNKNOWN], [49, 49, 1, 1])
CHILDREN_OF_COUPLES = _Weighted([0, 1, 2, 3], [34, 20, 32, 14])
CHILDREN_OF_SINGLES = _Weighted([0, 1, 2, 3], [55, 20, 32, 14])
MARITAL_COUPLE = _Weighted(
    [MaritalStatus.MARRIED, MaritalStatus.REGISTERED_PARTNERSHIP, MaritalStatus.COHABITING,
     MaritalStatus.UNKNOWN],
    [55, 8, 35, 2],
)
SINGLE_STATUSES = [MaritalStatus.SINGLE, MaritalStatus.DIVORCED, MaritalStatus.WIDOWED, MaritalStatus.UNKNOWN]
MARITAL_SINGLE_YOUNG = _Weighted(SINGLE_STATUSES, [90, 10, 0, 2])
MARITAL_SINGLE_MIDDLE = _Weighted(SINGLE_STATUSES, [50, 42, 8, 2])
MARITAL_SINGLE_OLD = _Weighted(SINGLE_STATUSES, [20, 30, 50, 2])
WORK_YOUNG = _Weighted([Employment.Kind.EMPLOYED, Employment.Kind.UNEMPLOYED], [60, 40])
WORK_ADULT = _Weighted(
    [Employment.Kind.EMPLOYED, Employment.Kind.SELF_EMPLOYED, Employment.Kind.UNEMPLOYED], [80, 13, 7],
)
LOAN_PART_COUNTS = _Weighted([1, 2, 3], [40, 40, 20])
FIXED_RATE_YEARS = _Weighted([1, 5, 10, 15, 20, 30], [3, 20, 45, 12, 15, 5])
CONSENTS = list(ContactPreference.Consent)  # granted, refused, unknown (not asked)
COMMERCIAL_CONSENT = _Weighted(CONSENTS, [35, 50, 15])
NEWSLETTER_CONSENT = _Weighted(CONSENTS, [45, 40, 15])
OVERDUE_AGREEMENT_STATUSES = _Weighted(
    [Agreement.Status.DONE, Agreement.Status.OPEN, Agreement.Status.CANCELLED], [70, 20, 10],
)
OLDER_COMPLAINT_STATUSES = _Weighted(
    [Complaint.Status.RESOLVED, Complaint.Status.REJECTED, Complaint.Status.OPEN,
     Complaint.Status.IN_PROGRESS],
    [60, 12, 16, 12],
)
MONTHS_PER_PREMIUM = {
    InsurancePolicy.PremiumFrequency.QUARTERLY: 3, InsurancePolicy.PremiumFrequency.YEARLY: 12,
}
# fmt: on

# --- Dutch rules of thumb -------------------------------------------------------------------------

# State pension (AOW) per year, gross, including holiday allowance (2025, rounded): a single person
# and each partner of a couple.
STATE_PENSION_SINGLE = 19_600
STATE_PENSION_PARTNER = 13_400
# Pension accrual in a typical average-pay scheme: 1.75% a year of salary above the franchise.
PENSION_FRANCHISE = 17_500
PENSION_ACCRUAL = 0.0175


def state_pension_date(birth_date: date) -> date:
    """When the state pension (AOW) starts: at 67, and at 67 and 3 months for those born from 1961.

    Only to shape the generated data (who is retired, which loans run past it); it agrees with the
    official table for everyone born from March 1957 (those born earlier reached a lower AOW age, and are
    retired either way). The rule itself is enrichment.state_pension, a later step that clients may
    not import.
    """
    start = _add_years(birth_date, 67)
    if birth_date >= date(1961, 1, 1):
        start = _add_months(start, 3)
    return start


# A typical ten-year fixed mortgage rate (%) in the Netherlands by year (before 2001: 6.4; 2001-2008: 5.0).
# fmt: off
MORTGAGE_RATES = {
    2009: 5.1, 2010: 4.9, 2011: 4.8, 2012: 4.6, 2013: 4.3, 2014: 3.6, 2015: 2.9, 2016: 2.5, 2017: 2.3,
    2018: 2.2, 2019: 1.8, 2020: 1.5, 2021: 1.4, 2022: 3.0, 2023: 4.1, 2024: 3.8,
}
# fmt: on


def _interest_rate_in(year: int) -> float:
    if year < 2001:
        return 6.4
    if year < 2009:
        return 5.0
    return MORTGAGE_RATES.get(year, 3.7)


def _nhg_limit_in(year: int) -> int:
    """The largest purchase price the National Mortgage Guarantee (NHG) covered in `year`."""
    return {2020: 310_000, 2021: 325_000, 2022: 355_000, 2023: 405_000, 2024: 435_000}.get(
        year, 265_000 if year < 2013 else 290_000 if year < 2020 else 450_000
    )


# --- Small helpers --------------------------------------------------------------------------------


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


def _add_months(day: date, months: int) -> date:
    year, month_index = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month_index + 1, min(day.day, calendar.monthrange(year, month_index + 1)[1]))


def _euros(amount: float, step: int = 1) -> Decimal:
    """A whole amount of euros, rounded to `step` (market values are rounded to thousands)."""
    return Decimal(round(amount / step) * step)


def _cents(amount: float) -> Decimal:
    return Decimal(round(amount * 100)).scaleb(-2)


def _ascii_word(text: str) -> str:
    """'Öztürk' -> 'ozturk', "'t Hart" -> 'thart': the part of a name that fits an e-mail address."""
    return "".join(char for char in normalise_search_text(text) if char.isascii() and char.isalnum())


def _months_between(start: date, end: date) -> int:
    return max((end.year - start.year) * 12 + end.month - start.month, 0)


def record_prefix(seed: int) -> str:
    """The start of every generated record id of a seed: which rows a run (and its top-up) owns."""
    return f"gen{seed}-"


# --- One batch ------------------------------------------------------------------------------------

# The models of a batch in the order they are written, each with its foreign keys that point at rows of
# the same batch (stored as positions in that model's list until the parent rows have ids).
WRITE_PLAN: list[tuple[type[models.Model], dict[str, type[models.Model]]]] = [
    (Household, {}),
    (Client, {"household_id": Household}),
    (FamilyMember, {"household_id": Household, "client_id": Client}),
    (Employment, {"client_id": Client}),
    (Income, {"client_id": Client, "employment_id": Employment}),
    (Property, {"client_id": Client}),
    (Mortgage, {"client_id": Client, "property_id": Property}),
    (LoanPart, {"mortgage_id": Mortgage}),
    (InsurancePolicy, {"client_id": Client, "property_id": Property}),
    (Pension, {"client_id": Client}),
    (Asset, {"client_id": Client}),
    (ConsumerLoan, {"client_id": Client}),
    (ContactPreference, {"client_id": Client}),
    (ContactMoment, {"client_id": Client}),
    (Agreement, {"client_id": Client}),
    (Complaint, {"client_id": Client}),
    (MissedPayment, {"client_id": Client}),
]
# Models other rows of a batch point at: their ids are needed before the children are written.
PARENT_MODELS = {parent for _, local_keys in WRITE_PLAN for parent in local_keys.values()}


class _Batch:
    """The rows of one batch, per model, as dicts of field attnames."""

    def __init__(self):
        self.rows: dict[type[models.Model], list[dict]] = {model: [] for model, _ in WRITE_PLAN}
        self.clients = 0
        self.households = 0

    def add(self, model: type[models.Model], row: dict) -> int:
        """Append a row; returns its position, which children use as a foreign key until written."""
        rows = self.rows[model]
        rows.append(row)
        return len(rows) - 1


# --- One household --------------------------------------------------------------------------------


@dataclass
class _Person:
    first_name: str
    prefix: str
    last_name: str
    gender: str
    birth_date: date
    age: int

    @property
    def surname(self) -> str:
        return f"{self.prefix} {self.last_name}".strip()

    @property
    def capitalised_surname(self) -> str:
        """'van den Berg' is written 'Van den Berg' without a first name before it."""
        surname = self.surname
        return surname[:1].upper() + surname[1:]


@dataclass
class _Home:
    position: int
    kind: str
    rebuild_value: Decimal
    purchase_date: date


@dataclass
class _ClientState:
    """What the products of one client depend on, while its household is being generated."""

    position: int
    person: _Person
    rid: str
    row: dict
    client_since: date
    advisor: Advisor | None
    income: int = 0
    wealth: int = 0
    products: list[tuple[str, str, Decimal]] = field(default_factory=list)  # (kind, reference, instalment)
    mortgage_total: int = 0
    policies: int = 0


class _HouseholdGenerator:
    """Generates one household (one or two clients, their family and products) into a batch."""

    def __init__(self, run: "_Run", batch: _Batch, number: int, max_clients: int):
        self.run = run
        self.today = run.today
        self.batch = batch
        # A stream of its own per household: same seed, same household, whatever the batch.
        self.rng = random.Random(f"{run.seed}-{number}")  # noqa: S311 - synthetic data, not secrets
        # Zero-padded so that the highest record id is the last household (see clients_generate).
        self.rid = f"{record_prefix(run.seed)}{number:09d}"
        self.max_clients = max_clients
        # The rows of one household come from one sync: last night's, after office hours.
        self.fetched_at = run.start_of_today - timedelta(minutes=self.rng.randrange(5, 6 * 60))

    # Provenance --------------------------------------------------------------------------------

    def _changed_at(self, not_before: date | None = None) -> datetime:
        """When a row last changed in its source: 72% within a year, 18% one to three years ago and
        10% three to eight years ago, so staleness rules have something to find."""
        roll = self.rng.random()
        if roll < 0.72:
            age_days = roll / 0.72 * 365
        elif roll < 0.9:
            age_days = 365 + (roll - 0.72) / 0.18 * 2 * 365
        else:
            age_days = 3 * 365 + (roll - 0.9) / 0.1 * 5 * 365
        changed = self.fetched_at - timedelta(days=age_days)
        if not_before is not None and changed.date() <= not_before:
            # Not before the thing itself happened: from the night after, within ten days.
            earliest = datetime.combine(not_before + timedelta(days=1), time(1), tzinfo=self.run.tz)
            changed = min(earliest + timedelta(hours=self.rng.random() * 240), self.fetched_at)
        return changed

    def _sourced(self, rid: str, not_before: date | None = None) -> dict:
        return {
            "source": GENERATED,
            "source_record_id": rid,
            "source_changed_at": self._changed_at(not_before),
            "fetched_at": self.fetched_at,
        }

    def _field_provenance(self, source: str, rid: str, *, max_age_days: int = 400) -> dict:
        """A per-field entry: the value came from another source than the row's record."""
        changed = self.fetched_at - timedelta(days=self.rng.uniform(1, max_age_days))
        return Provenance(source=source, record_id=rid, fetched_at=self.fetched_at, changed_at=changed).to_json()

    # People ------------------------------------------------------------------------------------

    def _birth_date(self, age: int) -> date:
        # Strictly after the day `age + 1` years ago, so the age on `today` is exactly `age`.
        return _add_years(self.today, -(age + 1)) + timedelta(days=_randint(self.rng, 1, 364))

    def _first_name(self, gender: str, birth_year: int) -> str:
        period = sum(birth_year >= start for start in NAME_PERIODS)
        male = gender == Gender.MALE or (gender != Gender.FEMALE and self.rng.random() < 0.5)
        if male:
            return _choice(self.rng, MALE_NAMES[period])
        return _choice(self.rng, FEMALE_NAMES[period])

    def _person(self, age: int, gender: str) -> _Person:
        prefix, last_name, _ = WEIGHTED_SURNAMES.pick(self.rng)
        birth_date = self._birth_date(age)
        first_name = self._first_name(gender, birth_date.year)
        return _Person(first_name, prefix, last_name, gender, birth_date, age)

    def _adult_age(self) -> int:
        rng = self.rng
        low, high = AGE_BANDS.pick(rng)
        return _randint(rng, low, high)

    def _postcode(self, city: tuple) -> str:
        rng = self.rng
        while True:
            letters = _choice(rng, POSTCODE_LETTERS) + _choice(rng, POSTCODE_LETTERS)
            if letters not in POSTCODE_SKIP:
                return f"{_randint(rng, city[1], city[2])} {letters}"

    def _address(self) -> dict:
        rng = self.rng
        city = WEIGHTED_CITIES.pick(rng)
        number = _randint(rng, 1, 40) if rng.random() < 0.7 else _randint(rng, 41, 320)
        return {
            "street": _choice(rng, STREETS),
            "house_number": str(number),
            "house_number_suffix": _choice(rng, HOUSE_NUMBER_SUFFIXES) if rng.random() < 0.08 else "",
            "postcode": self._postcode(city),
            "city": city[0],
            "_area_code": city[3],
            "_house_price": city[5] * 1000,
            "_apartment_share": city[6],
        }

    def _phone(self, area_code: str) -> str:
        """A mobile number (06) mostly, else a landline in the client's own area code; E.164."""
        rng = self.rng
        if rng.random() < 0.82:
            return f"+316{_randint(rng, 1, 5)}{rng.randrange(10**7):07d}"
        digits = 9 - len(area_code)
        return f"+31{area_code}{rng.randrange(2 * 10 ** (digits - 1), 10**digits)}"

    def _email(self, person: _Person) -> str:
        rng = self.rng
        first, last = _ascii_word(person.first_name), _ascii_word(person.surname)
        local = _choice(
            rng,
            [
                f"{first}.{last}",
                f"{first[0]}{last}",
                f"{first}{last}",
                f"{first}.{last}{person.birth_date.year % 100:02d}",
            ],
        )
        return f"{local}@{_choice(rng, EMAIL_DOMAINS)}"

    def _education(self, age: int) -> str:
        return (EDUCATION_OLDER if age >= 50 else EDUCATION_YOUNGER).pick(self.rng)

    def generate(self) -> int:
        """Write this household's rows into the batch; returns the number of clients it holds."""
        rng, today = self.rng, self.today
        couple = rng.random() < 0.62
        # Drawn whatever the room left, so that the rest of the household's stream does not depend on it.
        partner_is_client = rng.random() < 0.45
        both_clients = couple and partner_is_client and self.max_clients >= 2
        primary_age = self._adult_age()
        primary_gender = GENDERS.pick(rng)
        primary = self._person(primary_age, primary_gender)
        partner = None
        if couple:
            partner_age = min(max(primary_age + round(rng.gauss(0, 3)), 18), 90)
            opposite = {Gender.FEMALE: Gender.MALE, Gender.MALE: Gender.FEMALE}.get(primary_gender, Gender.UNKNOWN)
            partner = self._person(partner_age, opposite if rng.random() < 0.95 else primary_gender)

        address = self._address()
        region = region_of_postcode(address["postcode"])
        book = self.run.books[region]
        advisor = _choice(rng, book.advisors) if book.advisors else None

        if partner is None:
            name = f"Household {primary.capitalised_surname}"
        else:
            name = f"Household {primary.capitalised_surname}-{partner.capitalised_surname}"
        household = self.batch.add(Household, {"name": name, **self._sourced(self.rid)})

        # Children: most of them born when the parents were between 24 and 40.
        children = []
        if primary_age >= 22:
            for _ in range((CHILDREN_OF_COUPLES if couple else CHILDREN_OF_SINGLES).pick(rng)):
                child_age = primary_age - _randint(rng, 22, 42)
                if child_age >= 0:
                    children.append(child_age)

        client_since = today - timedelta(days=_randint(rng, 30, min(30 * 365, (primary_age - 18) * 365 + 30)))
        marital = self._marital_status(couple, primary_age)
        states = [self._client(primary, household, address, book, advisor, client_since, marital, 1)]
        if partner is not None and both_clients:
            partner_since = client_since + timedelta(days=_choice(rng, [0, 0, 0, _randint(rng, 1, 900)]))
            partner_since = max(partner_since, _add_years(partner.birth_date, 18))
            partner_since = min(partner_since, today - timedelta(days=1))
            states.append(self._client(partner, household, address, book, advisor, partner_since, marital, 2))

        # Family: the partner (who may be a client too) and the children.
        if partner is not None:
            self.batch.add(
                FamilyMember,
                {
                    "household_id": household,
                    "relation": FamilyMember.Relation.PARTNER,
                    "first_name": partner.first_name,
                    "last_name": partner.surname,
                    "birth_date": partner.birth_date,
                    "lives_at_home": True,
                    "client_id": states[1].position if both_clients else None,
                    **self._sourced(f"{self.rid}-partner"),
                },
            )
        for index, child_age in enumerate(sorted(children, reverse=True), start=1):
            gender = _choice(rng, [Gender.FEMALE, Gender.MALE])
            birth_date = self._birth_date(child_age)
            at_home = child_age < 18 or (child_age < 25 and rng.random() < 0.7) or rng.random() < 0.05
            self.batch.add(
                FamilyMember,
                {
                    "household_id": household,
                    "relation": FamilyMember.Relation.CHILD,
                    "first_name": self._first_name(gender, birth_date.year),
                    "last_name": primary.surname,
                    "birth_date": birth_date,
                    "lives_at_home": at_home,
                    **self._sourced(f"{self.rid}-child{index}", birth_date),
                },
            )
        if rng.random() < 0.01:  # a parent who moved in
            parent_age = min(primary_age + _randint(rng, 24, 34), 100)
            self.batch.add(
                FamilyMember,
                {
                    "household_id": household,
                    "relation": FamilyMember.Relation.OTHER,
                    "first_name": self._first_name(_choice(rng, [Gender.FEMALE, Gender.MALE]), today.year - parent_age),
                    "last_name": primary.surname,
                    "birth_date": self._birth_date(parent_age),
                    "lives_at_home": True,
                    **self._sourced(f"{self.rid}-other1"),
                },
            )

        dependants = bool(partner) or any(age < 25 for age in children)
        for state in states:
            self._work_income_and_pension(state, couple)
            self._savings_and_loans(state)
        owner = states[0]
        home = self._home(owner, address, couple, household_income=sum(s.income for s in states))
        self._household_policies(owner, states, home, dependants)
        for state in states:
            self._segment(state)
            self._relationship(state)
        return len(states)

    def _marital_status(self, couple: bool, age: int) -> str:
        rng = self.rng
        if couple:
            return MARITAL_COUPLE.pick(rng)
        if age < 35:
            return MARITAL_SINGLE_YOUNG.pick(rng)
        return (MARITAL_SINGLE_MIDDLE if age < 65 else MARITAL_SINGLE_OLD).pick(rng)

    def _client(self, person, household, address, book, advisor, client_since, marital, number) -> _ClientState:
        rng = self.rng
        rid = f"{self.rid}-{number}"
        second_initial = _choice(rng, "JMACHPWGE") + "." if rng.random() < 0.55 else ""
        row = {
            "first_name": person.first_name,
            "initials": f"{person.first_name[0]}.{second_initial}",
            "last_name_prefix": person.prefix,
            "last_name": person.last_name,
            "birth_date": person.birth_date,
            "gender": person.gender,
            "education_level": self._education(person.age),
            "marital_status": marital,
            "email": self._email(person) if rng.random() < 0.95 else "",
            "phone": self._phone(address["_area_code"]) if rng.random() < 0.93 else "",
            "street": address["street"],
            "house_number": address["house_number"],
            "house_number_suffix": address["house_number_suffix"],
            "postcode": address["postcode"],
            "city": address["city"],
            "household_id": household,
            "advisor_id": advisor.id if advisor else None,
            "team_id": book.team_id,
            "client_since": client_since,
            # bulk inserts skip Client.save(), which fills this; the same normalisation.
            "search_name": normalise_search_text(f"{person.first_name} {person.prefix} {person.last_name}"),
            **self._sourced(rid, client_since),
        }
        # Some contact details were confirmed by the client or corrected by an advisor since the sync.
        provenance = {}
        if row["email"] and rng.random() < 0.04:
            provenance["email"] = self._field_provenance(CLIENT, f"confirmation-{rid}")
        if row["phone"] and rng.random() < 0.03:
            provenance["phone"] = self._field_provenance(MANUAL, "")
        row["provenance"] = provenance
        position = self.batch.add(Client, row)
        self.batch.clients += 1
        return _ClientState(position, person, rid, row, client_since, advisor)

    # Work, income and pension -------------------------------------------------------------------

    def _work_income_and_pension(self, state: _ClientState, couple: bool) -> None:
        rng, today, person = self.rng, self.today, state.person
        age = person.age
        aow_date = state_pension_date(person.birth_date)
        state_pension = STATE_PENSION_PARTNER if couple else STATE_PENSION_SINGLE
        education = state.row["education_level"]

        if aow_date <= today or (age >= 62 and rng.random() < 0.15):
            self._retired(state, aow_date, state_pension, early=aow_date > today)
            return
        kind = (WORK_YOUNG if age <= 22 else WORK_ADULT).pick(rng)
        career_start_age = _randint(rng, 19, 27) + (_randint(rng, 4, 12) if rng.random() < 0.15 else 0)
        years_worked = max(age - career_start_age, 0)
        years_total = max(67 - career_start_age, 1)

        if kind == Employment.Kind.EMPLOYED:
            sector = WEIGHTED_SECTORS.pick(rng)
            tenure_years = rng.uniform(0.2, max(min(age - 18, 25), 0.5))
            start = today - timedelta(days=int(tenure_years * 365))
            employer = _choice(rng, sector.employers).format(
                city=state.row["city"], last_name=person.capitalised_surname
            )
            employment = self._employment(state, kind, employer, _choice(rng, sector.jobs), start, tenure_years)
            salary = SALARY_BY_EDUCATION[education] * sector.salary_factor * rng.lognormvariate(0, 0.28)
            salary *= 0.35 if age <= 22 else 0.75 if age < 28 else 0.9 if age < 35 else 1.0
            part_time_share = 0.45 if person.gender == Gender.FEMALE else 0.12
            if rng.random() < part_time_share:
                salary *= rng.uniform(0.5, 0.9)
            state.income = round(salary)
            self._income(state, Income.Kind.SALARY, state.income, employment)
            if years_worked > 0 and rng.random() < 0.9:  # about one in ten employees accrues no pension
                pensionable = max(salary - PENSION_FRANCHISE, 0)
                accrued = pensionable * PENSION_ACCRUAL * years_worked * rng.uniform(0.65, 0.95)
                projected = accrued + pensionable * PENSION_ACCRUAL * max(years_total - years_worked, 0)
                self._pension(
                    state,
                    Pension.Kind.EMPLOYER,
                    _choice(rng, sector.pension_funds),
                    accrued,
                    projected,
                    aow_date,
                )
            if years_worked > 8 and rng.random() < 0.3:  # rights left behind at an earlier employer
                dormant = rng.uniform(800, 6000)
                other_fund = _choice(rng, _choice(rng, SECTORS).pension_funds)
                self._pension(state, Pension.Kind.EMPLOYER, other_fund, dormant, dormant, aow_date, "dormant")
        elif kind == Employment.Kind.SELF_EMPLOYED:
            business, job = _choice(rng, TRADES)
            business = business.format(
                last_name=person.capitalised_surname, city=state.row["city"], first_name=person.first_name
            )
            tenure_years = rng.uniform(0.5, max(min(age - 22, 30), 1))
            start = today - timedelta(days=int(tenure_years * 365))
            employment = self._employment(state, kind, business, job, start, tenure_years)
            state.income = round(48_000 * rng.lognormvariate(0, 0.55))
            self._income(state, Income.Kind.BUSINESS, state.income, employment)
            if rng.random() < 0.35:  # most self-employed build little or no pension: a gap
                projected = rng.uniform(2_000, 15_000)
                accrued = projected * years_worked / years_total
                provider = _choice(rng, INDIVIDUAL_PENSION_PROVIDERS)
                self._pension(state, Pension.Kind.INDIVIDUAL, provider, accrued, projected, aow_date)
            if rng.random() < 0.35:
                state.products.append(
                    self._policy(
                        state,
                        InsurancePolicy.Kind.DISABILITY,
                        insured=_euros(state.income * rng.uniform(0.5, 0.8), 1000),
                        premium=rng.uniform(120, 450),
                        start=start,
                        end=aow_date,
                    )
                )
        else:
            start = today - timedelta(days=_randint(rng, 30, 3 * 365))
            employment = self._employment(state, kind, "", "", start, 0)
            if age > 22 and rng.random() < 0.5:
                state.income = round(rng.uniform(14_000, 26_000))
                self._income(state, Income.Kind.BENEFIT, state.income, employment)
            if years_worked > 5 and rng.random() < 0.5:
                accrued = rng.uniform(1_000, 9_000)
                fund = _choice(rng, _choice(rng, SECTORS).pension_funds)
                self._pension(state, Pension.Kind.EMPLOYER, fund, accrued, accrued, aow_date)
        if rng.random() < 0.02:
            self._income(state, Income.Kind.OTHER, round(rng.uniform(1_200, 9_000)), None)

    def _retired(self, state: _ClientState, aow_date: date, state_pension: int, *, early: bool) -> None:
        rng = self.rng
        started = aow_date if not early else self.today - timedelta(days=_randint(rng, 30, 4 * 365))
        employment = self._employment(state, Employment.Kind.RETIRED, "", "", started, 0)
        paid = rng.lognormvariate(math.log(14_000), 0.6) if rng.random() < 0.93 else 0
        if paid:
            fund = _choice(rng, _choice(rng, SECTORS).pension_funds)
            self._pension(state, Pension.Kind.EMPLOYER, fund, paid, paid, started)
            self._income(state, Income.Kind.PENSION, round(paid), employment)
        if not early:
            self._income(state, Income.Kind.BENEFIT, state_pension, employment)
        state.income = round(paid) + (state_pension if not early else 0)

    def _employment(self, state, kind, employer, job, start, tenure_years) -> int:
        rng = self.rng
        permanent = None
        if kind == Employment.Kind.EMPLOYED:
            permanent = rng.random() < (0.85 if tenure_years > 2 else 0.45)
            if state.person.age > 30 and rng.random() < 0.3:  # the previous job, ended
                earlier_end = start - timedelta(days=_randint(rng, 0, 120))
                earlier_start = earlier_end - timedelta(days=_randint(rng, 365, 8 * 365))
                sector = WEIGHTED_SECTORS.pick(rng)
                self.batch.add(
                    Employment,
                    {
                        "client_id": state.position,
                        "kind": Employment.Kind.EMPLOYED,
                        "employer": _choice(rng, sector.employers).format(
                            city=state.row["city"], last_name=state.person.capitalised_surname
                        ),
                        "job_title": _choice(rng, sector.jobs),
                        "start_date": earlier_start,
                        "end_date": earlier_end,
                        "permanent_contract": rng.random() < 0.6,
                        **self._sourced(f"{state.rid}-job0", earlier_end),
                    },
                )
        return self.batch.add(
            Employment,
            {
                "client_id": state.position,
                "kind": kind,
                "employer": employer,
                "job_title": job,
                "start_date": start,
                "end_date": None,
                "permanent_contract": permanent,
                **self._sourced(f"{state.rid}-job1", start),
            },
        )

    def _income(self, state: _ClientState, kind: str, amount: int, employment: int | None) -> None:
        rng = self.rng
        rid = f"{state.rid}-income-{kind}"
        provenance = {}
        if rng.random() < 0.1:  # the amount was corrected later, in the advisory tool or by hand
            source = _choice(rng, [ADVISORY_TOOL, ADVISORY_TOOL, MANUAL, CLIENT])
            provenance["gross_annual_amount"] = self._field_provenance(
                source, f"AT-{rng.randrange(10**6):06d}" if source == ADVISORY_TOOL else ""
            )
        self.batch.add(
            Income,
            {
                "client_id": state.position,
                "kind": kind,
                "gross_annual_amount": _euros(amount),
                "employment_id": employment,
                "provenance": provenance,
                **self._sourced(rid, state.client_since),
            },
        )

    def _pension(self, state, kind, provider, accrued, projected, retirement_date, label="") -> None:
        rng = self.rng
        provenance = {}
        if rng.random() < 0.2:  # figures refreshed from the national pension register
            provenance["projected_annual_pension"] = self._field_provenance(PENSION_REGISTER, "", max_age_days=700)
        self.batch.add(
            Pension,
            {
                "client_id": state.position,
                "kind": kind,
                "provider": provider,
                "accrued_annual_pension": _euros(accrued),
                "projected_annual_pension": _euros(max(projected, accrued)),
                "retirement_date": retirement_date,
                "provenance": provenance,
                **self._sourced(f"{state.rid}-pension-{kind}{label}"),
            },
        )

    # Savings, investments and consumer credit --------------------------------------------------

    def _savings_and_loans(self, state: _ClientState) -> None:
        rng, today, age = self.rng, self.today, state.person.age
        wealth_factor = 1 + max(age - 25, 0) / 20
        assets = []
        if rng.random() < 0.85:
            assets.append(
                (
                    Asset.Kind.SAVINGS,
                    _choice(rng, SAVINGS_BANKS),
                    6_000 * wealth_factor * rng.lognormvariate(0, 1),
                )
            )
        if rng.random() < 0.22 + (0.1 if state.income > 70_000 else 0):
            assets.append(
                (
                    Asset.Kind.INVESTMENT,
                    _choice(rng, INVESTMENT_FIRMS),
                    20_000 * wealth_factor * rng.lognormvariate(0, 1.1),
                )
            )
        if rng.random() < 0.05:  # banksparen: tax-free saving to repay the mortgage or for a pension
            assets.append(
                (
                    Asset.Kind.BANK_SAVINGS,
                    _choice(rng, SAVINGS_BANKS),
                    4_000 * wealth_factor * rng.lognormvariate(0, 0.8),
                )
            )
        if rng.random() < 0.02:
            assets.append(
                (
                    Asset.Kind.OTHER,
                    _choice(rng, OTHER_ASSETS),
                    rng.uniform(500, 30_000),
                )
            )
        for index, (kind, institution, balance) in enumerate(assets, start=1):
            balance_date = today - timedelta(
                days=_choice(rng, [_randint(rng, 0, 40), _randint(rng, 0, 40), _randint(rng, 40, 900)])
            )
            state.wealth += round(balance)
            self.batch.add(
                Asset,
                {
                    "client_id": state.position,
                    "kind": kind,
                    "institution": institution,
                    "balance": _cents(balance),
                    "balance_date": balance_date,
                    **self._sourced(f"{state.rid}-asset{index}", state.client_since),
                },
            )
        loans = []
        if age <= 38 and state.row["education_level"] in (EducationLevel.HBO, EducationLevel.WO) and rng.random() < 0.5:
            loans.append((ConsumerLoan.Kind.STUDENT, rng.uniform(8_000, 45_000), 0.004, 35))
        if rng.random() < 0.05:
            loans.append((ConsumerLoan.Kind.PERSONAL, rng.uniform(3_000, 30_000), 0.02, _randint(rng, 1, 7)))
        if rng.random() < 0.05:
            loans.append((ConsumerLoan.Kind.REVOLVING, rng.uniform(1_000, 15_000), 0.02, None))
        if rng.random() < 0.06 and age < 75:
            loans.append((ConsumerLoan.Kind.CAR, rng.uniform(6_000, 35_000), 0.022, _randint(rng, 1, 5)))
        for index, (kind, balance, monthly_share, years_left) in enumerate(loans, start=1):
            monthly = _cents(max(balance * monthly_share, 25))
            lender = _choice(rng, CONSUMER_LENDERS[kind])
            self.batch.add(
                ConsumerLoan,
                {
                    "client_id": state.position,
                    "kind": kind,
                    "lender": lender,
                    "outstanding_balance": _cents(balance),
                    "monthly_payment": monthly,
                    "end_date": _add_years(today, years_left) - timedelta(days=_randint(rng, 0, 300))
                    if years_left
                    else None,
                    **self._sourced(f"{state.rid}-loan{index}", state.client_since),
                },
            )
            if kind != ConsumerLoan.Kind.STUDENT:
                state.products.append((MissedPayment.Product.LOAN, f"{lender} {kind}", monthly))

    # Home, mortgage and policies ---------------------------------------------------------------

    def _home(self, owner: _ClientState, address: dict, couple: bool, household_income: int) -> _Home | None:
        """The own home (and for a few a second property) with its mortgage, if the household owns."""
        rng, today, age = self.rng, self.today, owner.person.age
        chance = 0.15 if age < 25 else 0.45 if age < 35 else 0.7 if age < 65 else 0.6
        chance += 0.15 if couple else -0.15
        if rng.random() >= chance:
            return None
        apartment = rng.random() < address["_apartment_share"]
        market_value = address["_house_price"] * (0.75 if apartment else 1.1) * rng.lognormvariate(0, 0.25)
        market_value *= 1 + min(household_income, 200_000) / 400_000
        years_owned = _randint(rng, 0, max(min(35, age - 23), 0))
        purchase_date = today - timedelta(days=years_owned * 365 + _randint(rng, 10, 360))
        purchase_price = market_value / (1.045**years_owned)  # prices rose about 4.5% a year
        # Most homes were valued this year; for the rest the value on file is the purchase price.
        recent_valuation = rng.random() < 0.6
        rebuild_share = rng.uniform(0.45, 0.7) if apartment else rng.uniform(0.55, 0.9)
        home = {
            "client_id": owner.position,
            "kind": Property.Kind.APARTMENT if apartment else Property.Kind.HOUSE,
            "street": address["street"],
            "house_number": f"{address['house_number']}{address['house_number_suffix']}",
            "postcode": address["postcode"],
            "city": address["city"],
            "is_primary_residence": True,
            "market_value": _euros(market_value if recent_valuation else purchase_price, 1000),
            "market_value_date": today - timedelta(days=_randint(rng, 0, 365)) if recent_valuation else purchase_date,
            "woz_value": _euros(market_value * rng.uniform(0.82, 1.0), 1000),
            "woz_year": today.year if rng.random() < 0.75 else today.year - _randint(rng, 1, 3),
            "rebuild_value": _euros(min(max(market_value * rebuild_share, 150_000), 1_200_000), 1000),
            **self._sourced(f"{owner.rid}-home", purchase_date),
        }
        home = _Home(self.batch.add(Property, home), home["kind"], home["rebuild_value"], purchase_date)
        # A 30-year mortgage taken out more than 29 years ago is (nearly) repaid.
        if years_owned <= 29 and rng.random() < 0.9:
            self._mortgage(owner, home, purchase_price, purchase_date)
        if rng.random() < 0.04:  # a second property: a let apartment or a holiday home
            city = WEIGHTED_CITIES.pick(rng)
            value = city[5] * 1000 * rng.uniform(0.5, 1.0)
            self.batch.add(
                Property,
                {
                    "client_id": owner.position,
                    "kind": _choice(rng, [Property.Kind.APARTMENT, Property.Kind.OTHER]),
                    "street": _choice(rng, STREETS),
                    "house_number": str(_randint(rng, 1, 200)),
                    "postcode": self._postcode(city),
                    "city": city[0],
                    "is_primary_residence": False,
                    "market_value": _euros(value, 1000),
                    "market_value_date": today - timedelta(days=_randint(rng, 0, 900)),
                    "woz_value": _euros(value * 0.9, 1000),
                    "woz_year": today.year,
                    "rebuild_value": _euros(value * 0.6, 1000),
                    **self._sourced(f"{owner.rid}-property2"),
                },
            )
            self._income(owner, Income.Kind.RENTAL, round(value * rng.uniform(0.03, 0.05)), None)
        return home

    def _mortgage(self, owner: _ClientState, home: _Home, purchase_price: float, start: date) -> None:
        rng, today = self.rng, self.today
        loan_to_value = rng.uniform(0.7, 1.0) if start.year >= 2013 else rng.uniform(0.75, 1.06)
        principal_total = round(purchase_price * loan_to_value, -3)
        nhg = purchase_price <= _nhg_limit_in(start.year) and rng.random() < 0.55
        lender = _choice(rng, LENDERS)
        loan_number = f"{rng.randrange(10**7, 10**8)}"
        mortgage = self.batch.add(
            Mortgage,
            {
                "client_id": owner.position,
                "property_id": home.position,
                "lender": lender,
                "loan_number": loan_number,
                "start_date": start,
                "nhg": nhg,
                **self._sourced(f"{owner.rid}-mortgage1", start),
            },
        )
        part_count = LOAN_PART_COUNTS.pick(rng)
        if part_count == 1:
            shares = [1.0]
        elif part_count == 2:
            first = rng.uniform(0.5, 0.75)
            shares = [first, 1 - first]
        else:
            first, second = rng.uniform(0.4, 0.6), rng.uniform(0.15, 0.3)
            shares = [first, second, 1 - first - second]
        end = _add_years(start, 30)
        monthly_total = 0.0
        for number, share in enumerate(shares, start=1):
            if start.year < 2013:
                kind = REPAYMENT_BEFORE_2013.pick(rng)
            elif number > 1 and share <= 0.5 and rng.random() < 0.35:
                kind = RepaymentType.INTEREST_ONLY  # allowed since 2013 for at most half the loan
            else:
                kind = REPAYMENT_SINCE_2013.pick(rng)
            principal = round(principal_total * share, -2)
            fixed_end, period_years = self._fixed_rate_end(end)
            fixed_start = _add_years(fixed_end, -period_years) if fixed_end else start
            rate = _interest_rate_in(max(fixed_start, start).year)
            rate += {1: -0.4, 5: -0.25, 10: 0.0, 15: 0.15, 20: 0.3, 30: 0.5}.get(period_years, 0) - (0.3 if nhg else 0)
            rate = min(max(rate + rng.uniform(-0.25, 0.25), 0.5), 9.0)
            months = _months_between(start, today)
            monthly_rate = rate / 1200
            # Floats for the annuity formula; amounts are rounded to cents when stored.
            if kind == RepaymentType.ANNUITY:
                growth, elapsed = (1 + monthly_rate) ** 360, (1 + monthly_rate) ** min(months, 360)
                outstanding = principal * (growth - elapsed) / (growth - 1)
                monthly = principal * monthly_rate * growth / (growth - 1)
            elif kind == RepaymentType.LINEAR:
                outstanding = principal * max(1 - months / 360, 0)
                monthly = principal / 360 + outstanding * monthly_rate
            else:
                outstanding = principal
                monthly = principal * monthly_rate
            if rng.random() < 0.15:  # paid off extra, penalty-free up to 10% a year
                outstanding *= rng.uniform(0.85, 0.98)
            monthly_total += monthly
            part_rid = f"{owner.rid}-mortgage1-part{number}"
            self.batch.add(
                LoanPart,
                {
                    "mortgage_id": mortgage,
                    "part_number": number,
                    "repayment_type": kind,
                    "principal": _euros(principal),
                    "outstanding_balance": _cents(outstanding),
                    "interest_rate": Decimal(round(rate * 1000)).scaleb(-3),
                    "fixed_rate_end_date": fixed_end,
                    "end_date": end,
                    **self._sourced(part_rid, start),
                },
            )
            if kind in (RepaymentType.SAVINGS, RepaymentType.INVESTMENT):
                # The capital builds up in a linked life policy that repays the part at the end.
                self._policy(
                    owner,
                    InsurancePolicy.Kind.LIFE,
                    insured=_euros(principal),
                    premium=principal * 0.0025,
                    start=start,
                    end=end,
                    reference=f"{loan_number}-{number}",
                )
        owner.mortgage_total += int(principal_total)
        owner.products.append((MissedPayment.Product.MORTGAGE, loan_number, _cents(monthly_total)))

    def _fixed_rate_end(self, end: date) -> tuple[date | None, int]:
        """When the fixed rate ends, and the period's length in years.

        Spread over the coming years, with a share ending within 14 days and within six months so
        that the renewal alerts have work on any day the demo is opened.
        """
        rng, today = self.rng, self.today
        roll = rng.random()
        if roll < 0.03:
            return None, 0  # variable rate
        if roll < 0.08:
            days = _randint(rng, 1, 14)
        elif roll < 0.18:
            days = _randint(rng, 15, 183)
        else:
            days = _randint(rng, 184, 20 * 365)
        fixed_end = min(today + timedelta(days=days), end)
        # A period long enough to have started by today: one ending in 12 years was fixed for 15 or more.
        while (period := FIXED_RATE_YEARS.pick(rng)) * 365 < (fixed_end - today).days:
            pass
        return fixed_end, period

    def _policy(
        self,
        state,
        kind,
        *,
        insured,
        premium,
        start,
        end=None,
        property_position=None,
        frequency=None,
        reference=None,
    ) -> tuple[str, str, Decimal]:
        rng = self.rng
        number = reference or f"{_choice(rng, 'ABCDKLPRVW')}{rng.randrange(10**8):08d}"
        state.policies += 1
        frequency = frequency or PREMIUM_FREQUENCIES.pick(rng)
        premium_amount = _cents(premium * MONTHS_PER_PREMIUM.get(frequency, 1))
        self.batch.add(
            InsurancePolicy,
            {
                "client_id": state.position,
                "kind": kind,
                "insurer": _choice(rng, INSURERS[kind]),
                "policy_number": number,
                "insured_amount": insured,
                "premium": premium_amount,
                "premium_frequency": frequency,
                "start_date": start,
                "end_date": end,
                "property_id": property_position,
                **self._sourced(f"{state.rid}-policy{state.policies}", start),
            },
        )
        return (MissedPayment.Product.INSURANCE, number, _cents(premium))

    def _household_policies(self, owner, states, home: _Home | None, dependants: bool) -> None:
        rng, today = self.rng, self.today
        since = owner.client_since

        def started(earliest: date) -> date:
            span = max((today - earliest).days, 1)
            return earliest + timedelta(days=rng.randrange(span))

        if home is not None:
            if home.kind == Property.Kind.HOUSE and rng.random() < 0.97:
                # Apartments are insured by the owners' association (VvE), houses by the owner. About
                # one house in seven is insured below its rebuild value: the sum was never updated.
                rebuild = float(home.rebuild_value)
                factor = rng.uniform(0.55, 0.9) if rng.random() < 0.15 else rng.uniform(1.0, 1.1)
                owner.products.append(
                    self._policy(
                        owner,
                        InsurancePolicy.Kind.HOME,
                        insured=_euros(rebuild * factor, 1000),
                        premium=rng.uniform(14, 45),
                        start=max(home.purchase_date, since),
                        property_position=home.position,
                    )
                )
            # Most lenders ask for term life cover; some households with dependants never took it.
            if owner.mortgage_total and rng.random() < (0.8 if dependants else 0.5):
                covered = owner.mortgage_total * rng.uniform(0.5, 1.0)
                owner.products.append(
                    self._policy(
                        owner,
                        InsurancePolicy.Kind.TERM_LIFE,
                        insured=_euros(covered, 1000),
                        premium=rng.uniform(8, 60),
                        start=home.purchase_date,
                        end=_add_years(home.purchase_date, 30),
                    )
                )
        if rng.random() < 0.85:
            owner.products.append(
                self._policy(
                    owner,
                    InsurancePolicy.Kind.CONTENTS,
                    insured=_euros(rng.uniform(35_000, 120_000), 1000),
                    premium=rng.uniform(8, 30),
                    start=started(since),
                    property_position=home.position if home else None,
                )
            )
        if rng.random() < 0.92:
            owner.products.append(
                self._policy(
                    owner,
                    InsurancePolicy.Kind.LIABILITY,
                    insured=Decimal(_choice(rng, [1_250_000, 2_500_000])),
                    premium=rng.uniform(3, 9),
                    start=started(since),
                )
            )
        if rng.random() < 0.4:
            self._policy(
                owner,
                InsurancePolicy.Kind.TRAVEL,
                insured=None,
                premium=rng.uniform(3, 12),
                start=started(since),
                frequency=InsurancePolicy.PremiumFrequency.YEARLY,
            )
        for state in states:
            if rng.random() < (0.7 if state is owner else 0.35) and state.person.age < 85:
                state.products.append(
                    self._policy(
                        state,
                        InsurancePolicy.Kind.CAR,
                        insured=None,
                        premium=rng.uniform(30, 110),
                        start=started(state.client_since),
                    )
                )
            if rng.random() < (0.45 if state.person.age >= 50 else 0.15):
                single = rng.random() < 0.1
                self._policy(
                    state,
                    InsurancePolicy.Kind.FUNERAL,
                    insured=_euros(rng.uniform(5_000, 12_000), 500),
                    premium=rng.uniform(1_500, 6_000) if single else rng.uniform(8, 30),
                    start=started(state.client_since),
                    frequency=InsurancePolicy.PremiumFrequency.SINGLE if single else None,
                )
            if state.person.age >= 55 and rng.random() < 0.05:
                self._policy(
                    state,
                    InsurancePolicy.Kind.LIFE,
                    insured=_euros(rng.uniform(10_000, 100_000), 1000),
                    premium=rng.uniform(20, 120),
                    start=started(state.client_since),
                    end=_add_years(today, _randint(rng, 1, 15)),
                )

    # The relationship: consent, contact history, agreements, complaints, missed payments --------

    def _relationship(self, state: _ClientState) -> None:
        rng, today, tz = self.rng, self.today, self.run.tz
        # Nothing happens on the reference day itself, which may still be in the morning.
        yesterday = today - timedelta(days=1)
        row = state.row
        since = min(state.client_since, yesterday)

        def moment(day: date) -> datetime:
            return datetime.combine(day, time(_randint(rng, 8, 17), 15 * _randint(rng, 0, 3)), tzinfo=tz)

        def between(first: date, last: date) -> date:
            return first + timedelta(days=_randint(rng, 0, max((last - first).days, 0)))

        # Consent per purpose and channel (GDPR), exactly one preferred channel among those granted.
        # A purpose and channel without a row has not been asked about.
        granted = ContactPreference.Consent.GRANTED
        refused = ContactPreference.Consent.REFUSED
        preferences: dict[tuple[str, str], str] = {}
        if row["email"]:
            preferences[Purpose.SERVICE, Channel.EMAIL] = granted
            if rng.random() < 0.9:
                preferences[Purpose.ADVICE, Channel.EMAIL] = granted
            preferences[Purpose.COMMERCIAL, Channel.EMAIL] = COMMERCIAL_CONSENT.pick(rng)
            preferences[Purpose.NEWSLETTER, Channel.EMAIL] = NEWSLETTER_CONSENT.pick(rng)
        if not row["email"] or rng.random() < 0.25:
            preferences[Purpose.SERVICE, Channel.LETTER] = granted
        if row["phone"]:
            preferences[Purpose.ADVICE, Channel.PHONE] = granted if rng.random() < 0.75 else refused
            if row["phone"].startswith("+316") and rng.random() < 0.3:
                preferences[Purpose.SERVICE, _choice(rng, [Channel.WHATSAPP, Channel.SMS])] = granted
        if rng.random() < 0.55:
            preferences[Purpose.ADVICE, Channel.MEETING] = granted
        if rng.random() < 0.3:
            preferences[Purpose.SERVICE, Channel.PORTAL] = granted
        candidates = [
            key for key, consent in preferences.items() if consent == granted and key[0] != Purpose.NEWSLETTER
        ]
        channel_weight = {Channel.EMAIL: 55, Channel.PHONE: 20, Channel.WHATSAPP: 10, Channel.LETTER: 8}
        preferred = rng.choices(candidates, [channel_weight.get(channel, 5) for _, channel in candidates])[0]
        for (purpose, channel), consent in preferences.items():
            recorded = between(since, yesterday)
            self.batch.add(
                ContactPreference,
                {
                    "client_id": state.position,
                    "purpose": purpose,
                    "channel": channel,
                    "consent": consent,
                    "preferred": (purpose, channel) == preferred,
                    "recorded_at": moment(recorded),
                    **self._sourced(f"{state.rid}-consent-{purpose}-{channel}", recorded),
                },
            )

        # The last five years of contact (older history was not migrated), more of it at the higher
        # service levels, and at least one contact in the last year (the annual review), except for
        # some clients who have heard nothing for over a year and a few who never did.
        low, high = {Segment.BASIC: (1, 6), Segment.PLUS: (2, 10), Segment.PREMIUM: (4, 16)}[row["segment"]]
        count = 0 if rng.random() < 0.02 else _randint(rng, low, high)
        days_known = (yesterday - since).days
        first_day = max(since, today - timedelta(days=5 * 365))
        if days_known > 400 and rng.random() < 0.12:
            last_day = today - timedelta(days=_randint(rng, 380, min(days_known, 3 * 365)))
            first_day = min(first_day, last_day)
            days = [between(first_day, last_day) for _ in range(count)]
        else:
            days = [between(first_day, yesterday) for _ in range(count - 1)]
            days += [between(max(first_day, today - timedelta(days=330)), yesterday)] if count else []
        staff_name = state.advisor.name if state.advisor else _choice(rng, BACK_OFFICE_NAMES)
        for index, day in enumerate(sorted(days), start=1):
            channel = WEIGHTED_CONTACT_CHANNELS.pick(rng)
            by_advisor = channel in (Channel.MEETING, Channel.PHONE) or rng.random() < 0.5
            self.batch.add(
                ContactMoment,
                {
                    "client_id": state.position,
                    "occurred_at": moment(day),
                    "channel": channel,
                    "direction": ContactMoment.Direction.OUTBOUND
                    if channel == Channel.MEETING or rng.random() < 0.55
                    else ContactMoment.Direction.INBOUND,
                    "subject": _choice(rng, CONTACT_SUBJECTS[channel]),
                    "staff_member_id": state.advisor.id if state.advisor and by_advisor else None,
                    "staff_name": staff_name if by_advisor else _choice(rng, BACK_OFFICE_NAMES),
                    **self._sourced(f"{state.rid}-contact{index}", day),
                },
            )

        if rng.random() < 0.3:
            for index in range(1, _choice(rng, [1, 1, 2]) + 1):
                agreed = between(max(since, today - timedelta(days=2 * 365)), yesterday)
                due = agreed + timedelta(days=_randint(rng, 7, 90))
                status = Agreement.Status.OPEN if due >= today else OVERDUE_AGREEMENT_STATUSES.pick(rng)
                self.batch.add(
                    Agreement,
                    {
                        "client_id": state.position,
                        "description": _choice(rng, AGREEMENTS),
                        "agreed_on": agreed,
                        "due_date": due,
                        "status": status,
                        **self._sourced(f"{state.rid}-agreement{index}", agreed),
                    },
                )

        if rng.random() < 0.05:
            received = between(max(since, today - timedelta(days=3 * 365)), yesterday)
            subject, resolution = _choice(rng, COMPLAINTS)
            if (today - received).days <= 30:
                status = _choice(rng, [Complaint.Status.OPEN, Complaint.Status.IN_PROGRESS])
            else:
                status = OLDER_COMPLAINT_STATUSES.pick(rng)
            closed = status in (Complaint.Status.RESOLVED, Complaint.Status.REJECTED)
            resolved_on = min(received + timedelta(days=_randint(rng, 2, 60)), today) if closed else None
            self.batch.add(
                Complaint,
                {
                    "client_id": state.position,
                    "received_on": received,
                    "subject": subject,
                    "status": status,
                    "resolution": resolution if closed else "",
                    "resolved_on": resolved_on,
                    **self._sourced(f"{state.rid}-complaint1", received),
                },
            )

        if state.products and rng.random() < 0.05:
            product, reference, instalment = _choice(rng, state.products)
            for index in range(1, _choice(rng, [1, 1, 2, 3]) + 1):
                due = _add_months(today, -_randint(rng, 0, 11)).replace(day=1)
                paid = rng.random() < 0.6
                paid_on = min(due + timedelta(days=_randint(rng, 5, 40)), today) if paid else None
                self.batch.add(
                    MissedPayment,
                    {
                        "client_id": state.position,
                        "product": product,
                        "reference": reference,
                        "due_date": due,
                        "amount": instalment,
                        "paid_on": paid_on,
                        **self._sourced(f"{state.rid}-missed{index}", due),
                    },
                )

    def _segment(self, state: _ClientState) -> None:
        """The service level follows what the client brings in: income, savings and the mortgage."""
        score = state.income / 1000 + state.wealth / 5000 + state.mortgage_total / 20_000 + self.rng.uniform(-20, 20)
        state.row["segment"] = Segment.PREMIUM if score > 140 else Segment.PLUS if score > 80 else Segment.BASIC


# --- Writing --------------------------------------------------------------------------------------


@cache
def _columns(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _resolve_local_keys(rows: list[dict], local_keys: dict, ids: dict) -> None:
    for attname, parent in local_keys.items():
        parent_ids = ids[parent]
        for row in rows:
            position = row.get(attname)
            if position is not None:
                row[attname] = parent_ids[position]


def _write_with_bulk_create(batch: _Batch) -> None:
    """Any database: Django's bulk_create, which returns the new ids on PostgreSQL and SQLite 3.35+."""
    ids: dict[type[models.Model], list[int]] = {}
    for model, local_keys in WRITE_PLAN:
        rows = batch.rows[model]
        _resolve_local_keys(rows, local_keys, ids)
        objects = model.objects.bulk_create([model(**row) for row in rows])
        if model in PARENT_MODELS:
            ids[model] = [obj.pk for obj in objects]
            if rows and ids[model][0] is None:
                raise RuntimeError(f"{connection.vendor} does not return ids from bulk inserts")


def _write_with_copy(batch: _Batch) -> None:
    """PostgreSQL: COPY, several times faster than multi-row INSERTs at a million clients.

    Parent rows get their ids from the table's sequence first (one query per table), so children can
    be copied straight after. COPY skips the model layer, so every column is given: the row's values,
    else the field's default, and the batch's time for created_at and updated_at.

    Datetimes and JSON go as text, which the server parses: psycopg's datetime adapter costs more than
    the rest of a row, and most datetimes of a batch are the same few objects (a household's fetch
    time, the batch's creation time), so each is formatted once.
    """
    now = timezone.now()
    # id() of a datetime -> its ISO text. Safe as a key: every datetime stays referenced by its row
    # (or by `defaults`) until the batch is written, so no id is reused meanwhile.
    datetime_texts: dict[int, str] = {}
    ids: dict[type[models.Model], list[int]] = {}
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model, local_keys in WRITE_PLAN:
            rows = batch.rows[model]
            if not rows:
                ids[model] = []
                continue
            _resolve_local_keys(rows, local_keys, ids)
            fields = _columns(model)
            # bulk_create would refuse a misspelt field; COPY would silently leave it out.
            unknown_fields = set().union(*rows) - {f.attname for f in fields}
            if unknown_fields:
                raise ValueError(f"{model.__name__} has no fields {sorted(unknown_fields)}")
            defaults = {
                f.attname: now
                if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
                else f.get_default()
                for f in fields
            }
            json_attnames = [f.attname for f in fields if isinstance(f, models.JSONField)]
            datetime_attnames = [f.attname for f in fields if isinstance(f, models.DateTimeField)]
            attnames = [f.attname for f in fields]
            columns = [f.column for f in fields]
            model_ids = None
            if model in PARENT_MODELS:
                model_ids = ids_reserve(model, len(rows))
                ids[model] = model_ids
                attnames, columns = ["id", *attnames], ["id", *columns]
            values_of = itemgetter(*attnames)
            sql = f"COPY {quote(model._meta.db_table)} ({', '.join(map(quote, columns))}) FROM STDIN"
            with _logged(cursor, sql), connection.wrap_database_errors, cursor.copy(sql) as copy:
                for index, row in enumerate(rows):
                    complete = {**defaults, **row}
                    # JSON as text: COPY's text format hands it to the jsonb input as is.
                    for attname in json_attnames:
                        complete[attname] = json.dumps(complete[attname]) if complete[attname] else "{}"
                    for attname in datetime_attnames:
                        moment = complete[attname]
                        if moment is not None:
                            text = datetime_texts.get(id(moment))
                            if text is None:
                                text = datetime_texts[id(moment)] = moment.isoformat()
                            complete[attname] = text
                    if model_ids is not None:
                        complete["id"] = model_ids[index]
                    copy.write_row(values_of(complete))


def _logged(cursor, sql: str):
    """Log a COPY like any query when queries are logged (DEBUG, tests): psycopg's copy() bypasses it."""
    if connection.queries_logged and hasattr(cursor, "debug_sql"):
        return cursor.debug_sql(sql=sql)
    return contextlib.nullcontext()


def _write(batch: _Batch) -> None:
    if connection.vendor == "postgresql":
        _write_with_copy(batch)
    else:
        _write_with_bulk_create(batch)


# --- The service ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    """What every household of a run shares."""

    seed: int
    today: date
    books: Mapping[str, Book]
    tz: ZoneInfo
    start_of_today: datetime


def _generate_batch(run: _Run, first_household: int, batch_size: int, remaining: int) -> _Batch:
    """Households from number `first_household` on, until they hold `batch_size` clients (one more
    when the last is a couple) or the `remaining` clients of the run: a batch boundary never changes
    a household, only the end of the run can leave a partner out."""
    batch = _Batch()
    while batch.clients < min(batch_size, remaining):
        number = first_household + batch.households
        _HouseholdGenerator(run, batch, number, max_clients=remaining - batch.clients).generate()
        batch.households += 1
    return batch


@dataclass
class GenerationReport:
    """What a run created, how much was already there, and how long it took."""

    seed: int
    requested: int
    existing_clients: int = 0
    clients: int = 0
    households: int = 0
    rows: Counter = field(default_factory=Counter)  # model name -> rows created
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def generated_clients(seed: int) -> models.QuerySet:
    """The clients a run with `seed` generated."""
    return Client.objects.filter(source=GENERATED, source_record_id__startswith=record_prefix(seed))


def clients_generate(
    *,
    count: int,
    seed: int,
    books: Mapping[str, Book],
    today: date | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: Callable[[GenerationReport], None] | None = None,
) -> GenerationReport:
    """Make sure `count` generated clients of `seed` exist, creating the missing ones in batches.

    Clients come in households of one or two; generation goes on from the next household after those
    already present, so running it again never duplicates and a stopped run is completed. Each batch
    of about `batch_size` clients is written in its own transaction with one bulk statement per table;
    `on_batch` is called after each with the report so far. `books` maps NORTH and SOUTH to the team
    and advisors of clients living there (see `books_ensure`); `today` anchors every date.
    """
    if count < 0 or batch_size < 1:
        raise ValueError("count must be at least 0 and batch_size at least 1")
    started = stopwatch.perf_counter()
    today = today or timezone.localdate()
    tz = ZoneInfo(settings.TIME_ZONE)
    run = _Run(seed, today, books, tz, start_of_today=datetime.combine(today, time.min, tzinfo=tz).astimezone(UTC))
    report = GenerationReport(seed=seed, requested=count)
    report.existing_clients = generated_clients(seed).count()
    last_household = Household.objects.filter(
        source=GENERATED, source_record_id__startswith=record_prefix(seed)
    ).aggregate(last=Max("source_record_id"))["last"]
    next_household = int(last_household.removeprefix(record_prefix(seed))) + 1 if last_household else 0
    remaining = count - report.existing_clients
    if remaining <= 0:
        return report

    while remaining > 0:
        batch = _generate_batch(run, next_household, batch_size, remaining)
        with transaction.atomic():
            _write(batch)
        next_household += batch.households
        remaining -= batch.clients
        report.clients += batch.clients
        report.households += batch.households
        for model, rows in batch.rows.items():
            report.rows[model.__name__] += len(rows)
        report.seconds = stopwatch.perf_counter() - started
        if on_batch:
            on_batch(report)
    report.seconds = stopwatch.perf_counter() - started
    return report
