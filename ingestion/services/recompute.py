"""Write the unified client view from what the sources say: winners, provenance and conflicts.

For a set of clients, read every live source record (one query), resolve each field by its
source of truth, and write clients and their sync-slot rows in bulk. Set-based: the number of
queries depends on the number of entity kinds, not on the number of clients.
"""

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from clients.bulk import bulk_update_rows
from clients.models import Client, LoanPart, Mortgage
from clients.provenance import Provenance
from clients.search import normalise_search_text

from ..models import DataConflict, FieldPrecedence, SourceRecord
from ..precedence import Candidate, PrecedenceRules
from ..targets import ENTITIES, ENTITY_REQUIRES, TARGETS

CLIENT_OWNED = [key for key, entity in ENTITIES.items() if entity.parent == "client"]


def _python_value(target: str, value):
    """A JSON value from a source record as the model field's Python value."""
    entity, field_name = TARGETS[target]
    return entity.model._meta.get_field(field_name).to_python(value)


def _display(value) -> str:
    if isinstance(value, (Decimal, date, datetime)):
        return str(value)
    return "" if value is None else str(value)


def _candidates_by_client(records: list[SourceRecord]) -> dict[int, dict[str, list[Candidate]]]:
    by_client: dict[int, dict[str, list[Candidate]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        for target, value in record.values.items():
            if target not in TARGETS:
                continue  # a mapping target that no longer exists
            if target == "client.bsn" and not settings.STEWARD_BSN_ENABLED:
                continue  # no legal basis: the BSN is not processed at all
            by_client[record.client_id][target].append(
                Candidate(
                    source=record.source_key,
                    value=value,
                    changed_at=record.changed_at,
                    fetched_at=record.fetched_at,
                    record_id=record.record_id,
                )
            )
    return by_client


def _provenance_entry(candidate: Candidate) -> dict:
    return Provenance(
        source=candidate.source,
        record_id=candidate.record_id,
        fetched_at=candidate.fetched_at,
        changed_at=candidate.changed_at,
    ).to_json()


def _apply_fields(row, entity_key: str, resolved: dict[str, Candidate]) -> bool:
    """Set the winning values of one entity on its row; True when anything changed."""
    changed = False
    provenance = dict(row.provenance or {})
    for target, winner in resolved.items():
        entity, field_name = TARGETS[target]
        if entity.key != entity_key:
            continue
        value = _python_value(target, winner.value)
        if getattr(row, field_name) != value:
            setattr(row, field_name, value)
            changed = True
        entry = _provenance_entry(winner)
        if provenance.get(field_name) != entry:
            provenance[field_name] = entry
            changed = True
    if changed:
        row.provenance = provenance
    return changed


def unified_view_recompute(*, client_ids: set[int], now: datetime | None = None) -> dict[str, int]:
    """Recompute the unified view of these clients from their live source records.

    Returns how many clients changed. Caller holds the transaction (one per page of a sync).
    """
    if not client_ids:
        return {"clients_changed": 0}
    now = now or timezone.now()
    rules = PrecedenceRules.from_models(FieldPrecedence.objects.all())
    all_records = list(SourceRecord.objects.filter(client_id__in=client_ids).order_by("source_key", "record_id"))
    records = [record for record in all_records if record.deleted_at is None]
    candidates = _candidates_by_client(records)
    live_clients = {record.client_id for record in records}
    sourced_clients = {record.client_id for record in all_records}
    clients = {client.pk: client for client in Client.objects.filter(pk__in=client_ids)}

    changed_clients, conflicts = [], []
    resolved_by_client: dict[int, dict[str, Candidate]] = {}
    for client_id, client in clients.items():
        resolved: dict[str, Candidate] = {}
        for target, options in candidates.get(client_id, {}).items():
            resolution = rules.resolve(target, options)
            resolved[target] = resolution.winner
            # One conflict per other source: when a source holds the client twice (a duplicate in
            # the CRM), its most recent differing value stands for it.
            latest_loser: dict[str, Candidate] = {}
            for loser in resolution.losers:
                if loser.source not in latest_loser or loser.changed_at > latest_loser[loser.source].changed_at:
                    latest_loser[loser.source] = loser
            conflicts.extend(
                DataConflict(
                    client_id=client_id,
                    target=target,
                    winning_source=resolution.winner.source,
                    winning_value=_display(resolution.winner.value),
                    other_source=loser.source,
                    other_value=_display(loser.value),
                    other_changed_at=loser.changed_at,
                    detected_at=now,
                )
                for loser in latest_loser.values()
            )
        resolved_by_client[client_id] = resolved
        changed = _apply_fields(client, "client", resolved)
        # A client none of whose source records is live any more was deleted or archived there.
        if client_id in sourced_clients - live_clients and client.deleted_at is None:
            client.deleted_at = now
            changed = True
        elif client_id in live_clients and client.deleted_at is not None:
            client.deleted_at = None
            changed = True
        if changed:
            client.search_name = normalise_search_text(
                f"{client.first_name} {client.last_name_prefix} {client.last_name}"
            )
            client.updated_at = now
            changed_clients.append(client)

    if changed_clients:
        client_fields = sorted({field for entity, field in TARGETS.values() if entity.key == "client"})
        bulk_update_rows(
            Client, changed_clients, [*client_fields, "provenance", "search_name", "updated_at", "deleted_at"]
        )
    _slots_write(resolved_by_client, now)
    DataConflict.objects.filter(client_id__in=client_ids).delete()
    DataConflict.objects.bulk_create(conflicts, batch_size=1000)
    return {"clients_changed": len(changed_clients)}


def _slots_write(resolved_by_client: dict[int, dict[str, Candidate]], now: datetime) -> None:
    """Create, update or retire each client's sync-slot rows (income, property, mortgage...)."""
    client_ids = set(resolved_by_client)
    present = {target.split(".", 1)[0] for resolved in resolved_by_client.values() for target in resolved}
    # An entity no source supplies for these clients needs no work, unless rows of it must retire.
    retiring = set(
        SourceRecord.objects.filter(client_id__in=client_ids, deleted_at__isnull=False).values_list(
            "client_id", flat=True
        )[:1]
    )
    for entity_key in CLIENT_OWNED:
        entity = ENTITIES[entity_key]
        needed_here = entity_key in present or (entity_key == "mortgage" and "loan_part" in present)
        if not needed_here and not retiring:
            continue
        existing = {
            row.client_id: row for row in entity.model.objects.filter(client_id__in=client_ids, sync_slot=entity_key)
        }
        to_create, to_update = [], []
        for client_id, resolved in resolved_by_client.items():
            entity_values = _entity_values(resolved, entity_key)
            needed = ENTITY_REQUIRES.get(entity_key)
            has_values = bool(entity_values) and (not needed or needed & set(entity_values))
            # A mortgage exists for its loan part too: a CRM may know only the fixed-rate end.
            if entity_key == "mortgage" and any(target.startswith("loan_part.") for target in resolved):
                has_values = True
            row = existing.get(client_id)
            if not has_values:
                if row is not None and row.deleted_at is None:
                    row.deleted_at = now
                    to_update.append(row)
                continue
            if row is None:
                row = entity.model(client_id=client_id, sync_slot=entity_key, **entity.defaults)
                # A mortgage made for its loan part takes its origin from the loan part's values.
                _seed_row_provenance(row, entity_values or _entity_values(resolved, "loan_part"))
                _apply_fields(row, entity_key, entity_values)
                to_create.append(row)
            elif _apply_fields(row, entity_key, entity_values) or row.deleted_at is not None:
                row.deleted_at = None
                to_update.append(row)
        entity.model.objects.bulk_create(to_create, batch_size=500)
        if to_update:
            fields = sorted({field for ent, field in TARGETS.values() if ent.key == entity_key})
            bulk_update_rows(entity.model, to_update, [*fields, "provenance", "deleted_at"])
    _loan_parts_write(resolved_by_client, now)


def _loan_parts_write(resolved_by_client: dict[int, dict[str, Candidate]], now: datetime) -> None:
    mortgages = {
        row.client_id: row
        for row in Mortgage.objects.filter(client_id__in=set(resolved_by_client), sync_slot="mortgage")
    }
    existing = {
        part.mortgage_id: part
        for part in LoanPart.objects.filter(mortgage__in=mortgages.values(), sync_slot="loan_part")
    }
    to_create, to_update = [], []
    for client_id, resolved in resolved_by_client.items():
        values = _entity_values(resolved, "loan_part")
        mortgage = mortgages.get(client_id)
        part = existing.get(mortgage.pk) if mortgage else None
        if not values or mortgage is None:
            if part is not None and part.deleted_at is None:
                part.deleted_at = now
                to_update.append(part)
            continue
        if part is None:
            part = LoanPart(mortgage=mortgage, sync_slot="loan_part")
            _seed_row_provenance(part, values)
            _apply_fields(part, "loan_part", values)
            to_create.append(part)
        elif _apply_fields(part, "loan_part", values) or part.deleted_at is not None:
            part.deleted_at = None
            to_update.append(part)
    LoanPart.objects.bulk_create(to_create, batch_size=500)
    if to_update:
        fields = sorted({field for ent, field in TARGETS.values() if ent.key == "loan_part"})
        bulk_update_rows(LoanPart, to_update, [*fields, "provenance", "deleted_at"])


def _entity_values(resolved: dict[str, Candidate], entity_key: str) -> dict[str, Candidate]:
    return {target: winner for target, winner in resolved.items() if target.startswith(f"{entity_key}.")}


def _seed_row_provenance(row, values: dict[str, Candidate]) -> None:
    """A new row's own origin: the record behind the first of its values."""
    first = min(values.values(), key=lambda candidate: (candidate.source, candidate.record_id))
    row.source = first.source
    row.source_record_id = first.record_id
    row.source_changed_at = first.changed_at
    row.fetched_at = first.fetched_at
