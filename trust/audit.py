"""The audit trail: who (or which source) changed what, when, old → new; and nobody can rewrite it.

Saves of the audited models (`trust.audit_models`) are recorded by django-simple-history. The sync
engine writes client data with bulk statements that bypass `save()`; `clients/bulk.py` hands those
rows to `history_record_bulk` (named in settings.STEWARD_BULK_WRITE_AUDIT), which writes one history
row per row that really changed, in bulk: a no-op sync writes none.

Who: the user of `clients.audit_hook.written_by(user=...)` (a service called on someone's behalf),
else the logged-in user of the request (simple-history's middleware), else, for configuration that
records its editor (`updated_by`, set in the same operation), that editor. Which source: for a bulk
write, the source whose value now stands in the changed fields (their provenance), else the row's
own source. A person's edit in Steward has no source.

Immutability: on PostgreSQL every history table of this app refuses UPDATE, DELETE and TRUNCATE
with a trigger (`AUDIT_TRIGGER_SQL`, installed by migration 0002 and after every migrate for
history tables added later). The one way round it is `audit_erasure_allowed()`, for the privacy
step's erasure service only (a legal obligation to erase can outrank keeping the trail).
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.db import connection, models
from django.db.models import F
from django.utils import timezone
from simple_history.models import HistoricalRecords

from clients.audit_hook import write_origin
from clients.bulk import EqualsAny, copy_comparable, rows_insert

logger = logging.getLogger(__name__)

# Bookkeeping that changes with every write but is nobody's change: a bulk write that touches
# only these (a source re-confirmed a value) writes no history row.
AUDIT_IGNORED_FIELDS = frozenset(
    {"updated_at", "created_at", "fetched_at", "source_changed_at", "provenance", "search_name"}
)
# SQLite takes at most 32,766 parameters a statement; PostgreSQL gets the ids as one array.
INSERT_SELECT_BATCH = 5000


def history_model_of(model: type[models.Model]) -> type[models.Model] | None:
    """The history model of an audited model; None for any other (history models included)."""
    manager_name = getattr(model._meta, "simple_history_manager_attribute", None)
    return getattr(model, manager_name).model if manager_name else None


# --- Who and why ----------------------------------------------------------------------------------


def _request_user():
    request = getattr(HistoricalRecords.context, "request", None)
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def history_user_for(*, instance, request=None):
    """The user a save is recorded for (simple-history's `get_user`); see the module docstring."""
    origin = write_origin()
    if origin.user is not None:
        return origin.user
    if request is not None and getattr(request.user, "is_authenticated", False):
        return request.user
    user = _request_user()
    if user is not None:
        return user
    # Configuration that records its editor, set in this operation (a cached, not a stale, value).
    descriptor = getattr(type(instance), "updated_by", None)
    if descriptor is not None and hasattr(descriptor, "is_cached") and descriptor.is_cached(instance):
        return instance.updated_by
    return None


def history_reason_for(*, instance) -> str:
    return write_origin().reason


def history_row_complete(*, history_instance, history_user, **kwargs) -> None:
    """Before a save's history row is written: the source on whose behalf, and the user's name as it is now."""
    history_instance.history_source = write_origin().source
    history_instance.history_username = history_user.get_username() if history_user is not None else ""


# --- Bulk writes ----------------------------------------------------------------------------------


def history_record_bulk(
    *, model: type[models.Model], rows: list, field_names: list[str] | None, staging: str | None = None
) -> int:
    """Record bulk-written rows of an audited model; returns the number of history rows written.

    `field_names` None: the rows were just inserted (they carry their ids); one "+" row each, copied
    by one INSERT ... SELECT from the table itself. Otherwise the rows are about to be updated in
    `field_names`, and each row whose values change in a field other than bookkeeping
    (AUDIT_IGNORED_FIELDS) gets a "~" row with its new state. With `staging` (PostgreSQL: a table
    of the rows' primary keys and new values, see `clients.bulk.rows_update`) that is one
    INSERT ... SELECT comparing the staged values with the stored ones; without, the current values
    are read and compared in Python.
    """
    history = history_model_of(model)
    if history is None or not rows:
        return 0
    origin = write_origin()
    user = origin.user if origin.user is not None else _request_user()
    now = timezone.now()
    if field_names is None:
        return _history_of_inserted(model, history, rows, origin=origin, user=user, now=now)
    if staging is not None and _staged_comparable(model, history, field_names):
        return _history_of_staged(model, history, staging, field_names, origin=origin, user=user, now=now)
    return _history_of_updated(model, history, rows, field_names, origin=origin, user=user, now=now)


def _value_getter(row):
    return dict.__getitem__ if isinstance(row, dict) else getattr


def _history_meta(*, history_type: str, origin, user, now: datetime, source: str) -> dict:
    return {
        "history_date": now,
        "history_type": history_type,
        "history_user_id": user.pk if user is not None else None,
        "history_username": user.get_username() if user is not None else "",
        "history_change_reason": origin.reason or None,
        "history_source": source,
    }


def _history_meta_sql(history, *, history_type: str, origin, user, now: datetime) -> tuple[list[str], list]:
    """The history columns every row of one bulk write shares (all but its source), and their values
    ready for SQL parameters."""
    meta = _history_meta(history_type=history_type, origin=origin, user=user, now=now, source=origin.source)
    columns = [name for name in meta if name != "history_source"]
    date_field = history._meta.get_field("history_date")
    return columns, [
        date_field.get_db_prep_value(now, connection) if name == "history_date" else meta[name] for name in columns
    ]


def _history_of_inserted(model, history, rows, *, origin, user, now) -> int:
    pk = model._meta.pk
    get = _value_getter(rows[0])
    ids = [get(row, pk.attname) for row in rows]
    quote = connection.ops.quote_name
    columns = [field.column for field in history.tracked_fields]
    # The row's own source says where a new row came from, unless the writer said on whose behalf.
    has_source = any(field.attname == "source" for field in history.tracked_fields)
    source_sql = "%s" if origin.source or not has_source else quote("source")
    meta_columns, meta_params = _history_meta_sql(history, history_type="+", origin=origin, user=user, now=now)
    source_params = [origin.source] if source_sql == "%s" else []
    into = ", ".join(quote(column) for column in [*columns, *meta_columns, "history_source"])
    selected = ", ".join([*(quote(column) for column in columns), *(["%s"] * len(meta_columns)), source_sql])
    written = 0
    with connection.cursor() as cursor:
        for start in range(0, len(ids), INSERT_SELECT_BATCH):
            batch = [pk.get_db_prep_value(value, connection) for value in ids[start : start + INSERT_SELECT_BATCH]]
            if connection.vendor == "postgresql":
                where, where_params = f"{quote(pk.column)} = ANY(%s)", [batch]
            else:
                where, where_params = f"{quote(pk.column)} IN ({', '.join(['%s'] * len(batch))})", batch
            cursor.execute(
                f"INSERT INTO {quote(history._meta.db_table)} ({into}) "  # noqa: S608 - quoted model names; values are parameters
                f"SELECT {selected} FROM {quote(model._meta.db_table)} WHERE {where}",
                [*meta_params, *source_params, *where_params],
            )
            written += cursor.rowcount
    return written


def _history_of_updated(model, history, rows, field_names, *, origin, user, now) -> int:
    pk_attname = model._meta.pk.attname
    tracked = [field.attname for field in history.tracked_fields]
    tracked_set = set(tracked)
    written_fields = [model._meta.get_field(name) for name in field_names]
    written = [field.attname for field in written_fields if field.attname in tracked_set]
    compared = [
        (field.name, field.attname)
        for field in written_fields
        if field.attname in tracked_set and field.name not in AUDIT_IGNORED_FIELDS
    ]
    if not compared:
        return 0
    get = _value_getter(rows[0])
    ids = [get(row, pk_attname) for row in rows]
    # First the compared columns only: most rows a sync rewrites changed nothing but bookkeeping, and
    # reading (and decoding) whole rows, provenance JSON and all, is what costs.
    current = {
        values[pk_attname]: values
        for values in model._base_manager.filter(EqualsAny(F("pk"), ids)).values(
            pk_attname, *(attname for _, attname in compared)
        )
    }
    changes: dict = {}
    for row, row_id in zip(rows, ids, strict=True):
        before = current.get(row_id)
        if before is None:
            continue
        changed = [name for name, attname in compared if before[attname] != get(row, attname)]
        if changed:
            changes[row_id] = (row, changed)
    if not changes:
        return 0
    # The rest of each changed row's state: only the columns this write leaves as they are (the
    # written ones come from the rows themselves), so the provenance JSON is not read and decoded
    # again. The row's own source is read either way: it names the change when no field says.
    written_set = set(written)
    unwritten = [attname for attname in tracked if attname not in written_set or attname == "source"]
    snapshots = {
        values[pk_attname]: values
        for values in model._base_manager.filter(EqualsAny(F("pk"), list(changes))).values(
            *dict.fromkeys([pk_attname, *unwritten])
        )
    }
    history_rows = []
    for row_id, (row, changed) in changes.items():
        before = snapshots[row_id]
        after = {attname: get(row, attname) for attname in written}
        source = origin.source or _sources_of(changed, after.get("provenance"), before.get("source", ""))
        history_rows.append(
            {
                **before,
                **after,
                **_history_meta(history_type="~", origin=origin, user=user, now=now, source=source),
            }
        )
    rows_insert(history, history_rows)
    return len(history_rows)


def _staged_comparable(model, history, field_names) -> bool:
    """Whether every written field the trail keeps compares in SQL as it does in Python (an encrypted
    one does not: each write stores a new ciphertext; the BSN, though written, is not kept)."""
    tracked = {field.attname for field in history.tracked_fields}
    written = (model._meta.get_field(name) for name in field_names)
    return all(copy_comparable(field) for field in written if field.attname in tracked)


def _history_of_staged(model, history, staging: str, field_names, *, origin, user, now) -> int:
    """`_history_of_updated` in one statement: the staged rows that differ from the stored ones in a
    compared field, as they will be (written columns from the staging table, the rest as stored).

    Nothing is read into Python, compared there or written back: for a sync's batch that was two
    reads, a comparison per row and a COPY of the history rows. The history's source is worked out
    as `_sources_of` does: the sources that the new provenance names for the changed fields, in
    code-point order, else the row's own source.
    """
    quote = connection.ops.quote_name
    tracked = list(history.tracked_fields)
    tracked_attnames = {field.attname for field in tracked}
    written = [model._meta.get_field(name) for name in field_names]
    written_columns = {field.column for field in written if field.attname in tracked_attnames}
    compared = [
        field for field in written if field.attname in tracked_attnames and field.name not in AUDIT_IGNORED_FIELDS
    ]
    if not compared:
        return 0
    changed = {field.name: f"t.{quote(field.column)} IS DISTINCT FROM s.{quote(field.column)}" for field in compared}
    meta_columns, params = _history_meta_sql(history, history_type="~", origin=origin, user=user, now=now)
    if origin.source:
        source_sql = "%s"
        params.append(origin.source)
    else:
        row_source = "COALESCE(t.\"source\", '')" if "source" in tracked_attnames else "''"
        provenance_written = "provenance" in written_columns
        per_field = []
        for name, is_changed in changed.items():
            if provenance_written:  # the new provenance's entry for the field, if it is one
                per_field.append(
                    f"CASE WHEN {is_changed} THEN CASE WHEN jsonb_typeof(s.provenance -> %s) = 'object' "
                    f"THEN COALESCE(s.provenance -> %s ->> 'source', '') ELSE {row_source} END END"
                )
                params += [name, name]
            else:
                per_field.append(f"CASE WHEN {is_changed} THEN {row_source} END")
        named = ", ".join(per_field)  # quoted column names only; the field names are parameters
        source_sql = (
            'COALESCE((SELECT string_agg(DISTINCT named COLLATE "C", \', \' ORDER BY named COLLATE "C") '  # noqa: S608
            f"FROM unnest(ARRAY[{named}]::text[]) AS named WHERE named <> ''), {row_source})"
        )
    columns = [field.column for field in tracked]
    values = [f"{'s' if column in written_columns else 't'}.{quote(column)}" for column in columns]
    into = ", ".join(quote(column) for column in [*columns, *meta_columns, "history_source"])
    pk_column = quote(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(history._meta.db_table)} ({into}) "  # noqa: S608 - quoted names; values are parameters
            f"SELECT {', '.join(values)}, {', '.join(['%s'] * len(meta_columns))}, {source_sql} "
            f"FROM {quote(model._meta.db_table)} t JOIN {quote(staging)} s ON t.{pk_column} = s.{pk_column} "
            f"WHERE {' OR '.join(changed.values())}",
            params,
        )
        return cursor.rowcount


def _sources_of(changed: list[str], provenance: dict | None, row_source: str) -> str:
    """The sources whose values now stand in the changed fields (a field without its own entry is the row's)."""
    sources = set()
    for name in changed:
        entry = (provenance or {}).get(name)
        sources.add(entry.get("source", "") if isinstance(entry, dict) else row_source)
    return ", ".join(sorted(source for source in sources if source)) or row_source


# --- Immutability (PostgreSQL) --------------------------------------------------------------------

ERASURE_SETTING = "steward.audit_erasure"
# Django's test runner empties every table with one TRUNCATE between tests that commit (browser
# tests); the test settings allow that through this session setting. Production never sets it.
TRUNCATE_SETTING = "steward.audit_allow_truncate"
TRIGGER_FUNCTION = "trust_audit_refuse_change"

AUDIT_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {TRIGGER_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('{ERASURE_SETTING}', true) = 'on' THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        IF TG_OP = 'UPDATE' THEN RETURN NEW; END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'TRUNCATE' AND current_setting('{TRUNCATE_SETTING}', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the audit trail cannot be changed: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def audit_tables() -> list[str]:
    """The history tables of this app (simple-history's, named trust_historical...)."""
    return sorted(table for table in connection.introspection.table_names() if table.startswith("trust_historical"))


def audit_triggers_install(*, schema_editor=None) -> int:
    """Make every trust history table refuse UPDATE, DELETE and TRUNCATE (PostgreSQL; idempotent).

    Run by migration 0002 and after every `migrate`, so a history table added by a later migration
    (a newly audited model) is protected as soon as it exists. Returns the number of tables.
    """
    if connection.vendor != "postgresql":
        return 0
    quote = connection.ops.quote_name
    tables = audit_tables()
    with connection.cursor() as cursor:
        cursor.execute(AUDIT_FUNCTION_SQL)
        for table in tables:
            cursor.execute(
                f"CREATE OR REPLACE TRIGGER trust_audit_immutable BEFORE UPDATE OR DELETE ON {quote(table)} "
                f"FOR EACH ROW EXECUTE FUNCTION {TRIGGER_FUNCTION}()"
            )
            cursor.execute(
                f"CREATE OR REPLACE TRIGGER trust_audit_no_truncate BEFORE TRUNCATE ON {quote(table)} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {TRIGGER_FUNCTION}()"
            )
    return len(tables)


def audit_triggers_remove() -> None:
    if connection.vendor != "postgresql":
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in audit_tables():
            cursor.execute(f"DROP TRIGGER IF EXISTS trust_audit_immutable ON {quote(table)}")
            cursor.execute(f"DROP TRIGGER IF EXISTS trust_audit_no_truncate ON {quote(table)}")
        cursor.execute(f"DROP FUNCTION IF EXISTS {TRIGGER_FUNCTION}()")


@contextmanager
def audit_erasure_allowed(*, reason: str) -> Iterator[None]:
    """Inside this block (and its transaction only) audit rows may be deleted or changed.

    For the privacy step's erasure and retention services alone: a legal duty to erase a person's
    data can outrank keeping the trail. Must run inside `transaction.atomic()`: the permission is a
    transaction-local setting (`SET LOCAL`), gone at commit or rollback whatever happens. Logged.

    What it guards against: every code path of the application (ORM, raw SQL) through its
    connection. A database role that owns the tables could still drop the trigger: in production
    the application's role should not own them (see README, Trust).
    """
    if connection.vendor != "postgresql":
        yield
        return
    if not connection.in_atomic_block:
        raise RuntimeError("audit_erasure_allowed() needs a transaction (transaction.atomic)")
    logger.warning("audit trail erasure allowed: %s", reason)
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, 'on', true)", [ERASURE_SETTING])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, 'off', true)", [ERASURE_SETTING])
