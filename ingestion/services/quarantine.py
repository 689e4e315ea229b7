"""The quarantine as a list of records to fix, one entry per record, not one per time it was read.

A nightly full sync, a webhook, a file loaded twice: each reads a bad record again. Each time it
is refused again, its open entry takes the latest payload and reason, and counts the time; the
back office sees one entry with "refused 12 times since 3 November", not twelve. Each time it is
read and lands (corrected in the CRM), its open entry is resolved, so nobody retries a stale copy
over the newer data.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db.models import F

from clients.bulk import EqualsAny, bulk_update_rows

from ..models import QuarantinedRecord

# Ids per statement: a sync batch's thousands as one array on PostgreSQL, and within SQLite's
# limit of bound parameters.
IDS_PER_STATEMENT = 1_000
UPDATED_FIELDS = ["raw", "raw_text", "reason", "run", "seen_at", "times_seen"]


def quarantine_store(entries: Sequence[QuarantinedRecord]) -> None:
    """Store refused records: a record with an open entry of its source updates that entry, the rest
    are new entries. Entries without a record id (nothing to recognise them by) are always new."""
    latest: dict[tuple[int, str], QuarantinedRecord] = {}  # the last read is the newest
    times: Counter[tuple[int, str]] = Counter()
    record_ids: dict[int, list[str]] = defaultdict(list)  # by source
    anonymous = []
    for entry in entries:
        if not entry.record_id:
            anonymous.append(entry)
            continue
        key = (entry.source_id, entry.record_id)
        if key not in latest:
            record_ids[entry.source_id].append(entry.record_id)
        latest[key] = entry
        times[key] += 1
    updated = []
    for source_id, ids in record_ids.items():
        for start in range(0, len(ids), IDS_PER_STATEMENT):
            stored = QuarantinedRecord.objects.filter(
                EqualsAny(F("record_id"), ids[start : start + IDS_PER_STATEMENT]),
                source_id=source_id,
                status=QuarantinedRecord.Status.OPEN,
            ).only("id", "record_id", "times_seen", "created_at")
            for entry in stored:
                key = (source_id, entry.record_id)
                newer = latest.pop(key)
                newer.pk, newer.created_at = entry.pk, entry.created_at
                newer.times_seen = entry.times_seen + times[key]
                updated.append(newer)
    for key, entry in latest.items():
        entry.times_seen = times[key]
    bulk_update_rows(QuarantinedRecord, updated, UPDATED_FIELDS)  # Django's bulk_update: 1 ms an entry
    QuarantinedRecord.objects.bulk_create([*latest.values(), *anonymous], batch_size=1_000)


def quarantine_resolve_landed(*, source_id: int, record_ids: Iterable[str], now: datetime) -> int:
    """Resolve the open entries of records that were read again and landed; returns how many."""
    record_ids = sorted({record_id for record_id in record_ids if record_id})
    resolved = 0
    for start in range(0, len(record_ids), IDS_PER_STATEMENT):
        resolved += QuarantinedRecord.objects.filter(
            EqualsAny(F("record_id"), record_ids[start : start + IDS_PER_STATEMENT]),
            source_id=source_id,
            status=QuarantinedRecord.Status.OPEN,
        ).update(status=QuarantinedRecord.Status.RESOLVED, resolved_at=now)
    return resolved


def quarantine_is_open(*, source_id: int) -> bool:
    """Whether the source has open entries to resolve (a load skips collecting ids when not)."""
    return QuarantinedRecord.objects.filter(source_id=source_id, status=QuarantinedRecord.Status.OPEN).exists()
