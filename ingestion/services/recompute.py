"""Write the unified client view from what the sources say: winners, provenance and conflicts.

For a set of clients, read every live source record (one query), resolve each field by its
source of truth, and write clients and their sync-slot rows in bulk. Set-based: the number of
queries depends on the number of entity kinds, not on the number of clients.

Rows travel as plain dicts keyed by attname: a sync batch touches thousands of rows, and building
a model instance per row costs more than writing it. A batch's *fresh* clients (first seen in it)
are resolved in memory from the records that created them and written once, complete: nothing of
theirs is read back or written twice (`fresh_client_resolve`, `fresh_clients_insert`).
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any, NamedTuple

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from clients.bulk import EqualsAny, rows_insert, rows_update
from clients.models import Client, LoanPart, Mortgage
from clients.provenance import Provenance
from trust.privacy_bsn import bsn_blind_index, bsn_mask, bsn_unseal

from ..matching import normalised_name
from ..models import DataConflict, FieldPrecedence, SourceRecord
from ..precedence import Candidate, PrecedenceRules
from ..targets import ENTITIES, ENTITY_REQUIRES, TARGETS

CLIENT_OWNED = [key for key, entity in ENTITIES.items() if entity.parent == "client"]
search_text = normalised_name  # normalise_search_text, fast (see there)


@dataclass(slots=True)
class RecordFacts:
    """What the recompute reads of a source record."""

    client_id: int | None
    source_key: str
    record_id: str
    values: dict
    changed_at: datetime
    fetched_at: datetime
    deleted_at: datetime | None = None


RECORD_FACTS = ("client_id", "source_key", "record_id", "values", "changed_at", "fetched_at", "deleted_at")


@dataclass(eq=False)
class FreshClient:
    """A client first seen in a sync batch, made from its records (in practice: one)."""

    row: dict  # attname -> value; "id" once inserted
    records: list[RecordFacts]
    resolved: dict[str, dict[str, Candidate]] = field(default_factory=dict)  # winners by entity and target
    conflicts: list[dict] = field(default_factory=list)
    changed: bool = False

    @property
    def pk(self) -> int | None:
        return self.row.get("id")


# --- Fields ---------------------------------------------------------------------------------------


@cache
def _entity_fields(entity_key: str) -> tuple[str, ...]:
    return tuple(sorted(name for entity, name in TARGETS.values() if entity.key == entity_key))


@cache
def _target_field(target: str):
    entity, field_name = TARGETS[target]
    return field_name, entity.model._meta.get_field(field_name)


@cache
def _target_entity(target: str) -> str:
    return TARGETS[target][0].key


@lru_cache(maxsize=16_384)
def _python_value_cached(target: str, kind: type, value):
    return _target_field(target)[1].to_python(value)


def _python_value(target: str, value):
    """A JSON value from a source record as the model field's Python value (dates, amounts...).

    Remembered: birth dates, amounts and dates repeat across a book. The type is part of the key,
    since True == 1 == 1.0; a list or object (unhashable) is converted every time.
    """
    try:
        return _python_value_cached(target, type(value), value)
    except TypeError:
        return _target_field(target)[1].to_python(value)


def _display(value) -> str:
    if isinstance(value, (Decimal, date, datetime)):
        return str(value)
    return "" if value is None else str(value)


def precedence_rules() -> PrecedenceRules:
    return PrecedenceRules.from_models(FieldPrecedence.objects.all())


# --- Resolving ------------------------------------------------------------------------------------


class _Value(NamedTuple):
    """A `precedence.Candidate` with the same fields, as a tuple: a recompute makes one per value
    of every record it reads, and a frozen dataclass costs several times more to create."""

    source: str
    value: Any
    changed_at: datetime
    fetched_at: datetime
    record_id: str


def _candidates(records: Iterable[RecordFacts]) -> dict[str, dict[str, list[Candidate]]]:
    """Every value of the records, as candidates by entity ("client", "income"...) and target."""
    by_entity: dict[str, dict[str, list[Candidate]]] = {}
    bsn_enabled = settings.STEWARD_BSN_ENABLED
    for record in records:
        for target, value in record.values.items():
            if target not in TARGETS:
                continue  # a mapping target that no longer exists
            if target == "client.bsn":
                if not bsn_enabled:
                    continue  # no legal basis: the BSN is not processed at all
                value = bsn_unseal(value)  # sealed at rest in the record (trust/privacy_bsn.py)
            candidate = _Value(record.source_key, value, record.changed_at, record.fetched_at, record.record_id)
            by_entity.setdefault(_target_entity(target), {}).setdefault(target, []).append(candidate)
    return by_entity


def _resolve(
    candidates: dict[str, dict[str, list[Candidate]]], rules: PrecedenceRules, now: datetime
) -> tuple[dict[str, dict[str, Candidate]], list[dict]]:
    """The winner of every target, by entity, and a conflict row (without client) per disagreeing other source."""
    resolved: dict[str, dict[str, Candidate]] = {}
    conflicts: list[dict] = []
    for entity_key, targets in candidates.items():
        winners = resolved[entity_key] = {}
        for target, options in targets.items():
            if len(options) == 1:
                winners[target] = options[0]  # alone, it wins and nobody disagrees
                continue
            resolution = rules.resolve(target, options)
            winners[target] = resolution.winner
            # One conflict per other source: when a source holds the client twice (a duplicate in
            # the CRM), its most recent differing value stands for it.
            latest_loser: dict[str, Candidate] = {}
            for loser in resolution.losers:
                if loser.source not in latest_loser or loser.changed_at > latest_loser[loser.source].changed_at:
                    latest_loser[loser.source] = loser
            # A conflict about the BSN is shown, and stored, with its last four digits only.
            shown = bsn_mask if target == "client.bsn" else _display
            conflicts.extend(
                {
                    "target": target,
                    "winning_source": resolution.winner.source,
                    "winning_value": shown(resolution.winner.value),
                    "other_source": loser.source,
                    "other_value": shown(loser.value),
                    "other_changed_at": loser.changed_at,
                    "detected_at": now,
                }
                for loser in latest_loser.values()
            )
    return resolved, conflicts


def _provenance_entry(candidate: Candidate, entries: dict) -> dict:
    # Every field a record wins shares one entry: build it once per record.
    key = (candidate.source, candidate.record_id, candidate.fetched_at, candidate.changed_at)
    entry = entries.get(key)
    if entry is None:
        entry = entries[key] = Provenance(
            source=candidate.source,
            record_id=candidate.record_id,
            fetched_at=candidate.fetched_at,
            changed_at=candidate.changed_at,
        ).to_json()
    return entry


def _apply_fields(row: dict, resolved: dict[str, Candidate], entries: dict) -> bool:
    """Set the winning values of one entity (`resolved` holds its targets only); True when anything changed."""
    changed = False
    provenance = dict(row.get("provenance") or {})
    for target, winner in resolved.items():
        field_name = _target_field(target)[0]
        value = _python_value(target, winner.value)
        if row[field_name] != value:
            row[field_name] = value
            changed = True
        entry = _provenance_entry(winner, entries)
        if provenance.get(field_name) != entry:
            provenance[field_name] = entry
            changed = True
    if changed:
        row["provenance"] = provenance
    return changed


def _client_apply(
    row: dict, resolved: dict[str, dict[str, Candidate]], live: bool | None, entries: dict, now: datetime
) -> bool:
    """Apply the winners to a client row; `live` says whether any of its source records is (None: it has none)."""
    changed = _apply_fields(row, resolved.get("client", {}), entries)
    # A client none of whose source records is live any more was deleted or archived there.
    if live is False and row["deleted_at"] is None:
        row["deleted_at"] = now
        changed = True
    elif live and row["deleted_at"] is not None:
        row["deleted_at"] = None
        changed = True
    if changed:
        row["search_name"] = search_text(f"{row['first_name']} {row['last_name_prefix']} {row['last_name']}")
        row["bsn_blind_index"] = bsn_blind_index(row["bsn"])  # BSN search (trust/privacy_bsn.py)
        row["updated_at"] = now
    return changed


# --- Fresh clients --------------------------------------------------------------------------------


@cache
def _model_defaults(model, names: tuple[str, ...]) -> dict:
    return {name: model._meta.get_field(name).get_default() for name in names}


def fresh_client_resolve(fresh: FreshClient, rules: PrecedenceRules, now: datetime, entries: dict) -> None:
    """Resolve a fresh client's row from its records, in memory: as the recompute after its insert would."""
    fresh.row = {
        **_model_defaults(Client, _entity_fields("client")),
        "provenance": {},
        "deleted_at": None,
        **fresh.row,
    }
    live = [record for record in fresh.records if record.deleted_at is None]
    fresh.resolved, fresh.conflicts = _resolve(_candidates(live), rules, now)
    fresh.changed = _client_apply(fresh.row, fresh.resolved, bool(live), entries, now)


def fresh_clients_insert(fresh: Sequence[FreshClient], now: datetime) -> None:
    """Write the fresh clients, complete, in one bulk statement; each gets its id."""
    rows_insert(Client, [client.row for client in fresh], now=now)
    for client in fresh:
        for record in client.records:
            record.client_id = client.pk


# --- The unified view -----------------------------------------------------------------------------


def unified_view_recompute(*, client_ids: set[int], now: datetime | None = None) -> dict[str, int]:
    """Recompute the unified view of these clients from their live source records.

    Returns how many clients changed. Caller holds the transaction (one per page of a sync).
    """
    return unified_view_write(client_ids=set(client_ids), now=now or timezone.now())


def unified_view_write(
    *,
    client_ids: set[int],
    now: datetime,
    fresh: Sequence[FreshClient] = (),
    rules: PrecedenceRules | None = None,
    entries: dict | None = None,
) -> dict[str, int]:
    """Recompute the clients in `client_ids` (read from the database), and write the sync slots and
    conflicts of those and of the `fresh` clients (resolved and inserted already)."""
    if not client_ids and not fresh:
        return {"clients_changed": 0}
    rules = rules or precedence_rules()
    entries = {} if entries is None else entries
    resolved_by_client: dict[int, dict[str, dict[str, Candidate]]] = {client.pk: client.resolved for client in fresh}
    conflicts = [{**conflict, "client_id": client.pk} for client in fresh for conflict in client.conflicts]
    changed_clients: list[dict] = []
    retiring = False
    if client_ids:
        all_records = [
            RecordFacts(*values)
            for values in SourceRecord.objects.filter(EqualsAny(F("client_id"), client_ids))
            .order_by("source_key", "record_id")
            .values_list(*RECORD_FACTS)
        ]
        records = [record for record in all_records if record.deleted_at is None]
        retiring = len(records) < len(all_records)
        by_client: dict[int, list[RecordFacts]] = defaultdict(list)
        for record in records:
            by_client[record.client_id].append(record)
        sourced_clients = {record.client_id for record in all_records}
        client_fields = _entity_fields("client")
        for row in Client.objects.filter(EqualsAny(F("pk"), client_ids)).values(
            "id", *client_fields, "provenance", "deleted_at"
        ):
            client_id = row["id"]
            resolved, client_conflicts = _resolve(_candidates(by_client.get(client_id, ())), rules, now)
            resolved_by_client[client_id] = resolved
            conflicts.extend({**conflict, "client_id": client_id} for conflict in client_conflicts)
            live = client_id in by_client if client_id in sourced_clients else None
            if _client_apply(row, resolved, live, entries, now):
                changed_clients.append(row)
        rows_update(
            Client,
            changed_clients,
            [*client_fields, "provenance", "search_name", "bsn_blind_index", "updated_at", "deleted_at"],
        )
    _slots_write(resolved_by_client, existing_ids=client_ids, retiring=retiring, now=now, entries=entries)
    if client_ids:
        DataConflict.objects.filter(EqualsAny(F("client_id"), client_ids)).delete()
    rows_insert(DataConflict, conflicts)
    return {"clients_changed": len(changed_clients) + sum(client.changed for client in fresh)}


def _slots_write(
    by_entity: dict[int, dict[str, dict[str, Candidate]]],
    *,
    existing_ids: set[int],
    retiring: bool,
    now: datetime,
    entries: dict,
) -> None:
    """Create, update or retire each client's sync-slot rows (income, property, mortgage...).

    `by_entity` holds each client's winners by entity and target. Only clients in `existing_ids`
    can have rows already; fresh clients' rows are all new.
    """
    present = {entity_key for split in by_entity.values() for entity_key in split}
    mortgages: dict[int, dict] = {}
    for entity_key in CLIENT_OWNED:
        entity = ENTITIES[entity_key]
        fields = _entity_fields(entity_key)
        # An entity no source supplies for these clients needs no work, unless rows of it must retire.
        needed_here = entity_key in present or (entity_key == "mortgage" and "loan_part" in present)
        if not needed_here and not retiring:
            if entity_key == "mortgage" and existing_ids:
                mortgages = _slot_rows(Mortgage, existing_ids, "mortgage")
            continue
        existing = _slot_rows(entity.model, existing_ids, entity_key) if existing_ids else {}
        to_create, to_update = [], []
        needed = ENTITY_REQUIRES.get(entity_key)
        for client_id, split in by_entity.items():
            entity_values = split.get(entity_key, {})
            has_values = bool(entity_values) and (not needed or needed & set(entity_values))
            # A mortgage exists for its loan part too: a CRM may know only the fixed-rate end.
            if entity_key == "mortgage" and "loan_part" in split:
                has_values = True
            row = existing.get(client_id)
            if not has_values:
                if row is not None and row["deleted_at"] is None:
                    row["deleted_at"] = now
                    to_update.append(row)
                continue
            if row is None:
                row = {
                    **_model_defaults(entity.model, fields),
                    "client_id": client_id,
                    "sync_slot": entity_key,
                    "provenance": {},
                    "deleted_at": None,
                    **entity.defaults,
                }
                # A mortgage made for its loan part takes its origin from the loan part's values.
                _seed_row_provenance(row, entity_values or split.get("loan_part", {}))
                _apply_fields(row, entity_values, entries)
                to_create.append(row)
                existing[client_id] = row
            elif _apply_fields(row, entity_values, entries) or row["deleted_at"] is not None:
                row["deleted_at"] = None
                to_update.append(row)
        rows_insert(entity.model, to_create, now=now)
        rows_update(entity.model, to_update, [*fields, "provenance", "deleted_at"])
        if entity_key == "mortgage":
            mortgages = existing
    _loan_parts_write(by_entity, mortgages, now=now, entries=entries)


def _slot_rows(model, client_ids: set[int], slot: str) -> dict[int, dict]:
    """The sync-slot rows of these clients, by client (retired ones too)."""
    fields = _entity_fields(slot)
    return {
        row["client_id"]: row
        for row in model.objects.filter(EqualsAny(F("client_id"), client_ids), sync_slot=slot).values(
            "id", "client_id", *fields, "provenance", "deleted_at"
        )
    }


def _loan_parts_write(
    by_entity: dict[int, dict[str, dict[str, Candidate]]], mortgages: dict[int, dict], *, now: datetime, entries: dict
) -> None:
    fields = _entity_fields("loan_part")
    existing = {
        row["mortgage_id"]: row
        for row in LoanPart.objects.filter(
            EqualsAny(F("mortgage_id"), [mortgage["id"] for mortgage in mortgages.values()]), sync_slot="loan_part"
        ).values("id", "mortgage_id", *fields, "provenance", "deleted_at")
    }
    to_create, to_update = [], []
    for client_id, split in by_entity.items():
        values = split.get("loan_part", {})
        mortgage = mortgages.get(client_id)
        part = existing.get(mortgage["id"]) if mortgage else None
        if not values or mortgage is None:
            if part is not None and part["deleted_at"] is None:
                part["deleted_at"] = now
                to_update.append(part)
            continue
        if part is None:
            part = {
                **_model_defaults(LoanPart, fields),
                "mortgage_id": mortgage["id"],
                "sync_slot": "loan_part",
                "provenance": {},
                "deleted_at": None,
            }
            _seed_row_provenance(part, values)
            _apply_fields(part, values, entries)
            to_create.append(part)
        elif _apply_fields(part, values, entries) or part["deleted_at"] is not None:
            part["deleted_at"] = None
            to_update.append(part)
    rows_insert(LoanPart, to_create, now=now)
    rows_update(LoanPart, to_update, [*fields, "provenance", "deleted_at"])


def _seed_row_provenance(row: dict, values: dict[str, Candidate]) -> None:
    """A new row's own origin: the record behind the first of its values."""
    first = min(values.values(), key=lambda candidate: (candidate.source, candidate.record_id))
    row["source"] = first.source
    row["source_record_id"] = first.record_id
    row["source_changed_at"] = first.changed_at
    row["fetched_at"] = first.fetched_at
