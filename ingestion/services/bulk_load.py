"""Load a whole book of clients at COPY speed: the first import of a firm's client list.

The sync engine reads a source record by record: it maps, matches and consolidates each one, and
that is the right path for sources that share clients. The first load of a book is different: a
back-office export of every client, hundreds of thousands of rows, each row one client the firm
already vouches for. Such rows go straight into the unified view as client rows with their own
row-level origin (`source`, `source_record_id`, `source_changed_at`, `fetched_at`), the way
`generate_clients` writes its book, and a later sync of a CRM links its records to them by email
and fuzzy match as usual.

On PostgreSQL each batch is copied into a temporary staging table and applied with two set-based
statements: an UPDATE of the clients this source loaded before whose values changed, and an INSERT
of the new ones (the batch's known client ids are read first, so both join on the primary key). A
client is known by (source key, record id), so loading the same rows again changes nothing; the
first load of a source skips that read (the clients table has no index on the record id, so it is
a scan per batch and lane) for the record ids it has not met yet. Clients that syncs have
consolidated (they have source records) are left to the engine: there, precedence decides every
field.

Every change is in the audit trail, as a sync's are: a "+" row per client created and a "~" row per
client whose values changed, on behalf of the source (`trust.audit`, through `bulk_written`).

Why not `INSERT ... ON CONFLICT`: it needs a unique index on (source, source_record_id), which
the clients table does not have yet; with it, the two statements become one (see
docs/benchmarks.md). Elsewhere (SQLite) the same contract is kept with the ORM's bulk statements.
"""

import codecs
import csv
import io
import itertools
import operator
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from clients.audit_hook import bulk_written, write_origin, written_by
from clients.bulk import EqualsAny, collector_relaxed, copy_supported, copy_tuples
from clients.models import Client

from ..mapping import MappingError, compile_rules, map_record
from ..models import QuarantinedRecord, SourceRecord
from ..targets import TARGETS
from .file_import import CSV_ENCODINGS, MAX_RECORD_ID, _csv_delimiter, record_id_refusal
from .quarantine import quarantine_is_open, quarantine_resolve_landed, quarantine_store
from .recompute import search_text
from .sync import _quarantine, mapping_rules

BATCH_SIZE = 50_000
# A first load of a source skips the lookup of its known clients (a scan of the clients table per
# batch and lane, without an index on the record id) while it remembers the record ids it wrote;
# beyond this many it looks them up again, so a load's memory stays bounded.
FRESH_IDS_KEPT = 2_000_000
# Connections that load a batch's lanes side by side (PostgreSQL, when no transaction is open):
# the database's index maintenance is the cost of a load, and each connection uses one core.
PARALLEL_LANES = 2
# The client fields a row may carry: those a source may write, except the BSN (encrypted per
# value, and only with a legal basis: it goes through the sync engine, which checks that).
LOADABLE_FIELDS = tuple(name for entity, name in TARGETS.values() if entity.key == "client" and name != "bsn")


class BulkLoadError(ValueError):
    """A row that cannot be loaded; nothing of its batch was written."""


@dataclass
class BulkLoadReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0  # the same values again, or a client that syncs consolidate
    seconds: float = 0.0

    def add(self, created: int, updated: int) -> None:
        self.created += created
        self.updated += updated


def client_row_from_values(*, record_id: str, values: Mapping[str, Any], changed_at: datetime | None = None) -> dict:
    """A loadable row from mapped values ({"client.first_name": "Sanne", ...}, as `map_record` returns).

    Targets of other entities (income, mortgage...) are not part of a client row: load those
    through the sync engine.
    """
    row: dict[str, Any] = {"record_id": record_id, "changed_at": changed_at}
    for target, value in values.items():
        entity, name = TARGETS.get(target, (None, None))
        if entity is None or entity.key != "client" or name not in LOADABLE_FIELDS:
            raise BulkLoadError(f"{target}: not a client field a bulk load writes")
        row[name] = Client._meta.get_field(name).to_python(value)
    return row


def clients_bulk_load(
    *,
    source_key: str,
    team_id: int,
    rows: Iterable[Mapping[str, Any]],
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
) -> BulkLoadReport:
    """Create or update the clients of `rows`, each batch in its own transaction.

    A row is a dict: "record_id" (the client's id where the rows come from), optionally
    "changed_at" (when it last changed there), and client fields by name (LOADABLE_FIELDS), with
    valid Python values (validate first, e.g. with the file import's preview). New clients join
    `team_id`. A row the database refuses fails its batch (with the database's error); earlier
    batches stay. On PostgreSQL, called outside a transaction, the rows are loaded in PARALLEL_LANES
    lanes side by side, each batch's part a transaction of its own (see `_Lanes`).
    """
    started = time.perf_counter()
    now = now or timezone.now()
    report = BulkLoadReport()
    # On whose behalf, for the audit trail: the caller's user and reason, and this source. Lanes are
    # threads of their own, so they are handed it.
    caller = write_origin()
    origin = {"user": caller.user, "source": caller.source or source_key, "reason": caller.reason}
    lanes = PARALLEL_LANES if copy_supported() and not connection.in_atomic_block else 1
    # The record ids this load wrote, while the source had no clients before it (see FRESH_IDS_KEPT).
    written: set[str] | None = set() if copy_supported() and _source_is_new(source_key) else None
    # The caller's rows are alive before the load: the collector's full passes over them (and over
    # Django) took about 0.1 s between some batches, a twentieth of a load of 200,000 rows.
    with collector_relaxed(), _Lanes(lanes, report) if lanes > 1 else nullcontext() as pool:
        for batch in _batches(rows, batch_size):
            fields = _fields_of(batch)
            record_ids = [row["record_id"] for row in batch]
            # Nothing of this batch can be known: the source was new and the load has not met these ids.
            lookup = written is None or not written.isdisjoint(record_ids)
            if pool is None:
                report.add(*_batch_load(source_key, team_id, batch, fields, now, origin, lookup=lookup))
            else:
                pool.submit(batch, source_key, team_id, fields, now, origin, lookup)
            report.rows += len(batch)
            if written is not None:
                written.update(record_ids)
                if len(written) > FRESH_IDS_KEPT:
                    written = None
    report.unchanged = report.rows - report.created - report.updated
    report.seconds = time.perf_counter() - started
    return report


def _source_is_new(source_key: str) -> bool:
    """True when no client came from this source yet (one scan of the clients table, once per load)."""
    return not Client.objects.filter(source=source_key).exists()


def _batch_load(
    source_key: str, team_id: int, batch, fields: list[str], now: datetime, origin: dict, *, lookup: bool = True
) -> tuple[int, int]:
    """One batch in one transaction: (created, updated). `lookup=False`: none of its rows can be known."""
    with transaction.atomic(), written_by(**origin):
        if copy_supported():
            return _load_with_copy(source_key, team_id, batch, fields, now, lookup=lookup)
        return _load_with_orm(source_key, team_id, batch, fields, now)


class _Lanes:
    """Batches split into lanes by record id, each lane a thread with a connection of its own that
    loads its parts in order, side by side with the others.

    PostgreSQL spends a load's time maintaining the clients' indexes, one core per connection: two
    lanes use two. A record id always falls in the same lane, and a lane loads its parts in the order
    of the batches, so rows of one client are applied in their order and two lanes never write the
    same client. The lanes do not wait for each other at the end of a batch: while one copies its next
    part (Python), the other's INSERT keeps the database busy. At most the batch before the newest is
    still loading (memory: two batches). A part the database refuses fails alone, and the load stops
    with its error at the next batch: the lanes' parts that had started are committed, the rest are
    not started.
    """

    def __init__(self, lanes: int, report: BulkLoadReport):
        self.lanes = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"bulk-load-{n}") for n in range(lanes)]
        self.report = report
        self.loading: list = []  # the futures of the batch before the newest
        self.newest: list = []

    def __enter__(self):
        return self

    def submit(
        self, batch, source_key: str, team_id: int, fields: list[str], now: datetime, origin: dict, lookup: bool
    ) -> None:
        split: list[list] = [[] for _ in self.lanes]
        for row in batch:
            split[zlib.crc32(row["record_id"].encode()) % len(self.lanes)].append(row)
        self.loading, self.newest = (
            self.newest,
            [
                lane.submit(_batch_load, source_key, team_id, part, fields, now, origin, lookup=lookup)
                for lane, part in zip(self.lanes, split, strict=True)
                if part
            ],
        )
        self._collect(self.loading)

    def _collect(self, futures: list) -> None:
        failure = None
        for future in futures:
            try:
                self.report.add(*future.result())
            except Exception as error:  # every lane's part has finished before the first failure is raised
                failure = failure or error
        futures.clear()
        if failure is not None:
            raise failure

    def __exit__(self, kind, error, traceback):
        try:
            if kind is None:
                self._collect(self.loading)
                self._collect(self.newest)
        finally:
            for future in (*self.loading, *self.newest):
                future.cancel()  # not started yet: the load has failed
            for lane in self.lanes:
                lane.submit(_connection_close)
                lane.shutdown(wait=True)
        return False


def _connection_close() -> None:
    """Close this thread's own connection (`connection` is looked up in the thread that calls it)."""
    connection.close()


def _batches(rows: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[Mapping[str, Any]]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _fields_of(batch: list[Mapping[str, Any]]) -> list[str]:
    named = set().union(*(row.keys() for row in batch)) - {"record_id", "changed_at"}
    unknown = named - set(LOADABLE_FIELDS)
    if unknown:
        raise BulkLoadError(f"not client fields a bulk load writes: {sorted(unknown)}")
    ids = [row.get("record_id") for row in batch]
    if not all(isinstance(record_id, str) and record_id for record_id in ids):
        raise BulkLoadError("every row needs a record_id (a non-empty string)")
    if len(set(ids)) != len(ids):
        raise BulkLoadError("a record_id appears twice in one batch")
    # The name fields always travel: search_name is made from them.
    return sorted(named | {"first_name", "last_name_prefix", "last_name"})


def _staged(row: Mapping[str, Any], fields: list[str]) -> dict:
    """A row as the ORM path writes it (the COPY path builds the same values as a tuple)."""
    # A field a row leaves out gets its default, as in a new Client().
    staged = {name: row[name] if name in row else _DEFAULTS[name] for name in fields}
    staged["source_record_id"] = row["record_id"]
    staged["source_changed_at"] = row.get("changed_at")
    staged["search_name"] = search_text(f"{staged['first_name']} {staged['last_name_prefix']} {staged['last_name']}")
    return staged


def _existing_ids(source_key: str, record_ids: list[str]) -> dict[str, int]:
    """The clients this source loaded before, of these record ids: one query for the batch."""
    return dict(
        Client.objects.filter(EqualsAny(F("source_record_id"), record_ids), source=source_key).values_list(
            "source_record_id", "id"
        )
    )


def _load_with_copy(
    source_key: str, team_id: int, batch, fields: list[str], now: datetime, *, lookup: bool = True
) -> tuple[int, int]:
    quote = connection.ops.quote_name
    table = quote(Client._meta.db_table)
    # Known clients carry their id into the staging table, so both statements below join on the
    # primary key: the planner never has to guess how many rows of this source there are (rows
    # loaded moments ago are not in its statistics yet, and a wrong guess made a reload quadratic).
    existing = _existing_ids(source_key, [row["record_id"] for row in batch]) if lookup else {}
    written = [*fields, "source_record_id", "source_changed_at", "search_name", "fetched_at", "updated_at"]
    staged_columns = [Client._meta.get_field(name).column for name in ["id", *written]]
    staging = "steward_bulk_load"
    compared = [*fields, "source_changed_at"]
    defaults = [_DEFAULTS[name] for name in fields]
    first, prefix, last = (fields.index(name) for name in ("first_name", "last_name_prefix", "last_name"))
    stamp = now.isoformat()

    pick = operator.itemgetter(*fields)  # one C call for a row that has every field (most rows)

    def staged():  # tuples in staged_columns' order, built as they are copied
        for row in batch:
            try:
                values = pick(row)
            except KeyError:
                values = tuple(row.get(name, default) for name, default in zip(fields, defaults, strict=True))
            changed_at = row.get("changed_at")
            record_id = row["record_id"]
            yield (
                existing.get(record_id),
                *values,
                record_id,
                None if changed_at is None else changed_at.isoformat(),
                search_text(f"{values[first]} {values[prefix]} {values[last]}"),
                stamp,
                stamp,
            )

    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "  # noqa: S608 - quoted model names
            f"SELECT {', '.join(map(quote, staged_columns))} FROM {table} WITH NO DATA"
        )
        copy_tuples(cursor, staging, staged_columns, staged())
        updated = 0
        if existing:
            # Only changed values of clients this source loaded before stay staged to update, unless
            # syncs consolidate those clients.
            cursor.execute(
                f"DELETE FROM {staging} AS s USING {table} AS c WHERE c.id = s.id "  # noqa: S608 - as above
                f"AND (({', '.join(f'c.{quote(n)}' for n in compared)}) "
                f"IS NOT DISTINCT FROM ({', '.join(f's.{quote(n)}' for n in compared)}) "
                f"OR EXISTS (SELECT 1 FROM {quote(SourceRecord._meta.db_table)} r WHERE r.client_id = c.id))"
            )
            updates = [*compared, "search_name", "fetched_at", "updated_at"]
            # The audit trail compares the staged values with the stored ones (before the UPDATE).
            bulk_written(Client, [{"id": client_id} for client_id in existing.values()], updates, staging=staging)
            assignments = ", ".join(f"{quote(name)} = s.{quote(name)}" for name in updates)
            cursor.execute(
                f"UPDATE {table} AS c SET {assignments} FROM {staging} AS s WHERE c.id = s.id"  # noqa: S608 - as above
            )
            updated = cursor.rowcount
        created = 0
        if len(existing) < len(batch):
            # New clients: every other column as a new Client() would have it.
            columns, select, params = [], [], []
            for field in Client._meta.concrete_fields:
                if field.primary_key:
                    continue
                columns.append(quote(field.column))
                if field.column in staged_columns:
                    select.append(f"s.{quote(field.column)}")
                    continue
                if field.attname == "created_at":
                    value = now
                elif field.attname == "source":
                    value = source_key
                elif field.attname == "team_id":
                    value = team_id
                else:
                    value = field.get_db_prep_save(_plain_default(field), connection)
                select.append(f"%s::{field.db_type(connection)}")
                params.append(value)
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - as above
                f"SELECT {', '.join(select)} FROM {staging} AS s WHERE s.id IS NULL RETURNING id",
                params,
            )
            created_ids = [row[0] for row in cursor.fetchall()]
            created = len(created_ids)
            bulk_written(Client, [{"id": client_id} for client_id in created_ids], None)  # "+" rows
        cursor.execute(f"DROP TABLE {staging}")
    return created, updated


def _plain_default(field):
    default = field.get_default()
    return getattr(default, "value", default)  # a TextChoices member: its text


_DEFAULTS = {name: _plain_default(Client._meta.get_field(name)) for name in LOADABLE_FIELDS}


def _load_with_orm(source_key: str, team_id: int, batch, fields: list[str], now: datetime) -> tuple[int, int]:
    record_ids = [row["record_id"] for row in batch]
    existing = {
        client.source_record_id: client
        for client in Client.objects.filter(source=source_key, source_record_id__in=record_ids)
    }
    consolidated = set(
        SourceRecord.objects.filter(client__in=list(existing.values())).values_list("client_id", flat=True)
    )
    compared = [*fields, "source_changed_at"]
    to_create, to_update = [], []
    for row in batch:
        staged = _staged(row, fields)
        client = existing.get(row["record_id"])
        if client is None:
            to_create.append(Client(**staged, source=source_key, team_id=team_id, fetched_at=now))
        elif client.pk not in consolidated and any(getattr(client, name) != staged[name] for name in compared):
            for name in [*compared, "search_name"]:
                setattr(client, name, staged[name])
            client.fetched_at = client.updated_at = now
            to_update.append(client)
    updates = [*compared, "search_name", "fetched_at", "updated_at"]
    # The audit trail: compared with the stored values before the update, the new rows after.
    bulk_written(
        Client,
        [{"id": client.pk, **{name: getattr(client, name) for name in updates}} for client in to_update],
        updates,
    )
    Client.objects.bulk_update(to_update, updates, batch_size=500)
    Client.objects.bulk_create(to_create, batch_size=500)
    bulk_written(Client, [{"id": client.pk} for client in to_create], None)
    return len(to_create), len(to_update)


# --- A file of the whole book ---------------------------------------------------------------------

QUARANTINE_BATCH = 1_000


@dataclass
class FileLoadReport:
    load: BulkLoadReport
    quarantined: int = 0
    resolved: int = 0  # open quarantine entries of earlier loads or syncs whose rows landed this time
    left_out: list[str] = dataclass_field(default_factory=list)  # the mapping's targets that are not client fields


def source_file_bulk_load(*, source, path: str, team_id: int) -> FileLoadReport:
    """Load a CSV file of clients through the bulk load, read with the file source's column mapping.

    The mapping and the id column are the ones the file import saved for `source` (a file source
    whose first, smaller file went through upload, map, preview and apply). The file is read as it
    goes, every cell as text, so a book of a million rows needs no more memory than a batch. A row
    that cannot be read (no id, an id seen before, a value the mapping refuses) is quarantined with
    its reason, as in a sync, and the rest land. Raises BulkLoadError when the file or the mapping
    cannot be used at all.
    """
    rules = mapping_rules(source)
    record_id_column = (source.config or {}).get("record_id_column", "")
    if not rules or not record_id_column:
        raise BulkLoadError(
            f"source {source.key!r} has no column mapping with an id column yet: import a first file "
            "through the file import (upload, map, preview, apply) to set them"
        )
    # A bulk load writes client rows; the mapping's other targets (an income, a loan part) are left
    # out, and said so: the file import or a sync writes those, with precedence and matching.
    client_rules = [rule for rule in rules if rule.target in TARGETS and TARGETS[rule.target][0].key == "client"]
    if not client_rules:
        raise BulkLoadError(f"the mapping of source {source.key!r} has no client fields to load")
    compiled = compile_rules(tuple(client_rules))
    report = FileLoadReport(
        load=BulkLoadReport(), left_out=sorted({rule.target for rule in rules} - {rule.target for rule in client_rules})
    )
    quarantine: list[QuarantinedRecord] = []
    # Records refused by an earlier load or sync and landing now are resolved after the load; only
    # worth collecting when there are any.
    landed: set[str] | None = set() if quarantine_is_open(source_id=source.pk) else None
    refused: set[str] = set()

    def quarantined(record_id: str, data: dict, reason: str) -> None:
        quarantine.append(_quarantine(source, None, record_id, data, reason))
        report.quarantined += 1
        if landed is not None:
            refused.add(record_id)
        if len(quarantine) >= QUARANTINE_BATCH:
            quarantine_store(quarantine)
            quarantine.clear()

    def rows() -> Iterator[dict]:
        first_row_of: dict[str, int] = {}
        with _text_file(path) as text:
            delimiter = _csv_delimiter(text.readline())
            text.seek(0)
            reader = csv.DictReader(text, delimiter=delimiter)
            reader.fieldnames = [name.strip() for name in reader.fieldnames or []]
            if record_id_column not in reader.fieldnames:
                raise BulkLoadError(f"the file has no column {record_id_column!r} (the source's id column)")
            # Per row: each is read and mapped on its own. Rows are numbered as a spreadsheet does
            # (the header is row 1), and the reasons are the file import's.
            for row, cells in enumerate(reader, start=2):
                data = {column: value or "" for column, value in cells.items() if column is not None}
                if not any(value.strip() for value in data.values()):
                    continue  # a blank line
                record_id = data[record_id_column].strip()
                reason = record_id_refusal(
                    row=row, record_id=record_id, record_id_column=record_id_column, first_row_of=first_row_of
                )
                if reason:
                    quarantined(record_id[:MAX_RECORD_ID], data, reason)
                    continue
                first_row_of[record_id] = row
                try:
                    # No change time: the file does not say when a client last changed there.
                    client_row = client_row_from_values(record_id=record_id, values=map_record(data, compiled))
                    if landed is not None:
                        landed.add(record_id)
                    yield client_row
                except MappingError as error:
                    quarantined(record_id, data, _("row %(row)s: %(reason)s") % {"row": row, "reason": error.reason})
                except (BulkLoadError, ValidationError) as error:
                    text_of = "; ".join(getattr(error, "messages", [str(error)]))
                    quarantined(record_id, data, _("row %(row)s: %(reason)s") % {"row": row, "reason": text_of})

    report.load = clients_bulk_load(source_key=source.key, team_id=team_id, rows=rows())
    quarantine_store(quarantine)
    if landed is not None:
        # A record refused on one row and landed on another (an id seen twice) stays open.
        report.resolved = quarantine_resolve_landed(
            source_id=source.pk, record_ids=landed - refused, now=timezone.now()
        )
    return report


@contextmanager
def _text_file(path: str) -> Iterator[io.TextIOBase]:
    """The file as text, in the first of the file import's encodings that reads all of it."""
    for encoding in CSV_ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with open(path, "rb") as raw:
                while chunk := raw.read(1 << 20):
                    decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        with open(path, encoding=encoding, newline="") as text:
            yield text
        return
    raise BulkLoadError("the file is neither UTF-8 nor Windows-1252 text: save it as CSV UTF-8")
