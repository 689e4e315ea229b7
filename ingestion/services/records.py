"""What people do with source data: correct a value, fix a quarantined record, decide a match."""

import json
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clients.audit_hook import written_by
from clients.models import Client
from clients.provenance import CLIENT, MANUAL
from trust.privacy_bsn import source_values_protect
from trust.privacy_sealed import personal_values_restore

from ..connectors.base import SourceRecord as FetchedRecord
from ..connectors.base import parse_iso_datetime
from ..mapping import MappingError, field_value_check, to_json_value, value_normalise
from ..models import MatchCandidate, QuarantinedRecord, Source, SourceRecord
from .recompute import unified_view_recompute
from .sync import _client_from_record, changed_clients_hand_off, content_hash, mapping_rules, records_apply


def _personal_record_save(*, source_key: str, client: Client, values: dict, now: datetime) -> SourceRecord:
    record, _ = SourceRecord.objects.select_for_update().get_or_create(
        source_key=source_key,
        record_id=f"client-{client.pk}",
        defaults={"client": client, "values": {}, "content_hash": "", "changed_at": now, "fetched_at": now},
    )
    record.values = source_values_protect({**record.values, **values})  # a BSN sealed (trust/privacy_bsn.py)
    record.content_hash = content_hash(record.values, False)
    record.changed_at = record.fetched_at = now
    record.deleted_at = None
    record.save()
    unified_view_recompute(client_ids={client.pk}, now=now)
    changed_clients_hand_off({client.pk})
    return record


@transaction.atomic
def client_value_correct(*, client: Client, target: str, value, user) -> SourceRecord:
    """An advisor's correction of one field: a source of its own ("manual") with its own precedence.

    By default a manual correction outranks every system, so a later sync never silently overwrites
    it; the system's differing value shows as a data conflict instead.
    """
    try:
        cleaned = field_value_check(target, value_normalise(target, value))
    except (ValidationError, ValueError) as error:
        messages = error.messages if isinstance(error, ValidationError) else [str(error)]
        raise ValidationError({target: messages}) from error
    with written_by(user=user):  # the audit trail names the advisor
        return _personal_record_save(
            source_key=MANUAL, client=client, values={target: to_json_value(cleaned)}, now=timezone.now()
        )


@transaction.atomic
def client_answers_record(*, client: Client, values: dict) -> SourceRecord:
    """The client's own confirmed or corrected values (source "client"), after back-office review."""
    cleaned = {
        target: to_json_value(field_value_check(target, value_normalise(target, value)))
        for target, value in values.items()
    }
    return _personal_record_save(source_key=CLIENT, client=client, values=cleaned, now=timezone.now())


@transaction.atomic
def quarantined_record_retry(*, quarantined: QuarantinedRecord, raw: dict | None = None) -> QuarantinedRecord:
    """Apply a quarantined record again, optionally corrected; it stays open with the new reason if it still fails.

    The page shows the record with BSNs and IBANs masked: values sent back still masked are the
    stored ones (trust.privacy_sealed.personal_values_restore), so nothing is lost by correcting.
    """
    source = quarantined.source
    if raw is None:
        data = quarantined.raw
    else:
        original = quarantined.raw if quarantined.raw is not None else quarantined.raw_text
        data = personal_values_restore(raw, original)
    if not isinstance(data, dict):
        quarantined.reason = "the record is not a JSON object; correct it before retrying"
        quarantined.save(update_fields=["reason"])
        return quarantined
    changed_at = timezone.now()
    for key in ("updatedAt", "changed_at", "lastmodifieddate"):
        if isinstance(data.get(key), str):
            try:
                changed_at = parse_iso_datetime(data[key])
                break
            except ValueError:
                continue
    record = FetchedRecord(
        record_id=quarantined.record_id or f"quarantine-{quarantined.pk}",
        changed_at=changed_at,
        archived=False,
        data=data,
    )
    outcome = records_apply(source=source, run=None, records=[record], rules=mapping_rules(source), now=timezone.now())
    if outcome.quarantine:
        quarantined.raw = data
        quarantined.reason = outcome.quarantine[0].reason
        quarantined.save(update_fields=["raw", "reason"])
        return quarantined
    quarantined.raw = data
    quarantined.status = QuarantinedRecord.Status.RETRIED
    quarantined.resolved_at = timezone.now()
    quarantined.save(update_fields=["raw", "status", "resolved_at"])
    return quarantined


@transaction.atomic
def quarantined_record_dismiss(*, quarantined: QuarantinedRecord) -> None:
    quarantined.status = QuarantinedRecord.Status.DISMISSED
    quarantined.resolved_at = timezone.now()
    quarantined.save(update_fields=["status", "resolved_at"])


@transaction.atomic
def match_candidate_decide(*, candidate: MatchCandidate, link: bool, user) -> Client:
    """Link the record to the suggested client, or keep them apart (the record becomes a new client)."""
    candidate = MatchCandidate.objects.select_for_update().select_related("source_record").get(pk=candidate.pk)
    if candidate.status != MatchCandidate.Status.PENDING:
        raise ValidationError("This match was already decided.")
    now = timezone.now()
    record = candidate.source_record
    if link:
        client = candidate.client
        candidate.status = MatchCandidate.Status.LINKED
    else:
        source = Source.objects.get(key=record.source_key)
        client = _client_from_record(source, record, now)
        client.save()
        candidate.status = MatchCandidate.Status.KEPT_APART
    record.client = client
    record.save(update_fields=["client"])
    candidate.decided_by, candidate.decided_at = user, now
    candidate.save(update_fields=["status", "decided_by", "decided_at"])
    # Other suggestions for the same record are moot now.
    MatchCandidate.objects.filter(source_record=record, status=MatchCandidate.Status.PENDING).exclude(
        pk=candidate.pk
    ).update(status=MatchCandidate.Status.KEPT_APART, decided_by=user, decided_at=now)
    with written_by(user=user):  # the audit trail names who decided
        unified_view_recompute(client_ids={client.pk}, now=now)
    changed_clients_hand_off({client.pk})
    return client


def quarantine_raw_from_text(text: str) -> dict:
    """Parse the corrected JSON a person typed on the quarantine page."""
    try:
        data = json.loads(text)
    except ValueError as error:
        raise MappingError(f"not valid JSON: {error}") from error
    if not isinstance(data, dict):
        raise MappingError("a record must be a JSON object")
    return data
