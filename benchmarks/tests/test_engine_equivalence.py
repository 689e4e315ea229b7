"""The sync engine's fast paths agree with the plain code they stand in for, and the baseline is fair.

Speeding up the engine for the benchmarks' targets replaced some plain code with faster code that
must give the same answers: compiled mapping rules, matching that skips hopeless candidates, a fast
name normalisation. Each is checked here against the plain version, over generated inputs. And the
one-save()-per-row baseline the benchmarks compare against must write what the engine writes.
"""

import string
from datetime import date

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.database import rolled_back
from benchmarks.naive import record_save_one_by_one
from clients.models import Client, LoanPart
from clients.search import normalise_search_text
from ingestion.demo import ADVISORY_MAPPINGS, CRM_MAPPINGS, crm_source_configure
from ingestion.fake_sources.generator import dutch_contacts
from ingestion.fake_sources.hubspot import FakeHubSpot
from ingestion.fake_sources.server import running
from ingestion.mapping import (
    MISSING,
    MappingError,
    MappingRule,
    compile_rules,
    field_value_check,
    map_record,
    read_path,
    storable_text,
    to_json_value,
    transform_value,
)
from ingestion.matching import BirthDateBlock, Person, best_match, best_match_among, normalised_name
from ingestion.services.sync import connector_for, mapping_rules, source_sync


def map_record_plainly(data, rules):
    """The mapping as it read before rules were compiled: one rule, one value at a time."""
    values = {}
    for rule in rules:
        raw = rule.argument if rule.transform == "constant" else read_path(data, rule.source_path)
        if raw is MISSING or raw is None or (isinstance(raw, str) and not raw.strip()):
            if rule.required:
                raise MappingError(f"{rule.target}: required field {rule.source_path!r} is missing")
            continue
        try:
            value = field_value_check(rule.target, transform_value(raw, rule.transform, rule.argument))
        except ValidationError as error:
            raise MappingError(f"{rule.target}: {' '.join(error.messages)} (got {str(raw)[:60]!r})") from error
        except (ValueError, ArithmeticError, TypeError) as error:
            raise MappingError(f"{rule.target}: {error or 'unreadable value'} (got {str(raw)[:60]!r})") from error
        if isinstance(value, str) and not storable_text(value):  # what PostgreSQL cannot store quarantines
            raise MappingError(f"{rule.target}: text with invalid Unicode or a NUL character (got {value[:60]!r})")
        if value is not None and value != "":
            values[rule.target] = to_json_value(value)
    return values


def outcome(function, data, rules):
    try:
        return function(data, rules)
    except MappingError as error:
        return ("quarantined", error.reason)


RULES = [MappingRule(path, target, transform, argument) for path, target, transform, argument in CRM_MAPPINGS]
ADVISORY_RULES = [MappingRule(path, target, transform, arg) for path, target, transform, arg in ADVISORY_MAPPINGS]
ODD_VALUES = st.one_of(
    st.sampled_from(
        ["", " ", "ABCDE", "31-31-1980", "1.000", "1.000,50", "38.000,00", "-5", "12,5", "x@", "ja", "0612345678"]
    ),
    st.sampled_from(["+31 6 12345678", "+31 6 9999", "06-12345678", "1011 ab", "van den Berg", "El Amrani"]),
    st.text(max_size=12),
    st.integers(-(10**6), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


@pytest.mark.parametrize("birth_date", [10**17, 10**20, -(10**20), "100000000000000000000", 1e300, float("inf")])
def test_a_date_in_epoch_milliseconds_beyond_any_calendar_is_quarantined_with_its_reason(birth_date):
    # Python says ValueError (10**17 ms: year 3 million), OverflowError (1e300) or, where the C library
    # says EOVERFLOW (10**20 ms), OSError: each is the record's mistake, never the sync's.
    data = {**dutch_contacts(1, seed=3)[0], "date_of_birth": birth_date}
    for rules in (compile_rules(tuple(RULES)), RULES):
        status, reason = outcome(map_record, data, rules)
        assert status == "quarantined" and reason.startswith("client.birth_date:")


@settings(max_examples=300, deadline=None)
@given(
    contact=st.sampled_from(dutch_contacts(40, seed=3)),
    changes=st.dictionaries(st.sampled_from([rule.source_path for rule in RULES]), ODD_VALUES, max_size=3),
)
def test_compiled_rules_read_every_record_as_the_plain_mapping_does(contact, changes):
    data = {**contact, **changes}
    assert outcome(map_record, data, compile_rules(tuple(RULES))) == outcome(map_record_plainly, data, RULES)
    # Twice: the second time the remembered checks answer.
    assert outcome(map_record, data, RULES) == outcome(map_record_plainly, data, RULES)


@settings(max_examples=100, deadline=None)
@given(
    amount=st.one_of(st.sampled_from(["1.000", "1.000,50", "245.000,00", "12,5", "-3"]), st.text(max_size=8)),
    day=st.one_of(st.sampled_from(["01-12-2026", "31-31-2026", "2026-12-01"]), st.text(max_size=10)),
)
def test_compiled_rules_read_nested_dutch_records_as_the_plain_mapping_does(amount, day):
    data = {"voornaam": "Sanne", "bruto_jaarinkomen": amount, "hypotheek": {"rentevast_tot": day}}
    assert outcome(map_record, data, ADVISORY_RULES) == outcome(map_record_plainly, data, ADVISORY_RULES)


people = st.builds(
    Person,
    first_name=st.sampled_from(["Sanne", "Sanna", "Jan", "Zoë", "", "Anne-Marie"]),
    last_name_prefix=st.sampled_from(["", "van den", "de"]),
    last_name=st.sampled_from(["Jansen", "Janssen", "Berg", "", "Bäcker"]),
    birth_date=st.sampled_from([None, date(1980, 3, 12), date(1980, 12, 3), date(1981, 3, 12)]),
    postcode=st.sampled_from(["", "3511 AB", "3511AB", "1011 AA"]),
)


class Stored:
    """A stored client as matching reads it."""

    def __init__(self, pk, person):
        self.pk = pk
        self.first_name, self.last_name_prefix, self.last_name = (
            person.first_name,
            person.last_name_prefix,
            person.last_name,
        )
        self.birth_date, self.postcode, self.email = person.birth_date, person.postcode, person.email


@settings(max_examples=500, deadline=None)
@given(record=people, candidates=st.lists(people, max_size=6))
def test_matching_that_skips_hopeless_candidates_finds_whom_best_match_finds(record, candidates):
    clients = [Stored(pk, person) for pk, person in enumerate(candidates, start=1)]
    expected = best_match(record, clients)
    found = best_match_among(record, [(client, Person.from_client(client)) for client in clients], floor=70)
    if expected is None or expected[1].score < 70:
        assert found is None or found[1].score < 70
    else:
        assert found[0] is expected[0] and found[1] == expected[1]


@settings(max_examples=500, deadline=None)
@given(record=people, candidates=st.lists(people, max_size=8))
def test_a_birth_date_block_passes_on_everyone_who_can_reach_review(record, candidates):
    # What the sync does: of the clients of the record's birth date, only `alike` ones are scored
    # (rapidfuzz drops the rest in C); those of its postcode all are. The outcome must not change.
    clients = [Stored(pk, person) for pk, person in enumerate(candidates, start=1)]
    people_of = [(client, Person.from_client(client)) for client in clients]
    of_birth_date = [pair for pair in people_of if record.birth_date and pair[1].birth_date == record.birth_date]
    of_postcode = [pair for pair in people_of if record.postcode and pair[1].postcode == record.postcode]
    block = BirthDateBlock()
    for client, person in of_birth_date:
        block.add((client, person), person.name, person.postcode)
    alike = [block.items[position] for position in block.alike(record)]
    everyone = {client.pk: (client, person) for client, person in [*of_birth_date, *of_postcode]}
    passed = {client.pk: (client, person) for client, person in [*alike, *of_postcode]}
    expected = best_match_among(record, everyone.values(), floor=70)
    found = best_match_among(record, passed.values(), floor=70)
    if expected is None or expected[1].score < 70:  # a new client either way
        assert found is None or found[1].score < 70
    else:
        assert (found[0].pk, found[1]) == (expected[0].pk, expected[1])


@given(st.text(alphabet=string.printable + "ÀÉëïöüßçñØæŒﬁ\u0301\u00a0\u2003", max_size=30))
def test_the_fast_name_normalisation_is_normalise_search_text(text):
    assert normalised_name(text) == normalise_search_text(text)


def unified_view():
    """What the engine and the baseline must agree on, by record: the client, its income and loan part."""
    view = {}
    for client in Client.objects.exclude(source="generated").prefetch_related("incomes", "mortgages__loan_parts"):
        income = [income.gross_annual_amount for income in client.incomes.all()]
        parts = [part.fixed_rate_end_date for mortgage in client.mortgages.all() for part in mortgage.loan_parts.all()]
        fields = ("first_name", "last_name_prefix", "last_name", "email", "phone", "birth_date", "postcode", "city")
        view[client.source_record_id] = (
            *(getattr(client, name) for name in fields),
            client.search_name,
            client.deleted_at,
            sorted(client.provenance),
            income,
            parts,
        )
    return view


@pytest.mark.django_db
def test_the_one_save_per_row_baseline_writes_what_the_engine_writes(team, settings):
    settings.STEWARD_AFTER_SYNC_TASKS = []
    server = FakeHubSpot(dutch_contacts(30, seed=8))
    with running(server) as base_url:
        source = crm_source_configure(base_url=base_url, team=team)
        with rolled_back():
            source_sync(source_id=source.pk)
            by_engine = unified_view()
        connector = connector_for(source)
        with rolled_back():
            page, cursor = None, None
            while page is None or cursor:
                page = connector.fetch_page(cursor, None)
                for record in page.records:
                    record_save_one_by_one(source=source, record=record, rules=mapping_rules(source), now=page_now())
                cursor = page.next_cursor
            by_baseline = unified_view()
        connector.close()
    assert len(by_engine) == 30
    assert by_baseline == by_engine
    assert LoanPart.objects.count() == 0  # both rolled back


def page_now():
    from django.utils import timezone

    return timezone.now()
