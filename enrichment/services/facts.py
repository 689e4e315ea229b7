"""Derive the facts of many clients and store them: `facts_refresh`.

Set-based: the clients are taken in chunks of up to CHUNK_SIZE. For a chunk, every provider runs once
over all its clients (a few queries each, then pandas), and the facts are written with one
INSERT ... ON CONFLICT DO UPDATE executed for all rows of the chunk. So a chunk costs the same number of
queries whether it holds 50 clients or 10,000, and the whole book costs that times the number of chunks.

A provider that raises for a chunk is run again on halves of it, so the clients it fails for are
found and only their facts from that provider become unknown ("the provider failed"); the rest of the
chunk, and every other provider, carry on. Bisecting stops after ISOLATION_BUDGET extra runs per
provider and chunk (a provider that fails for everyone is not run ten thousand times).
"""

import contextlib
import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

import pandas as pd
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from clients.models import Client

from ..models import ClientFacts
from ..providers import PROVIDER_FAILED, Batch, Derived, Provider, registry

logger = logging.getLogger(__name__)

CHUNK_SIZE = 10_000
ISOLATION_BUDGET = 32

OUT_OF_RANGE = gettext_noop("the derived value is outside what can be stored (check the input data)")

# Facts that cannot be NULL: when unknown they hold this value, and the reason is in `unknown`.
NOT_NULL_DEFAULTS = {
    "household_type": "unknown",
    "open_complaints_over_30_days": 0,
    "open_data_conflicts": 0,
    "stale_field_groups": [],
}


@dataclass
class FactsRefreshReport:
    clients: int = 0
    chunks: int = 0
    # Provider key -> how many clients it failed for (their facts from it are unknown).
    failures: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def clients_per_second(self) -> float:
        return self.clients / self.seconds if self.seconds else 0.0


def facts_refresh(
    *, client_ids: Iterable[int] | None = None, chunk_size: int = CHUNK_SIZE, now: datetime | None = None
) -> FactsRefreshReport:
    """Derive every fact of these clients (None: every current client) and store them.

    Each chunk commits on its own, so a run over a million clients that stops half-way keeps what
    it did, and rows are locked for one chunk at a time only. Facts of clients deleted in their
    source are removed. Returns how many clients were refreshed and which providers failed for whom.
    """
    started = time.monotonic()
    now = now or timezone.now()
    today = timezone.localdate(now)
    report = FactsRefreshReport()
    for ids, by_range in _chunks(client_ids, chunk_size):
        if ids:
            _chunk_refresh(Batch(client_ids=ids, today=today, now=now, by_range=by_range), report)
            report.clients += len(ids)
            report.chunks += 1
    if client_ids is None:
        ClientFacts.objects.filter(client__deleted_at__isnull=False).delete()
    report.seconds = time.monotonic() - started
    return report


def _chunks(client_ids: Iterable[int] | None, chunk_size: int) -> Iterator[tuple[list[int], bool]]:
    """(ids, by_range) per chunk: current clients only, in id order."""
    current = Client.objects.filter(deleted_at__isnull=True)
    if client_ids is None:
        # Keyset over the whole book: each chunk is a range of ids, which providers filter by.
        last = 0
        while True:
            ids = list(current.filter(id__gt=last).order_by("id").values_list("id", flat=True)[:chunk_size])
            if not ids:
                return
            yield ids, True
            last = ids[-1]
    wanted = sorted(set(client_ids))
    for start in range(0, len(wanted), chunk_size):
        requested = wanted[start : start + chunk_size]
        ClientFacts.objects.filter(client_id__in=requested, client__deleted_at__isnull=False).delete()
        yield list(current.filter(id__in=requested).order_by("id").values_list("id", flat=True)), False


def _chunk_refresh(batch: Batch, report: FactsRefreshReport) -> None:
    results: dict[str, Derived] = {}
    for provider in registry():
        derived, failed = _run(provider, batch, budget=[ISOLATION_BUDGET])
        if failed:
            report.failures[provider.key] = report.failures.get(provider.key, 0) + failed
        results[provider.key] = derived
        for output in provider.outputs:
            batch.facts[output] = derived.values[output]
            batch.reasons[output] = derived.reasons[output]
    with transaction.atomic():
        _facts_write(batch, results)


def _run(provider: Provider, batch: Batch, budget: list[int]) -> tuple[Derived, int]:
    """The provider's facts for the batch, and for how many clients it failed (see module docstring)."""
    try:
        # A savepoint: a failed query must not break the transaction a caller may hold.
        with transaction.atomic():
            derived = provider.compute(batch)
        _check(provider, derived, batch)
        return derived, 0
    except Exception:
        if len(batch.client_ids) == 1 or budget[0] <= 0:
            logger.exception(
                "Provider %s failed for %s client(s) (%s...)", provider.key, len(batch.client_ids), batch.client_ids[:5]
            )
            return Derived(batch.index, provider.outputs).fail(PROVIDER_FAILED), len(batch.client_ids)
        logger.warning(
            "Provider %s failed for %s clients; running it on halves to find the failing ones",
            provider.key,
            len(batch.client_ids),
            exc_info=True,
        )
        budget[0] -= 2
        middle = len(batch.client_ids) // 2
        parts = [
            _run(provider, batch.subset(ids), budget) for ids in (batch.client_ids[:middle], batch.client_ids[middle:])
        ]
        return Derived.concat([part for part, _ in parts]), sum(failed for _, failed in parts)


def _check(provider: Provider, derived: Derived, batch: Batch) -> None:
    if tuple(derived.values.columns) != provider.outputs or not derived.values.index.equals(batch.index):
        raise ValueError(f"provider {provider.key} returned other facts or clients than it declares")


# --- Writing --------------------------------------------------------------------------------------


def _integer_range(model_field: models.Field) -> tuple[int, int]:
    low, high = connection.ops.integer_field_range(model_field.get_internal_type())
    return (low if low is not None else -(2**63)), (high if high is not None else 2**63 - 1)


def _column(model_field: models.Field, values: pd.Series) -> tuple[list, list[int]]:
    """A column of derived values as the Python values the field stores (None, or its default, where
    unknown), and the rows whose value the column cannot hold (they become unknown, not a failed write).
    """
    default = NOT_NULL_DEFAULTS.get(model_field.name)
    missing = values.isna().to_numpy()
    if isinstance(model_field, models.DateField):

        def convert(value):
            return value.date() if isinstance(value, datetime) else value if isinstance(value, date) else None

    elif isinstance(model_field, models.BooleanField):
        convert = bool
    elif isinstance(model_field, models.IntegerField):
        low, high = _integer_range(model_field)

        def convert(value):
            number = int(value)
            return number if low <= number <= high else None

    elif isinstance(model_field, models.DecimalField):
        exponent = Decimal(1).scaleb(-model_field.decimal_places)
        limit = Decimal(10) ** (model_field.max_digits - model_field.decimal_places)

        def convert(value):
            amount = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
            return amount.quantize(exponent) if amount.is_finite() and abs(amount) < limit else None

    else:

        def convert(value):
            return value

    stored, out_of_range = [], []
    for row, (value, is_missing) in enumerate(zip(values, missing, strict=True)):
        converted = default if is_missing else convert(value)
        if converted is None and not is_missing:
            out_of_range.append(row)
            converted = default
        stored.append(converted)
    return stored, out_of_range


def _facts_write(batch: Batch, results: dict[str, Derived]) -> None:
    """Upsert one ClientFacts row per client of the batch.

    `unknown` and `provenance` are assembled as JSON text from fragments (the same {"by", "at"} for
    most values): 10,000 rows of 24 facts each would otherwise spend seconds in json.dumps.
    """
    rows = len(batch.client_ids)
    at = batch.now.isoformat()
    columns: dict[str, list] = {}
    provenance_parts: list[list[str]] = []
    unknown_parts: list[list[str | None]] = []
    encoded: dict[str, str] = {}  # reason -> its JSON, encoded once

    for provider in registry():
        derived = results[provider.key]
        for output in provider.outputs:
            stored, out_of_range = _column(ClientFacts._meta.get_field(output), derived.values[output])
            columns[output] = stored
            if out_of_range:
                logger.warning("%s: %s value(s) out of range, stored as unknown", output, len(out_of_range))
                derived.reasons.iloc[out_of_range, derived.reasons.columns.get_loc(output)] = OUT_OF_RANGE
            key = json.dumps(output)
            entry = {"by": provider.key, "at": at}
            parts = [f"{key}: {json.dumps(entry)}"] * rows
            for row, note in enumerate(derived.notes[output]):
                if isinstance(note, dict):
                    parts[row] = f"{key}: {json.dumps({**entry, **note})}"
            provenance_parts.append(parts)
            reasons: list[str | None] = [None] * rows
            unknown_when_stored = output in NOT_NULL_DEFAULTS  # a default, not a value
            for row, (reason, value) in enumerate(zip(derived.reasons[output], stored, strict=True)):
                if isinstance(reason, str) and (value is None or unknown_when_stored):
                    if reason not in encoded:
                        encoded[reason] = json.dumps(reason)
                    reasons[row] = f"{key}: {encoded[reason]}"
            unknown_parts.append(reasons)
    columns["unknown"] = [
        "{" + ", ".join(part for part in parts if part) + "}" for parts in zip(*unknown_parts, strict=True)
    ]
    columns["provenance"] = ["{" + ", ".join(parts) + "}" for parts in zip(*provenance_parts, strict=True)]
    columns["computed_at"] = [batch.now] * rows
    columns["client"] = batch.client_ids
    _upsert(columns, json_texts={"unknown", "provenance"})


def _upsert(columns: dict[str, list], json_texts: set[str]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE of every row of the chunk at once.

    PostgreSQL: the rows are copied (COPY) into a temporary table and upserted from it with one
    INSERT ... SELECT; 10,000 rows take well under a second, where a parameterised statement spends
    seconds quoting values in Python. SQLite runs in-process: one executemany call is its bulk form.
    """
    meta = ClientFacts._meta
    fields = [meta.get_field(name) for name in columns]
    if not columns["client"]:
        return
    quote = connection.ops.quote_name
    names = ", ".join(quote(model_field.column) for model_field in fields)
    updates = ", ".join(
        f"{quote(model_field.column)} = excluded.{quote(model_field.column)}"
        for model_field in fields
        if not model_field.primary_key
    )
    conflict = f"ON CONFLICT ({quote(meta.pk.column)}) DO UPDATE SET {updates}"
    # Table and column names come from the model, quoted; every value is a parameter or copied data.
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _upsert_by_copy(cursor, fields, columns, names, conflict, json_texts)
            return
        prepared = [
            # SQLite keeps JSON as text: the columns already encoded go in as they are.
            columns[name]
            if name in json_texts
            else [model_field.get_db_prep_save(value, connection) for value in columns[name]]
            for name, model_field in zip(columns, fields, strict=True)
        ]
        placeholders = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {quote(meta.db_table)} ({names}) VALUES ({placeholders}) {conflict}"  # noqa: S608
        cursor.executemany(sql, list(zip(*prepared, strict=True)))


def _upsert_by_copy(
    cursor, fields: list[models.Field], columns: dict[str, list], names: str, conflict: str, json_texts: set[str]
) -> None:
    quote = connection.ops.quote_name
    table, staging = quote(ClientFacts._meta.db_table), quote("enrichment_clientfacts_load")
    # Dropped at commit; dropped first too, in case a caller's transaction spans several chunks.
    cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{staging}")
    cursor.execute(f"CREATE TEMPORARY TABLE {staging} (LIKE {table}) ON COMMIT DROP")
    texts = []
    for name, model_field in zip(columns, fields, strict=True):
        values = columns[name]
        if isinstance(model_field, models.JSONField) and name not in json_texts:  # as text: jsonb parses it
            values = [None if value is None else json.dumps(value) for value in values]
        elif isinstance(model_field, models.DateTimeField):
            values = [None if value is None else value.isoformat() for value in values]
        texts.append(values)
    copy_sql = f"COPY {staging} ({names}) FROM STDIN"
    logged = cursor.debug_sql(sql=copy_sql) if hasattr(cursor, "debug_sql") else contextlib.nullcontext()
    with logged, connection.wrap_database_errors, cursor.cursor.copy(copy_sql) as copy:
        for row in zip(*texts, strict=True):
            copy.write_row(row)
    cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} {conflict}")  # noqa: S608
