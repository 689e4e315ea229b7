"""Bulk writes that stay fast with many rows and many fields.

Django's `bulk_update` writes one `CASE WHEN id = ... THEN ...` per field and row; with thirty
fields and hundreds of rows, building that SQL costs more than running it (a sync spent 70% of
its time there). `bulk_update_rows` writes `UPDATE ... FROM (VALUES ...)` instead, on PostgreSQL
and on SQLite (3.33+), and falls back to Django's own elsewhere.

For the sync engine's batches of thousands of rows, `rows_insert` and `rows_update` go further on
PostgreSQL: rows travel by COPY (no SQL text to build, quote or parse per value), new rows get their
ids from the table's sequence first so children can be written in the same round, and updates are
copied into a temporary table and applied with one `UPDATE ... FROM`. Elsewhere they use the ORM's
bulk statements. Rows are plain dicts keyed by attname: building a model instance per row costs more
than writing it.
"""

import contextlib
import enum
import gc
import itertools
import json
import sqlite3
from collections.abc import Iterator
from functools import cache
from types import SimpleNamespace

import orjson
from django.db import connection, models
from django.db.models.lookups import In, Lookup

from .audit_hook import bulk_written

BATCH_SIZE = 500
_staging_names = itertools.count(1)


def bulk_update_rows(model: type[models.Model], rows: list[models.Model], field_names: list[str]) -> int:
    """Write `field_names` of `rows` (existing, with primary keys) in a few statements; returns the row count."""
    if not rows:
        return 0
    vendor = connection.vendor
    if vendor not in ("postgresql", "sqlite") or (vendor == "sqlite" and sqlite3.sqlite_version_info < (3, 33)):
        model.objects.bulk_update(rows, field_names, batch_size=BATCH_SIZE)
        return len(rows)
    fields = [model._meta.get_field(name) for name in field_names]
    pk = model._meta.pk
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    for start in range(0, len(rows), BATCH_SIZE):
        batch = rows[start : start + BATCH_SIZE]
        params, tuples = [], []
        for row in batch:
            values = [pk.get_db_prep_save(row.pk, connection)]
            values += [field.get_db_prep_save(getattr(row, field.attname), connection) for field in fields]
            params += values
            tuples.append(values)
        if vendor == "postgresql":
            # VALUES has no column types of its own: cast each placeholder to its column's type.
            casts = [f"%s::{pk.db_type(connection)}"] + [f"%s::{field.db_type(connection)}" for field in fields]
            row_sql = "(" + ", ".join(casts) + ")"
            names = ["pk__", *(f"c{index}" for index in range(len(fields)))]
            assignments = ", ".join(f"{quote(field.column)} = v.c{index}" for index, field in enumerate(fields))
            sql = (
                f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row_sql] * len(batch))}) "  # noqa: S608 - names are quoted model columns; values are parameters
                f"AS v({', '.join(names)}) WHERE {table}.{quote(pk.column)} = v.pk__"
            )
        else:
            row_sql = "(" + ", ".join(["%s"] * (len(fields) + 1)) + ")"
            assignments = ", ".join(
                f"{quote(field.column)} = v.column{index + 2}" for index, field in enumerate(fields)
            )
            sql = (
                f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row_sql] * len(batch))}) AS v "  # noqa: S608 - as above
                f"WHERE {table}.{quote(pk.column)} = v.column1"
            )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    return len(rows)


class EqualsAny(Lookup):
    """`column = ANY(%s)`: thousands of values as one array parameter (PostgreSQL), else `IN (...)`.

    A filter expression, as in `Client.objects.filter(EqualsAny(F("email"), emails))`. With a
    sync batch's thousands of values, `email__in=...` costs more to build (a parameter each, each
    prepared) and for psycopg to parse than the query costs PostgreSQL to run.
    """

    lookup_name = "equals_any"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        if connection.vendor != "postgresql":
            return In(self.lhs, list(self.rhs)).as_sql(compiler, connection)
        lhs, params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        return f"{lhs} = ANY(%s)", [*params, [field.get_db_prep_value(value, connection) for value in self.rhs]]


# --- COPY on PostgreSQL ---------------------------------------------------------------------------


def copy_supported() -> bool:
    return connection.vendor == "postgresql"


def _plain(value):
    # Choices are str *and* Enum: psycopg writes them as text (str comes first in their MRO), but
    # a default is unwrapped once anyway, so nothing depends on that lookup order.
    return value.value if isinstance(value, enum.Enum) else value


# Types json.dumps refuses are refused here too (and so reach json.dumps, which refuses them).
_ORJSON_AS_JSON_DUMPS = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _as_text_json(value):
    """JSON text for a jsonb column: orjson where it writes what json.dumps would mean.

    The sync engine's provenance and values of thousands of rows a batch: json.dumps was a tenth of
    a batch's time. jsonb keeps the meaning, not the text, so orjson's compact UTF-8 is the same
    value. Where orjson refuses (a Decimal, a non-text key, a lone surrogate) or writes `null`
    (which is also how it writes NaN, that json.dumps writes as NaN and PostgreSQL refuses), json.dumps
    decides, exactly as before.
    """
    if value is None:
        return None
    try:
        text = orjson.dumps(value, option=_ORJSON_AS_JSON_DUMPS)
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(value)
    return json.dumps(value) if b"null" in text else text.decode()


def _as_text_datetime(value):
    # psycopg's datetime dumper costs more than the rest of a row; the server parses ISO text quickly.
    return None if value is None else value.isoformat()


@cache
def _copy_converter(field: models.Field):
    """How one field's Python value travels in COPY's text format (None: as it is)."""
    if isinstance(field, models.JSONField):
        return _as_text_json
    if isinstance(field, models.DateTimeField):
        return _as_text_datetime
    if type(field) in (
        models.CharField,
        models.TextField,
        models.EmailField,
        models.SlugField,
        models.DateField,
        models.DecimalField,
        models.BooleanField,
        models.IntegerField,
        models.PositiveIntegerField,
        models.PositiveSmallIntegerField,
        models.BigIntegerField,
        models.BigAutoField,
        models.AutoField,
        models.ForeignKey,
    ):
        return None  # psycopg's own dumpers (str, int, Decimal, date, bool) are what `save()` would send
    # Anything else (an encrypted field, say) is prepared by the field itself.
    return lambda value, field=field: None if value is None else field.get_db_prep_save(value, connection)


def copy_comparable(field: models.Field) -> bool:
    """Whether the stored value of `field` can be compared with a staged one in SQL: false for a
    field that prepares its own value (an encrypted one stores a new ciphertext each time)."""
    return _copy_converter(field) in (None, _as_text_json, _as_text_datetime)


@cache
def _insert_columns(model: type[models.Model]) -> tuple[list[models.Field], dict]:
    """Every concrete column, and the value a row that does not name it gets (as `Model()` would)."""
    fields = list(model._meta.concrete_fields)
    defaults = {}
    for field in fields:
        if field.primary_key or getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            continue
        defaults[field.attname] = _plain(field.get_default())
    return fields, defaults


@cache
def _attnames(model: type[models.Model]) -> frozenset[str]:
    return frozenset(field.attname for field in model._meta.concrete_fields)


def _logged(cursor, sql: str):
    """Log a COPY like any query when queries are logged (DEBUG, tests): psycopg's copy() bypasses it."""
    if connection.queries_logged and hasattr(cursor, "debug_sql"):
        return cursor.debug_sql(sql=sql)
    return contextlib.nullcontext()


def copy_rows(cursor, table: str, fields: list[models.Field], rows: list[dict]) -> None:
    """COPY rows (dicts keyed by attname, every field present) into `table` (PostgreSQL)."""
    quote = connection.ops.quote_name
    sql = f"COPY {quote(table)} ({', '.join(quote(field.column) for field in fields)}) FROM STDIN"
    attnames = [field.attname for field in fields]
    converted = [
        (index, convert) for index, field in enumerate(fields) if (convert := _copy_converter(field)) is not None
    ]
    datetime_texts: dict[int, str] = {}
    with _logged(cursor, sql), connection.wrap_database_errors, cursor.copy(sql) as copy:
        write_row = copy.write_row
        for row in rows:
            values = [row[attname] for attname in attnames]
            for index, convert in converted:
                value = values[index]
                if convert is _as_text_datetime and value is not None:
                    # A batch's datetimes are mostly the same few objects (its `now`, a record's
                    # change time): format each once. Keyed by id(), safe while the rows hold them.
                    text = datetime_texts.get(id(value))
                    if text is None:
                        text = datetime_texts[id(value)] = value.isoformat()
                    values[index] = text
                else:
                    values[index] = convert(value)
            write_row(values)


def copy_tuples(cursor, table: str, columns: list[str], rows) -> None:
    """COPY rows given as tuples of COPY-ready values (text for JSON and datetimes) into `table`."""
    quote = connection.ops.quote_name
    sql = f"COPY {quote(table)} ({', '.join(map(quote, columns))}) FROM STDIN"
    with _logged(cursor, sql), connection.wrap_database_errors, cursor.copy(sql) as copy:
        write_row = copy.write_row
        for row in rows:
            write_row(row)


def ids_reserve(model: type[models.Model], count: int) -> list[int]:
    """The next `count` ids of the model's sequence (PostgreSQL), so children can name their parent."""
    if not count:
        return []
    with connection.cursor() as cursor:
        # The sequence is looked up once, in a sub-select: `nextval(pg_get_serial_sequence(...))`
        # looked it up again for every id, and 20,000 ids took 60 ms instead of 7.
        cursor.execute(
            "SELECT nextval((SELECT pg_get_serial_sequence(%s, %s)::regclass)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, count],
        )
        return [row[0] for row in cursor.fetchall()]


def rows_insert(model: type[models.Model], rows: list[dict], *, now=None) -> list[int]:
    """Insert new rows (dicts keyed by attname; a missing column gets the field's default) and
    return their ids, in order. A row that carries an `id` keeps it.

    PostgreSQL: ids from the sequence, then one COPY. Elsewhere: `bulk_create`. `now` fills
    auto_now(_add) columns the rows leave out, as `save()` would.
    """
    if not rows:
        return []
    pk_name = model._meta.pk.attname
    if not copy_supported():
        objects = [model(**row) for row in rows]
        model.objects.bulk_create(objects, batch_size=BATCH_SIZE)
        if objects[0].pk is None:  # a backend that returns no ids from bulk inserts
            raise RuntimeError(f"{connection.vendor} does not return ids from bulk inserts")
        for row, obj in zip(rows, objects, strict=True):
            row[pk_name] = obj.pk
        bulk_written(model, rows, None)  # the audit trail's history of the new rows
        return [obj.pk for obj in objects]
    fields, defaults = _insert_columns(model)
    missing = [row for row in rows if row.get(pk_name) is None]
    for row, new_id in zip(missing, ids_reserve(model, len(missing)), strict=True):
        row[pk_name] = new_id
    stamps = {
        field.attname: now
        for field in fields
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    }
    if stamps and now is None:
        from django.utils import timezone

        stamps = dict.fromkeys(stamps, timezone.now())
    # Only the rows' own names can be unknown (defaults and stamps are columns); map() keeps it in C.
    unknown = set().union(*map(dict.keys, rows)) - _attnames(model)
    if unknown:  # bulk_create would refuse a misspelt field; COPY would silently leave it out
        raise ValueError(f"{model.__name__} has no fields {sorted(unknown)}")
    complete = [{**defaults, **stamps, **row} for row in rows]
    with connection.cursor() as cursor:
        copy_rows(cursor, model._meta.db_table, fields, complete)
    bulk_written(model, rows, None)  # the audit trail's history of the new rows
    return [row[pk_name] for row in rows]


def rows_update(model: type[models.Model], rows: list[dict], field_names: list[str]) -> int:
    """Write `field_names` of existing rows (dicts with the primary key's attname); returns the count.

    PostgreSQL: COPY into a temporary table shaped like the target's columns, then one
    `UPDATE ... FROM` joined on the primary key. Elsewhere: `bulk_update_rows`. Call it inside a
    transaction (the temporary table lives until the commit at the latest).
    """
    if not rows:
        return 0
    pk = model._meta.pk
    if not copy_supported():
        bulk_written(model, rows, field_names)  # before the UPDATE: the audit trail compares old and new
        objects = [SimpleNamespace(pk=row[pk.attname], **row) for row in rows]
        return bulk_update_rows(model, objects, field_names)
    quote = connection.ops.quote_name
    fields = [pk, *(model._meta.get_field(name) for name in field_names)]
    table = quote(model._meta.db_table)
    staging = f"steward_staging_{next(_staging_names)}"
    columns = ", ".join(quote(field.column) for field in fields)
    assignments = ", ".join(f"{quote(field.column)} = s.{quote(field.column)}" for field in fields[1:])
    with connection.cursor() as cursor:
        # Shaped by the real table, so every value is read with exactly its column's type.
        cursor.execute(
            f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS SELECT {columns} FROM {table} WITH NO DATA"  # noqa: S608 - quoted model names
        )
        copy_rows(cursor, staging, fields, rows)
        # Before the UPDATE: the audit trail compares the staged values with the stored ones.
        bulk_written(model, rows, field_names, staging=staging)
        cursor.execute(
            f"UPDATE {table} SET {assignments} FROM {staging} s WHERE {table}.{quote(pk.column)} = s.{quote(pk.column)}"  # noqa: S608 - as above
        )
        cursor.execute(f"DROP TABLE {staging}")
    return len(rows)


# The cyclic garbage collector's first threshold during bulk work (Python's default: 700).
GC_GEN0_THRESHOLD = 20_000


@contextlib.contextmanager
def collector_relaxed() -> Iterator[None]:
    """Let the cyclic garbage collector skip what was alive before, and run less often (a sync, a bulk load).

    A sync's batch allocates hundreds of thousands of short-lived objects (dicts, tuples, rows) that
    reference counting frees; yet every 700 allocations the collector ran, and every few hundred
    runs it traversed every object of the process (Django, the models, the caches): measured, 29%
    of the engine's CPU in a first sync, three quarters of it in those full passes. Objects alive
    before are moved out of its reach (`gc.freeze`, undone afterwards) and it runs every
    20,000 allocations; the few cycles a batch leaves are still collected, so memory stays bounded
    by the batch. Where the process froze objects itself (a pre-fork server), only the threshold
    changes.
    """
    thresholds = gc.get_threshold()
    freezing = gc.get_freeze_count() == 0
    if freezing:
        gc.freeze()
    gc.set_threshold(max(GC_GEN0_THRESHOLD, thresholds[0]), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if freezing:
            gc.unfreeze()
