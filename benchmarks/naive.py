"""The baselines: the same work done the obvious way, one query per lookup and one save() per row.

`record_save_one_by_one` writes a fetched record exactly as the sync engine does for a record of a
single source (its client, its source record, its sync slots, the provenance of every value), but
with the ORM, row by row: what a first implementation of a sync would do. The benchmarks time it on
a sample and extrapolate; a test checks it writes what the engine writes, so the comparison is fair.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from clients.models import Client, LoanPart, Mortgage
from clients.provenance import Provenance
from clients.search import normalise_search_text
from ingestion.connectors.base import SourceRecord as FetchedRecord
from ingestion.mapping import MappingRule, map_record
from ingestion.matching import EMAIL_LINK_THRESHOLD, LINK_THRESHOLD, Person, best_match
from ingestion.models import Source, SourceRecord
from ingestion.services.sync import content_hash
from ingestion.targets import ENTITIES, ENTITY_REQUIRES, TARGETS


def record_save_one_by_one(*, source: Source, record: FetchedRecord, rules: list[MappingRule], now: datetime) -> None:
    values = map_record(record.data, rules)
    digest = content_hash(values, False)
    row = SourceRecord.objects.filter(source_key=source.key, record_id=record.record_id).first()
    if row is not None and row.content_hash == digest:
        row.fetched_at = now
        row.save(update_fields=["fetched_at"])
        return
    person = Person.from_values(values)
    client = None
    if person.email:
        match = best_match(person, list(Client.objects.filter(email=person.email, deleted_at__isnull=True)))
        if match and match[1].score >= EMAIL_LINK_THRESHOLD:
            client = match[0]
    if client is None and (person.birth_date or person.postcode):
        match = best_match(
            person,
            list(
                Client.objects.filter(
                    Q(birth_date=person.birth_date) | Q(postcode=person.postcode), deleted_at__isnull=True
                )
            ),
        )
        if match and match[1].score >= LINK_THRESHOLD:
            client = match[0]
    entry = Provenance(source=source.key, record_id=record.record_id, fetched_at=now, changed_at=record.changed_at)
    if client is None:
        client = Client(
            team_id=source.default_team_id,
            source=source.key,
            source_record_id=record.record_id,
            source_changed_at=record.changed_at,
            fetched_at=now,
        )
    _fields_set(client, "client", values, entry.to_json())
    client.search_name = normalise_search_text(f"{client.first_name} {client.last_name_prefix} {client.last_name}")
    client.save()
    SourceRecord(
        source_key=source.key,
        record_id=record.record_id,
        client=client,
        values=values,
        content_hash=digest,
        changed_at=record.changed_at,
        fetched_at=now,
    ).save()
    slots = {}
    for entity_key in ("employment", "income", "property", "mortgage", "policy", "pension"):
        entity_values = {t: v for t, v in values.items() if t.startswith(f"{entity_key}.")}
        needed = ENTITY_REQUIRES.get(entity_key)
        wanted = bool(entity_values) and (not needed or needed & set(entity_values))
        if entity_key == "mortgage" and any(t.startswith("loan_part.") for t in values):
            wanted = True
        if not wanted:
            continue
        entity = ENTITIES[entity_key]
        slot = entity.model(client=client, sync_slot=entity_key, **entity.defaults)
        _origin_set(slot, source, record, now)
        _fields_set(slot, entity_key, values, entry.to_json())
        slot.save()
        slots[entity_key] = slot
    if any(t.startswith("loan_part.") for t in values):
        part = LoanPart(mortgage=slots.get("mortgage") or Mortgage.objects.get(client=client, sync_slot="mortgage"))
        part.sync_slot = "loan_part"
        _origin_set(part, source, record, now)
        _fields_set(part, "loan_part", values, entry.to_json())
        part.save()


def _origin_set(row, source: Source, record: FetchedRecord, now: datetime) -> None:
    row.source, row.source_record_id = source.key, record.record_id
    row.source_changed_at, row.fetched_at = record.changed_at, now


def _fields_set(row, entity_key: str, values: dict, entry: dict) -> None:
    provenance = dict(row.provenance or {})
    for target, value in values.items():
        entity, field_name = TARGETS[target]
        if entity.key != entity_key:
            continue
        setattr(row, field_name, entity.model._meta.get_field(field_name).to_python(value))
        provenance[field_name] = entry
    row.provenance = provenance


def client_row_save_one_by_one(*, source_key: str, team_id: int, row: dict, now: datetime) -> None:
    """A bulk-load row of a first load the obvious way: one Client and one save() per row.

    No lookup first: without an index on (source, source_record_id) each would scan the client
    table, and the baseline would measure that instead of the save().
    """
    fields = {name: value for name, value in row.items() if name not in ("record_id", "changed_at")}
    Client(
        **fields,
        source=source_key,
        source_record_id=row["record_id"],
        source_changed_at=row.get("changed_at"),
        fetched_at=now,
        team_id=team_id,
    ).save()
