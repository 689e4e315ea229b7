"""The sync engine: pull a source page by page into the unified client view.

Each page is one transaction that writes the page's records, the unified view of the clients they
touch, the quarantine and the resume cursor together. A worker killed mid-sync therefore resumes
exactly after the last committed page, and running a sync twice changes nothing the second time
(records whose content hash did not change are skipped).
"""

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from clients.bulk import bulk_update_rows
from clients.models import Client
from clients.search import normalise_search_text

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
from ..mapping import MappingError, MappingRule, map_record
from ..matching import (
    EMAIL_LINK_THRESHOLD,
    EMAIL_NAME_SIMILARITY,
    LINK_THRESHOLD,
    REVIEW_THRESHOLD,
    Person,
    best_match,
    name_similarity,
)
from ..models import MatchCandidate, QuarantinedRecord, Source, SourceRecord, SyncRun
from .recompute import unified_view_recompute

logger = logging.getLogger(__name__)

# A run whose worker died holds the lock until it is this old without a page committed.
LOCK_STALE_AFTER = timedelta(minutes=10)
# Sources index changes with a lag (HubSpot's search a few seconds): re-read a little before the
# watermark. Records read twice are unchanged and cost nothing.
WATERMARK_OVERLAP = timedelta(minutes=5)


MATCH_FIELDS = ("pk", "first_name", "last_name_prefix", "last_name", "birth_date", "postcode", "email")


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
    payload = json.dumps({"values": values, "archived": archived}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def mapping_rules(source: Source) -> list[MappingRule]:
    return [MappingRule.from_model(mapping) for mapping in source.mappings.all()]


def _quarantine(source: Source, run: SyncRun | None, record_id, raw, reason: str) -> QuarantinedRecord:
    try:
        json.dumps(raw)
        raw_json, raw_text = raw, ""
    except (TypeError, ValueError):
        raw_json, raw_text = None, repr(raw)[:10000]
    return QuarantinedRecord(
        source=source, run=run, record_id=record_id or "", raw=raw_json, raw_text=raw_text, reason=reason
    )


def records_apply(
    *,
    source: Source,
    run: SyncRun | None,
    records: list[FetchedRecord],
    rules: list[MappingRule],
    now: datetime,
) -> PageOutcome:
    """Write a batch of fetched records into the unified view. Caller holds the transaction."""
    outcome = PageOutcome(fetched=len(records))
    mapped: dict[str, tuple[FetchedRecord, dict, str]] = {}
    for record in records:  # per record: reading and mapping is Python work on each payload
        outcome.high_water = max(filter(None, [outcome.high_water, record.changed_at]))
        try:
            values = {} if record.archived else map_record(record.data, rules)
        except MappingError as error:
            outcome.quarantine.append(_quarantine(source, run, record.record_id, record.data, error.reason))
            continue
        mapped[record.record_id] = (record, values, content_hash(values, record.archived))
    outcome.quarantined = len(outcome.quarantine)

    existing = {row.record_id: row for row in SourceRecord.objects.filter(source_key=source.key, record_id__in=mapped)}
    upserts: list[SourceRecord] = []
    unchanged_ids = []
    for record_id, (record, values, digest) in mapped.items():
        row = existing.get(record_id)
        if row is not None and row.content_hash == digest:
            unchanged_ids.append(row.pk)
            continue
        if row is None and record.archived:
            unchanged_ids.append(None)  # archived before we ever saw it: nothing to keep
            continue
        if row is None:
            row = SourceRecord(source_key=source.key, record_id=record_id)
            outcome.created += 1
        else:
            outcome.updated += 1
        row.values, row.content_hash, row.changed_at, row.fetched_at = values, digest, record.changed_at, now
        if record.archived and row.deleted_at is None:
            row.deleted_at = now
            outcome.deleted += 1
        elif not record.archived:
            row.deleted_at = None
        upserts.append(row)
    outcome.unchanged = len(unchanged_ids)
    # "Fetched" means last confirmed by the source, so unchanged records are touched in one UPDATE.
    SourceRecord.objects.filter(pk__in=[pk for pk in unchanged_ids if pk]).update(fetched_at=now)

    new_rows = [row for row in upserts if row.pk is None]
    SourceRecord.objects.bulk_create(new_rows, batch_size=500)
    if len(new_rows) and new_rows[0].pk is None:  # backends that return no ids: read them back
        ids = {
            row.record_id: row.pk
            for row in SourceRecord.objects.filter(source_key=source.key, record_id__in=[r.record_id for r in new_rows])
        }
        for row in new_rows:
            row.pk = ids[row.record_id]
    new_ids = {id(row) for row in new_rows}
    bulk_update_rows(
        SourceRecord,
        [row for row in upserts if id(row) not in new_ids],
        ["values", "content_hash", "changed_at", "fetched_at", "deleted_at"],
    )

    unlinked = [row for row in upserts if row.client_id is None and row.deleted_at is None]
    outcome.in_review = _link_records(source=source, rows=unlinked, now=now)
    affected = {row.client_id for row in upserts if row.client_id}
    unified_view_recompute(client_ids=affected, now=now)
    outcome.changed_client_ids = affected
    return outcome


def changed_clients_hand_off(client_ids: set[int]) -> None:
    """After the page commits, the changed clients flow on to the next steps (enrichment, framework).

    The steps are named in settings.STEWARD_AFTER_SYNC_TASKS as Celery task paths, so this step
    never imports a later one; each task takes a list of client ids.
    """
    if not client_ids:
        return
    ids = sorted(client_ids)
    for task_path in settings.STEWARD_AFTER_SYNC_TASKS:
        task = import_string(task_path)
        transaction.on_commit(lambda task=task: task.delay(ids))


def _link_records(*, source: Source, rows: list[SourceRecord], now: datetime) -> int:
    """Link new records to clients: by email, then by fuzzy score; create clients for the rest.

    Returns how many went to the review queue.
    """
    if not rows:
        return 0
    people = {row.pk: Person.from_values(row.values) for row in rows}
    emails = {person.email for person in people.values() if person.email}
    by_email: dict[str, list[Client]] = {}
    for client in Client.objects.filter(email__in=emails, deleted_at__isnull=True).only(*MATCH_FIELDS):
        by_email.setdefault(client.email.lower(), []).append(client)
    birth_dates = {person.birth_date for person in people.values() if person.birth_date}
    postcodes = {person.postcode for person in people.values() if person.postcode}
    # Candidates for fuzzy matching share a birth date or a postcode (blocking keeps this one query).
    candidates = (
        list(
            Client.objects.filter(
                Q(birth_date__in=birth_dates) | Q(postcode__in=postcodes), deleted_at__isnull=True
            ).only("pk", "first_name", "last_name_prefix", "last_name", "birth_date", "postcode", "email")
        )
        if (birth_dates or postcodes)
        else []
    )

    by_birth_date: dict = {}
    by_postcode: dict = {}
    for client in candidates:
        by_birth_date.setdefault(client.birth_date, []).append(client)
        by_postcode.setdefault(client.postcode, []).append(client)

    to_link, to_create, reviews = [], [], []
    for row in rows:
        person = people[row.pk]
        email_matches = by_email.get(person.email, []) if person.email else []
        # The same email is a deterministic key only for the same person: partners often share one.
        email_match = best_match(person, email_matches)
        if email_match and (
            email_match[1].score >= EMAIL_LINK_THRESHOLD
            or name_similarity(person, email_match[0]) >= EMAIL_NAME_SIMILARITY
        ):
            row.client_id = email_match[0].pk
            to_link.append(row)
            continue
        pool = list(
            {
                client.pk: client
                for client in [*by_birth_date.get(person.birth_date, ()), *by_postcode.get(person.postcode, ())]
            }.values()
        )
        best = best_match(person, pool)
        if best and best[1].score >= LINK_THRESHOLD:
            row.client_id = best[0].pk
            to_link.append(row)
        elif best and best[1].score >= REVIEW_THRESHOLD:
            reviews.append(
                MatchCandidate(source_record=row, client=best[0], score=best[1].score, reasons=best[1].reasons)
            )
        else:
            to_create.append(row)

    new_clients = [_client_from_record(source, row, now) for row in to_create]
    Client.objects.bulk_create(new_clients, batch_size=500)
    for row, client in zip(to_create, new_clients, strict=True):
        row.client_id = client.pk
    bulk_update_rows(SourceRecord, [*to_link, *to_create], ["client"])
    MatchCandidate.objects.bulk_create(reviews, ignore_conflicts=True)
    return len(reviews)


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


def page_apply(*, source: Source, run: SyncRun, page: Page, rules: list[MappingRule], now: datetime) -> PageOutcome:
    """Apply one page and checkpoint the cursor, in one transaction.

    If the page as a whole hits a database error, each record is retried alone in a savepoint so
    that one bad record is quarantined with the error while the rest lands.
    """
    rejected = [_quarantine(source, run, item.record_id, item.raw, item.reason) for item in page.rejected]
    with transaction.atomic():
        try:
            with transaction.atomic():
                outcome = records_apply(source=source, run=run, records=page.records, rules=rules, now=now)
        except DatabaseError:
            logger.warning("page of %s failed as a whole; applying record by record", source.key, exc_info=True)
            outcome = PageOutcome()
            for record in page.records:
                try:
                    with transaction.atomic():
                        outcome.add(records_apply(source=source, run=run, records=[record], rules=rules, now=now))
                except DatabaseError as error:
                    outcome.fetched += 1
                    outcome.quarantine.append(
                        _quarantine(source, run, record.record_id, record.data, f"database refused: {error}")
                    )
                    outcome.quarantined += 1
        changed_clients_hand_off(outcome.changed_client_ids)
        outcome.quarantine.extend(rejected)
        outcome.fetched += len(rejected)
        outcome.quarantined += len(rejected)
        QuarantinedRecord.objects.bulk_create(outcome.quarantine)

        high_water = max(filter(None, [source.resume_high_water, outcome.high_water]), default=None)
        Source.objects.filter(pk=source.pk).update(
            resume_cursor=page.next_cursor or "", resume_high_water=high_water, locked_at=now
        )
        source.resume_cursor, source.resume_high_water = page.next_cursor or "", high_water
        SyncRun.objects.filter(pk=run.pk).update(
            pages=F("pages") + 1,
            fetched=F("fetched") + outcome.fetched,
            created=F("created") + outcome.created,
            updated=F("updated") + outcome.updated,
            unchanged=F("unchanged") + outcome.unchanged,
            deleted=F("deleted") + outcome.deleted,
            quarantined=F("quarantined") + outcome.quarantined,
            in_review=F("in_review") + outcome.in_review,
            cursor_after=page.next_cursor or "",
        )
    return outcome


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
        while True:
            page = connector.fetch_page(cursor, since if cursor is None else None)
            if run.expected_records is None and getattr(page, "total", None):
                SyncRun.objects.filter(pk=run.pk).update(expected_records=page.total)
            page_apply(source=source, run=run, page=page, rules=rules, now=timezone.now())
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
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
