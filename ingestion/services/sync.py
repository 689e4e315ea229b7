"""The sync engine: pull a source page by page into the unified client view.

Pages are applied in batches of about RECORDS_PER_BATCH records (twenty of HubSpot's pages): each
batch is one transaction that writes its records, the unified view of the clients they touch, the
quarantine and the resume cursor of its last page together. A worker killed mid-sync therefore
resumes exactly after the last committed batch, and running a sync twice changes nothing the second
time (records whose content hash did not change are skipped).

Why batches and not pages: the work per transaction is nearly constant (a dozen statements), so a
hundred records a transaction spent most of the time on round trips. Why a background thread: pages
are fetched over HTTP while the previous batch is written. Memory stays bounded by the batch and
the pages fetched ahead, whatever the size of the source or of the book.
"""

import hashlib
import json
import logging
import queue
import threading
import uuid
from collections import defaultdict, namedtuple
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DataError, IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from clients.bulk import EqualsAny, collector_relaxed, rows_insert, rows_update
from clients.models import Client
from clients.search import normalise_search_text
from trust.privacy_bsn import source_values_for_hash, source_values_protect

from .. import connectors
from ..connectors.base import (
    AuthenticationFailed,
    ConfigurationError,
    Page,
    PermanentSourceError,
    QuotaExhausted,
    RateLimited,
    SourceError,
    TransientSourceError,
)
from ..connectors.base import (
    SourceRecord as FetchedRecord,
)
from ..mapping import CompiledRules, MappingError, MappingRule, compile_rules, map_record
from ..matching import (
    EMAIL_LINK_THRESHOLD,
    EMAIL_NAME_SIMILARITY,
    LINK_THRESHOLD,
    REVIEW_THRESHOLD,
    BirthDateBlock,
    Person,
    best_match_among,
    name_similarity,
    normalised_name,
)
from ..models import MatchCandidate, QuarantinedRecord, Source, SourceRecord, SyncRun
from .quarantine import quarantine_resolve_landed, quarantine_store
from .recompute import (
    FreshClient,
    RecordFacts,
    fresh_client_resolve,
    fresh_clients_insert,
    precedence_rules,
    search_text,
    unified_view_recompute,
    unified_view_write,
)

logger = logging.getLogger(__name__)

# A run whose worker died holds the lock until it is this old without a page committed.
LOCK_STALE_AFTER = timedelta(minutes=10)
# Sources index changes with a lag (HubSpot's search a few seconds): re-read a little before the
# watermark. Records read twice are unchanged and cost nothing.
WATERMARK_OVERLAP = timedelta(minutes=5)


# Records per transaction: large enough that round trips stop mattering (a batch costs about a
# dozen statements, whatever its size), small enough to keep memory and lock times modest.
RECORDS_PER_BATCH = 2000
# Pages the fetching thread may run ahead of the batch being written.
PAGES_AHEAD = 30

MATCH_FIELDS = ("pk", "first_name", "last_name_prefix", "last_name", "birth_date", "postcode", "email")
# What matching reads of a client, with its normalised name: a tuple that scores as a `Person`
# would (same birth_date, postcode and name), since a model instance, or even a Person, per
# candidate costs more than scoring it.
ClientFacts = namedtuple("ClientFacts", [*MATCH_FIELDS, "name"])


def _client_facts(values: tuple) -> ClientFacts:
    return ClientFacts(*values, normalised_name(f"{values[1]} {values[2]} {values[3]}"))


# --- Locking --------------------------------------------------------------------------------------


def source_lock_acquire(*, source_id: int, now: datetime | None = None) -> str | None:
    """Claim the source for one run with a conditional UPDATE; None when another run holds it."""
    now = now or timezone.now()
    token = str(uuid.uuid4())
    claimed = Source.objects.filter(Q(lock_token="") | Q(locked_at__lt=now - LOCK_STALE_AFTER), pk=source_id).update(
        lock_token=token, locked_at=now
    )
    return token if claimed else None


def source_lock_release(*, source_id: int, token: str) -> None:
    Source.objects.filter(pk=source_id, lock_token=token).update(lock_token="", locked_at=None)


# --- Connectors -----------------------------------------------------------------------------------


def source_credentials(source: Source) -> dict:
    if not source.credentials:
        return {}
    try:
        return json.loads(source.credentials)
    except ValueError as error:
        raise ConfigurationError("the stored credentials are not valid JSON") from error


def connector_for(source: Source, **options):
    """The connector of this source's kind, built from its settings and decrypted credentials."""
    if source.kind == Source.Kind.FILE:
        raise ConfigurationError("file sources are imported by upload, not pulled")
    return connectors.connector_for(source.kind, source.config, source_credentials(source), **options)


# --- Applying records -----------------------------------------------------------------------------


@dataclass
class PageOutcome:
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    quarantined: int = 0
    in_review: int = 0
    high_water: datetime | None = None
    quarantine: list = field(default_factory=list)
    changed_client_ids: set = field(default_factory=set)

    def add(self, other: "PageOutcome") -> None:
        for name in ("fetched", "created", "updated", "unchanged", "deleted", "quarantined", "in_review"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.high_water and (self.high_water is None or other.high_water > self.high_water):
            self.high_water = other.high_water
        self.quarantine.extend(other.quarantine)
        self.changed_client_ids |= other.changed_client_ids


def content_hash(values: dict, archived: bool) -> str:
    # A sealed BSN counts by its blind index: its ciphertext differs on every sealing.
    payload = json.dumps({"values": source_values_for_hash(values), "archived": archived}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def mapping_rules(source: Source) -> list[MappingRule]:
    return [MappingRule.from_model(mapping) for mapping in source.mappings.all()]


def _quarantine(source: Source, run: SyncRun | None, record_id, raw, reason: str) -> QuarantinedRecord:
    try:
        # Kept as JSON only if PostgreSQL's jsonb takes it: no NUL, no lone surrogates, no NaN.
        text = json.dumps(raw, ensure_ascii=False, allow_nan=False)
        if "\\u0000" in text:
            raise ValueError("a NUL character")
        text.encode("utf-8")
        raw_json, raw_text = raw, ""
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        raw_json, raw_text = None, repr(raw)[:10000]
    return QuarantinedRecord(
        source=source,
        run=run,
        record_id=_storable(record_id or "")[:100],
        raw=raw_json,
        raw_text=raw_text,
        reason=_storable(reason),
    )


def _storable(text: str) -> str:
    """Text PostgreSQL accepts: a reason or id quoting a bad value may carry NUL or lone surrogates."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


SOURCE_RECORD_WRITTEN = ["values", "content_hash", "changed_at", "fetched_at", "deleted_at", "client"]


def records_apply(
    *,
    source: Source,
    run: SyncRun | None,
    records: list[FetchedRecord],
    rules: list[MappingRule] | CompiledRules,
    now: datetime,
) -> PageOutcome:
    """Write a batch of fetched records into the unified view. Caller holds the transaction.

    Set-based: a handful of statements for the whole batch (read the known records, match, write
    new clients, records, sync slots and conflicts in bulk), never a query per record.
    """
    rules = rules if isinstance(rules, CompiledRules) else compile_rules(tuple(rules))
    outcome = PageOutcome(fetched=len(records))
    mapped: dict[str, tuple[FetchedRecord, dict, str]] = {}
    for record in records:  # per record: reading and mapping is Python work on each payload
        if outcome.high_water is None or record.changed_at > outcome.high_water:
            outcome.high_water = record.changed_at
        try:
            # Stored without the BSN where the firm has no basis for it, sealed where it has (trust/privacy_bsn.py).
            values = {} if record.archived else source_values_protect(map_record(record.data, rules))
        except MappingError as error:
            outcome.quarantine.append(_quarantine(source, run, record.record_id, record.data, error.reason))
            continue
        mapped[record.record_id] = (record, values, content_hash(values, record.archived))
    outcome.quarantined = len(outcome.quarantine)

    known = {
        record_id: (pk, digest, client_id, deleted_at)
        for record_id, pk, digest, client_id, deleted_at in SourceRecord.objects.filter(
            EqualsAny(F("record_id"), list(mapped)), source_key=source.key
        ).values_list("record_id", "pk", "content_hash", "client_id", "deleted_at")
    }
    new_rows: list[dict] = []
    changed_rows: list[dict] = []
    unchanged_ids: list[int] = []
    for record_id, (record, values, digest) in mapped.items():
        row_known = known.get(record_id)
        if row_known is not None and row_known[1] == digest:
            unchanged_ids.append(row_known[0])
            continue
        if row_known is None and record.archived:
            outcome.unchanged += 1  # archived before we ever saw it: nothing to keep
            continue
        row = {
            "source_key": source.key,
            "record_id": record_id,
            "values": values,
            "content_hash": digest,
            "changed_at": record.changed_at,
            "fetched_at": now,
        }
        if row_known is None:
            row.update(client_id=None, deleted_at=None)
            new_rows.append(row)
            outcome.created += 1
        else:
            row.update(id=row_known[0], client_id=row_known[2], deleted_at=row_known[3])
            changed_rows.append(row)
            outcome.updated += 1
        if record.archived and row["deleted_at"] is None:
            row["deleted_at"] = now
            outcome.deleted += 1
        elif not record.archived:
            row["deleted_at"] = None
    outcome.unchanged += len(unchanged_ids)
    # "Fetched" means last confirmed by the source, so unchanged records are touched in one UPDATE.
    if unchanged_ids:
        SourceRecord.objects.filter(EqualsAny(F("pk"), unchanged_ids)).update(fetched_at=now)

    upserts = [*new_rows, *changed_rows]
    precedence = precedence_rules()
    provenance_entries: dict = {}
    unlinked = [row for row in upserts if row["client_id"] is None and row["deleted_at"] is None]
    links = _records_link(source=source, rows=unlinked, now=now, rules=precedence, entries=provenance_entries)
    fresh_clients_insert(links.fresh, now)
    for row, client in links.to_fresh:
        row["client_id"] = client.pk
    rows_insert(SourceRecord, new_rows)
    rows_update(SourceRecord, changed_rows, SOURCE_RECORD_WRITTEN)
    MatchCandidate.objects.bulk_create(
        [
            MatchCandidate(
                source_record_id=row["id"],
                client_id=client.pk,
                score=score.score,
                reasons=score.reasons,
            )
            for row, client, score in links.reviews
        ],
        ignore_conflicts=True,
    )
    outcome.in_review = len(links.reviews)
    affected = {row["client_id"] for row in upserts if row["client_id"]}
    fresh_ids = {client.pk for client in links.fresh}
    unified_view_write(
        client_ids=affected - fresh_ids, fresh=links.fresh, now=now, rules=precedence, entries=provenance_entries
    )
    outcome.changed_client_ids = affected
    return outcome


def changed_clients_hand_off(client_ids: set[int]) -> None:
    """After the batch commits, the changed clients flow on to the next steps (enrichment, framework).

    The steps are named in settings.STEWARD_AFTER_SYNC_TASKS as Celery task paths, so this step
    never imports a later one; each task takes a list of client ids.
    """
    if not client_ids:
        return
    ids = sorted(client_ids)
    for task_path in settings.STEWARD_AFTER_SYNC_TASKS:
        task = import_string(task_path)
        transaction.on_commit(lambda task=task: task.delay(ids))


# --- Matching -------------------------------------------------------------------------------------


@dataclass
class _Links:
    fresh: list[FreshClient] = field(default_factory=list)  # clients to create, in order
    to_fresh: list[tuple[dict, FreshClient]] = field(default_factory=list)  # each record that creates one
    reviews: list[tuple[dict, ClientFacts, object]] = field(default_factory=list)  # (record, client, score)


def _records_link(*, source: Source, rows: list[dict], now: datetime, rules, entries: dict) -> _Links:
    """Link new records to clients: by email, then by fuzzy score; new clients for the rest.

    Candidates are the stored clients (two queries per `MATCH_WINDOW` records) and the clients created
    earlier in the same batch: where batch boundaries fall (and so where a killed run resumed) must
    not decide whether two records of one person become one client. A fresh client scores as it
    would once stored (its resolved values, an id above every stored one, in creation order).
    """
    links = _Links()
    if not rows:
        return links
    people = [Person.from_values(row["values"]) for row in rows]
    emails = {person.email for person in people if person.email}
    by_email: dict[str, list] = defaultdict(list)
    if emails:
        for facts in Client.objects.filter(EqualsAny(F("email"), emails), deleted_at__isnull=True).values_list(
            *MATCH_FIELDS
        ):
            client = _client_facts(facts)
            by_email[client.email.lower()].append((client, client))
    # Clients created in this batch, by their provisional id (above any stored id, so a stored
    # client wins a tie as it would against a client created later), and their current facts.
    fresh_by_key: dict[int, FreshClient] = {}
    fresh_facts: dict[int, ClientFacts] = {}
    fresh_first_row: dict[int, dict] = {}
    fresh_by_birth_date: dict = defaultdict(list)
    fresh_by_postcode: dict = defaultdict(list)

    def fresh_register(key: int, fresh_client: FreshClient) -> None:
        """Index a fresh client by its resolved email, birth date and postcode, as stored it would be.

        Called again when it took another record: its values may have changed, so its old entries go.
        """
        row = fresh_client.row
        facts = _client_facts(
            (
                key,
                row["first_name"],
                row["last_name_prefix"],
                row["last_name"],
                row["birth_date"],
                row["postcode"],
                row["email"],
            )
        )
        old = fresh_facts.get(key)
        if old is not None:
            for index, value in (
                (by_email, old.email.lower()),
                (fresh_by_birth_date, old.birth_date),
                (fresh_by_postcode, old.postcode),
            ):
                if value and value in index:
                    index[value] = [entry for entry in index[value] if entry[0].pk != key]
        fresh_facts[key] = facts
        if facts.email:
            by_email[facts.email.lower()].append((facts, facts))
        if facts.birth_date:
            fresh_by_birth_date[facts.birth_date].append((facts, facts))
        if facts.postcode:
            fresh_by_postcode[facts.postcode].append((facts, facts))

    stored_by_birth_date: dict = {}
    stored_by_postcode: dict = {}
    for position, (row, person) in enumerate(zip(rows, people, strict=True)):
        if position % MATCH_WINDOW == 0:
            # The stored candidates of the next few records only: in a book of a million a record
            # has about 40, so a whole batch's would make a sync's memory grow with the book.
            stored_by_birth_date, stored_by_postcode = _stored_candidates(people[position : position + MATCH_WINDOW])
        # The same email is a deterministic key only for the same person: partners often share one.
        email_match = best_match_among(person, by_email.get(person.email, ()) if person.email else ())
        if email_match and (
            email_match[1].score >= EMAIL_LINK_THRESHOLD
            or name_similarity(person, email_match[0]) >= EMAIL_NAME_SIMILARITY
        ):
            _link(
                row, email_match[0], fresh_by_key, fresh_first_row, links, source, rules, now, entries, fresh_register
            )
            continue
        # Of the stored clients of its birth date, only those that can still reach the review threshold.
        block = stored_by_birth_date.get(person.birth_date)
        alike = [ClientFacts(*block.items[i], block.names[i]) for i in block.alike(person)] if block else []
        pool = {
            client.pk: (client, client_person)
            for client, client_person in [
                *((client, client) for client in alike),
                *fresh_by_birth_date.get(person.birth_date, ()),
                *stored_by_postcode.get(person.postcode, ()),
                *fresh_by_postcode.get(person.postcode, ()),
            ]
        }
        # Whoever cannot reach the review threshold makes no difference: a new client either way.
        best = best_match_among(person, pool.values(), floor=REVIEW_THRESHOLD)
        if best and best[1].score >= LINK_THRESHOLD:
            _link(row, best[0], fresh_by_key, fresh_first_row, links, source, rules, now, entries, fresh_register)
        elif best and best[1].score >= REVIEW_THRESHOLD:
            links.reviews.append((row, fresh_by_key.get(best[0].pk, best[0]), best[1]))
        else:
            fresh_client = FreshClient(row=_fresh_client_row(source, row, now), records=[_record_facts(row)])
            fresh_client_resolve(fresh_client, rules, now, entries)
            key = FRESH_KEYS_FROM + len(links.fresh)
            fresh_by_key[key] = fresh_client
            fresh_first_row[key] = row
            links.fresh.append(fresh_client)
            links.to_fresh.append((row, fresh_client))
            fresh_register(key, fresh_client)
    return links


# Provisional ids of a batch's fresh clients while matching: above any id a table will reach.
FRESH_KEYS_FROM = 2**62

# Records of a batch whose stored candidates are read and held at once (two queries per window).
MATCH_WINDOW = 250


def _stored_candidates(people: list[Person]) -> tuple[dict, dict]:
    """Stored clients sharing a birth date or a postcode with these people (blocking), by each key:
    a `BirthDateBlock` per birth date, a list per postcode.

    One query per key, each an index-only scan of the covering birth date or postcode index
    (clients' MATCHING_COLUMNS): with `OR` PostgreSQL combines bitmaps and must read each
    candidate's row from the table, which in a book of a million clients is most of matching's time.
    """
    by_birth_date: dict = defaultdict(BirthDateBlock)
    by_postcode: dict = defaultdict(list)
    birth_dates = {person.birth_date for person in people if person.birth_date}
    postcodes = {person.postcode for person in people if person.postcode}
    if not (birth_dates or postcodes):
        return by_birth_date, by_postcode
    live = Client.objects.filter(deleted_at__isnull=True)
    by_key = live.filter(EqualsAny(F("birth_date"), birth_dates)).values_list(*MATCH_FIELDS)
    by_code = live.filter(EqualsAny(F("postcode"), postcodes)).values_list(*MATCH_FIELDS)
    seen: set[int] = set()
    for row in by_key.union(by_code, all=True):
        if row[0] in seen:
            continue  # shares both: found twice
        seen.add(row[0])
        # Most rows are of a birth date only and few of them alike: facts are made only when needed.
        name = normalised_name(f"{row[1]} {row[2]} {row[3]}")
        if row[4]:
            by_birth_date[row[4]].add(row, name, row[5])
        if row[5] in postcodes:
            client = ClientFacts(*row, name)
            by_postcode[row[5]].append((client, client))
    return by_birth_date, by_postcode


def _link(row, client, fresh_by_key, fresh_first_row, links, source, rules, now, entries, fresh_register) -> None:
    """Link a record to a stored client, or to a client created earlier in this batch."""
    fresh_client = fresh_by_key.get(client.pk)
    if fresh_client is None:
        row["client_id"] = client.pk
        return
    # As if the fresh client were stored: resolved again from all its records, in the order the
    # recompute reads them (source, record id).
    fresh_client.records.append(_record_facts(row))
    fresh_client.records.sort(key=lambda record: (record.source_key, record.record_id))
    fresh_client.row = _fresh_client_row(source, fresh_first_row[client.pk], now)
    fresh_client_resolve(fresh_client, rules, now, entries)
    links.to_fresh.append((row, fresh_client))
    fresh_register(client.pk, fresh_client)


def _record_facts(row: dict) -> RecordFacts:
    return RecordFacts(
        client_id=None,
        source_key=row["source_key"],
        record_id=row["record_id"],
        values=row["values"],
        changed_at=row["changed_at"],
        fetched_at=row["fetched_at"],
        deleted_at=row["deleted_at"],
    )


def _fresh_client_row(source: Source, row: dict, now: datetime) -> dict:
    """The row of a client first seen in this record, before its values are resolved (see below)."""
    values = row["values"]
    first_name = values.get("client.first_name", "")
    last_name = values.get("client.last_name", "") or "?"
    return {
        "first_name": first_name,
        "last_name": last_name,
        "team_id": source.default_team_id,
        "source": source.key,
        "source_record_id": row["record_id"],
        "source_changed_at": row["changed_at"],
        "fetched_at": now,
        "search_name": search_text(f"{first_name} {last_name}"),
    }


def _client_from_record(source: Source, row: SourceRecord, now: datetime) -> Client:
    """A new client, first seen in this record; its values are written by the recompute after."""
    values = row.values
    client = Client(
        first_name=values.get("client.first_name", ""),
        last_name=values.get("client.last_name", "") or "?",
        team_id=source.default_team_id,
        source=source.key,
        source_record_id=row.record_id,
        source_changed_at=row.changed_at,
        fetched_at=now,
    )
    client.search_name = normalise_search_text(f"{client.first_name} {client.last_name}")
    return client


# --- Batches --------------------------------------------------------------------------------------


def page_apply(*, source: Source, run: SyncRun, page: Page, rules: list[MappingRule], now: datetime) -> PageOutcome:
    """Apply one page and checkpoint its cursor, in one transaction (see `pages_apply`)."""
    return pages_apply(source=source, run=run, pages=[page], rules=rules, now=now)


def pages_apply(
    *,
    source: Source,
    run: SyncRun,
    pages: list[Page],
    rules: list[MappingRule] | CompiledRules,
    now: datetime,
    checkpoint=None,
) -> PageOutcome:
    """Apply fetched pages and checkpoint the cursor of the last one, in one transaction.

    `checkpoint(next_cursor, outcome)`, when given, records the cursor instead of the source's
    resume cursor (a range of a partitioned sync keeps its own, see sync_partitions.py); it runs
    inside the batch's transaction, so cursor and data still commit together.

    If the batch as a whole hits a database error, it is split in halves, each retried in a
    savepoint, down to single records: one bad record is quarantined with the error while the rest
    of its batch lands.
    """
    rules = rules if isinstance(rules, CompiledRules) else compile_rules(tuple(rules))
    records = [record for page in pages for record in page.records]
    rejected = [
        _quarantine(source, run, item.record_id, item.raw, item.reason) for page in pages for item in page.rejected
    ]
    next_cursor = pages[-1].next_cursor or ""
    with transaction.atomic():
        outcome = _records_apply_isolating(source=source, run=run, records=records, rules=rules, now=now)
        changed_clients_hand_off(outcome.changed_client_ids)
        outcome.quarantine.extend(rejected)
        outcome.fetched += len(rejected)
        outcome.quarantined += len(rejected)
        refused = {entry.record_id for entry in outcome.quarantine}
        quarantine_resolve_landed(
            source_id=source.pk, record_ids=(r.record_id for r in records if r.record_id not in refused), now=now
        )
        quarantine_store(outcome.quarantine)

        if checkpoint is not None:
            checkpoint(next_cursor, outcome)
        else:
            high_water = max(filter(None, [source.resume_high_water, outcome.high_water]), default=None)
            Source.objects.filter(pk=source.pk).update(
                resume_cursor=next_cursor, resume_high_water=high_water, locked_at=now
            )
            source.resume_cursor, source.resume_high_water = next_cursor, high_water
            if next_cursor:
                from .reliability import sync_attempts_progressed  # reliability imports this module

                sync_attempts_progressed(source_id=source.pk)
        SyncRun.objects.filter(pk=run.pk).update(
            pages=F("pages") + len(pages),
            fetched=F("fetched") + outcome.fetched,
            created=F("created") + outcome.created,
            updated=F("updated") + outcome.updated,
            unchanged=F("unchanged") + outcome.unchanged,
            deleted=F("deleted") + outcome.deleted,
            quarantined=F("quarantined") + outcome.quarantined,
            in_review=F("in_review") + outcome.in_review,
            cursor_after=next_cursor,
        )
    return outcome


# What the database says about a record's data (a value too long or out of range, a constraint it
# breaks): worth isolating the record that caused it. Anything else (the connection lost, PostgreSQL
# restarting, a schema out of date) says nothing about the records: it fails the run, the batch and
# its cursor roll back together, and the next run applies the batch again. Quarantining there would
# write off good records as bad and move the cursor past them.
RECORD_REFUSALS = (DataError, IntegrityError)


def _records_apply_isolating(
    *, source: Source, run: SyncRun | None, records: list[FetchedRecord], rules: CompiledRules, now: datetime
) -> PageOutcome:
    try:
        with transaction.atomic():
            return records_apply(source=source, run=run, records=records, rules=rules, now=now)
    except RECORD_REFUSALS as error:
        if len(records) == 1:
            record = records[0]
            outcome = PageOutcome(fetched=1, quarantined=1)
            outcome.quarantine.append(
                _quarantine(source, run, record.record_id, record.data, f"database refused: {error}")
            )
            return outcome
        logger.warning(
            "a batch of %s records of %s failed as a whole; applying it in halves",
            len(records),
            source.key,
            exc_info=True,
        )
    half = len(records) // 2
    outcome = PageOutcome()
    for part in (records[:half], records[half:]):
        outcome.add(_records_apply_isolating(source=source, run=run, records=part, rules=rules, now=now))
    return outcome


def _pages_fetched_ahead(connector, cursor: str | None, since: datetime | None) -> Iterator[Page]:
    """The pages of one run, in order, fetched by a background thread up to PAGES_AHEAD ahead.

    Fetching is I/O: the source prepares the next pages while the engine writes a batch. An error
    of the connector (or the thread being interrupted) is raised here, after the pages before it.
    The thread touches nothing but the connector: never the database.
    """
    results: queue.Queue = queue.Queue(maxsize=PAGES_AHEAD)
    stop = threading.Event()

    def hand_over(item) -> bool:
        while not stop.is_set():
            try:
                results.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        current = cursor
        try:
            while not stop.is_set():
                page = connector.fetch_page(current, since if current is None else None)
                if not hand_over(("page", page)) or page.next_cursor is None:
                    break
                current = page.next_cursor
            hand_over(("end", None))
        except BaseException as error:  # handed to the consumer, who raises it
            hand_over(("error", error))

    thread = threading.Thread(target=fetch, name="sync-fetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = results.get()
            if kind == "page":
                yield item
            elif kind == "end":
                return
            else:
                raise item
    finally:
        stop.set()
        thread.join(timeout=1)


# --- Runs -----------------------------------------------------------------------------------------


def source_sync(*, source_id: int, trigger: str = SyncRun.Trigger.MANUAL, user=None, connector=None) -> SyncRun:
    """Run one incremental sync of a source (or resume the one that stopped part-way).

    Raises the connector's retryable errors after recording them, so the Celery task can retry
    with backoff; the next attempt resumes from the last committed page.
    """
    token = source_lock_acquire(source_id=source_id)
    source = Source.objects.get(pk=source_id)
    if token is None:
        logger.info("sync of %s skipped: another run holds the source", source.key)
        return SyncRun.objects.create(
            source=source,
            trigger=trigger,
            status=SyncRun.Status.SKIPPED,
            finished_at=timezone.now(),
            triggered_by=user,
        )
    now = timezone.now()
    if source.parked_until and source.parked_until > now:
        source_lock_release(source_id=source_id, token=token)
        return SyncRun.objects.create(
            source=source,
            trigger=trigger,
            status=SyncRun.Status.SKIPPED,
            finished_at=now,
            error=f"paused until {source.parked_until:%Y-%m-%d %H:%M} (quota)",
            triggered_by=user,
        )
    resuming = bool(source.resume_cursor)
    run = SyncRun.objects.create(
        source=source,
        trigger=trigger,
        triggered_by=user,
        cursor_before=source.resume_cursor if resuming else (source.watermark.isoformat() if source.watermark else ""),
    )
    try:
        connector = connector or connector_for(source)
        rules = mapping_rules(source)
        cursor = source.resume_cursor or None
        if not resuming:
            since = source.watermark - WATERMARK_OVERLAP if source.watermark else None
            Source.objects.filter(pk=source.pk).update(resume_since=since, resume_high_water=None)
            source.resume_since, source.resume_high_water = since, None
        since = source.resume_since
        _pages_sync(source=source, run=run, pages=_pages_fetched_ahead(connector, cursor, since), rules=rules)
        _run_succeeded(source, run)
    except SourceError as error:
        _run_failed(source, run, error)
        raise
    finally:
        source_lock_release(source_id=source_id, token=token)
        if hasattr(connector, "close"):
            connector.close()
    run.refresh_from_db()
    return run


def _pages_sync(
    *, source: Source, run: SyncRun, pages: Iterator[Page], rules: list[MappingRule], checkpoint=None
) -> None:
    """Apply the pages in batches of about RECORDS_PER_BATCH records, each checkpointed."""
    with collector_relaxed():
        _pages_sync_batched(source=source, run=run, pages=pages, rules=rules, checkpoint=checkpoint)


def _pages_sync_batched(
    *, source: Source, run: SyncRun, pages: Iterator[Page], rules: list[MappingRule], checkpoint=None
) -> None:
    rules = compile_rules(tuple(rules))
    batch: list[Page] = []
    batch_ids: set[str] = set()

    def apply_batch() -> None:
        pages_apply(source=source, run=run, pages=batch, rules=rules, now=timezone.now(), checkpoint=checkpoint)
        batch.clear()
        batch_ids.clear()

    try:
        while True:
            try:
                page = next(pages)
            except StopIteration:
                break
            except BaseException:
                # Pages fetched before the failure are what the source said: land them first, so
                # the next run resumes after them.
                if batch:
                    apply_batch()
                raise
            if run.expected_records is None and getattr(page, "total", None):
                SyncRun.objects.filter(pk=run.pk).update(expected_records=page.total)
            page_ids = {record.record_id for record in page.records}
            if batch_ids & page_ids:
                apply_batch()  # a record seen twice (it changed mid-run) is applied in order, as two changes
            batch.append(page)
            batch_ids.update(page_ids)
            if len(batch_ids) >= RECORDS_PER_BATCH or page.next_cursor is None:
                apply_batch()
    finally:
        pages.close()


@transaction.atomic
def _run_succeeded(source: Source, run: SyncRun) -> None:
    now = timezone.now()
    watermark = source.resume_high_water or source.watermark
    Source.objects.filter(pk=source.pk).update(
        watermark=watermark,
        resume_cursor="",
        resume_since=None,
        resume_high_water=None,
        health=Source.Health.HEALTHY,
        last_error="",
        last_success_at=now,
        consecutive_failures=0,
        parked_until=None,
    )
    SyncRun.objects.filter(pk=run.pk).update(
        status=SyncRun.Status.SUCCEEDED,
        finished_at=now,
        cursor_after=watermark.isoformat() if watermark else "",
    )


@transaction.atomic
def _run_failed(source: Source, run: SyncRun, error: SourceError) -> None:
    now = timezone.now()
    message = f"{type(error).__name__}: {error}"
    updates = {"last_error": message, "consecutive_failures": F("consecutive_failures") + 1}
    if isinstance(error, QuotaExhausted):
        updates.update(health=Source.Health.PARKED, parked_until=error.reset_at or now + timedelta(hours=1))
    elif isinstance(error, (AuthenticationFailed, PermanentSourceError, ConfigurationError)):
        updates["health"] = Source.Health.FAILING
    elif isinstance(error, (RateLimited, TransientSourceError)):
        updates["health"] = Source.Health.DEGRADED
    Source.objects.filter(pk=source.pk).update(**updates)
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.FAILED, finished_at=now, error=message)
    logger.warning("sync of %s failed: %s", source.key, message)


def source_records_sync(*, source_id: int, record_ids: list[str], trigger: str = SyncRun.Trigger.WEBHOOK) -> SyncRun:
    """A targeted sync of named records (after a webhook): fetch them and apply them as one page.

    Ids the source no longer returns are treated as deleted there.
    """
    source = Source.objects.get(pk=source_id)
    run = SyncRun.objects.create(source=source, trigger=trigger)
    connector = connector_for(source)
    try:
        page = connector.fetch_records(record_ids)
        returned = {record.record_id for record in page.records} | {r.record_id for r in page.rejected}
        missing = [record_id for record_id in record_ids if record_id not in returned]
        now = timezone.now()
        with transaction.atomic():
            page_apply(
                source=source,
                run=run,
                page=Page(records=page.records, next_cursor=None, rejected=page.rejected),
                rules=mapping_rules(source),
                now=now,
            )
            # page_apply checkpoints a cursor; a targeted sync must not disturb an incremental run's.
            Source.objects.filter(pk=source.pk).update(
                resume_cursor=source.resume_cursor, resume_high_water=source.resume_high_water
            )
            source_records_mark_deleted(source=source, record_ids=missing, now=now, run=run)
        SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.SUCCEEDED, finished_at=timezone.now())
    except SourceError as error:
        _run_failed(source, run, error)
        raise
    finally:
        connector.close()
    run.refresh_from_db()
    return run


def source_records_mark_deleted(*, source: Source, record_ids, now: datetime, run: SyncRun | None = None) -> int:
    """Soft-delete records that disappeared from the source, and recompute their clients."""
    rows = SourceRecord.objects.filter(source_key=source.key, record_id__in=list(record_ids), deleted_at__isnull=True)
    client_ids = set(rows.exclude(client__isnull=True).values_list("client_id", flat=True))
    count = rows.update(deleted_at=now, fetched_at=now)
    unified_view_recompute(client_ids=client_ids, now=now)
    if run is not None and count:
        SyncRun.objects.filter(pk=run.pk).update(deleted=F("deleted") + count)
    return count


def source_reconcile_deletions(*, source_id: int) -> SyncRun:
    """Compare every id the source still has with ours; ours that it lacks were deleted there."""
    source = Source.objects.get(pk=source_id)
    run = SyncRun.objects.create(source=source, trigger=SyncRun.Trigger.RECONCILE)
    connector = connector_for(source)
    try:
        live_ids = set(connector.list_all_ids())
        ours = set(
            SourceRecord.objects.filter(source_key=source.key, deleted_at__isnull=True).values_list(
                "record_id", flat=True
            )
        )
        with transaction.atomic():
            source_records_mark_deleted(source=source, record_ids=ours - live_ids, now=timezone.now(), run=run)
        SyncRun.objects.filter(pk=run.pk).update(
            status=SyncRun.Status.SUCCEEDED, finished_at=timezone.now(), fetched=len(live_ids)
        )
    except SourceError as error:
        _run_failed(source, run, error)
        raise
    finally:
        connector.close()
    run.refresh_from_db()
    return run
