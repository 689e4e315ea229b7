"""The retention job: data past its period, by the privacy register, is deleted or anonymised.

Nightly (Celery beat, trust.retention_tasks) and by hand (`manage.py retention_apply`). For every
table and every distinct automatic retention among its fields' tags (trust/privacy_register.py):
- counted from a date of the row itself ("2 years after viewed_at"): the rows past it are deleted,
  or the fields with that retention anonymised; rows of a client under a legal hold whose basis
  keeps that kind of data are left alone;
- counted from the end of the relationship (the client left every source, Client.deleted_at): the
  client is erased (trust.dsar.client_erase), keeping what a hold needs;
- an erasure that a hold made partial is finished once the last hold has ended.
Set-based: one statement per table and retention, a loop only over clients to erase.
"""

import datetime
import logging
from collections import Counter
from dataclasses import dataclass, field

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from clients.models import Client

from .dsar import (
    HOLD_KEEPS,
    NOT_ERASED,
    _audit_erasure,
    anonymous_values,
    client_erase,
    rows_delete,
    subject_tables,
)
from .models import ErasureRecord, LegalHold
from .privacy_register import RELATIONSHIP_END, Action, Retention, model_fields, registered_models, tag_for

logger = logging.getLogger(__name__)


@dataclass
class RetentionReport:
    deleted: Counter = field(default_factory=Counter)
    anonymised: Counter = field(default_factory=Counter)
    clients_erased: int = 0

    def lines(self) -> list[str]:
        lines = [f"deleted {count} from {label}" for label, count in sorted(self.deleted.items())]
        lines += [f"anonymised {count} in {label}" for label, count in sorted(self.anonymised.items())]
        lines.append(f"clients erased: {self.clients_erased}")
        return lines


def _held_clients(today: datetime.date) -> dict[str, set[int]]:
    """Per category of data: the clients whose active holds keep it."""
    held: dict[str, set[int]] = {}
    for client_id, basis in LegalHold.objects.filter(end_date__gte=today).values_list("client_id", "basis"):
        for category in HOLD_KEEPS[basis]:
            held.setdefault(category, set()).add(client_id)
    return held


def _expired(model, retention: Retention, now: datetime.datetime) -> Q:
    clock = model._meta.get_field(retention.after)
    cutoff = retention.cutoff(now)
    if isinstance(clock, models.DateTimeField):
        return Q(**{f"{retention.after}__lt": cutoff})
    return Q(**{f"{retention.after}__lt": cutoff.date()})


def _paths() -> dict[type[models.Model], str]:
    return {table.model: table.path for table in subject_tables() if table.original is None}


def _not_held(model, category: str, held: dict[str, set[int]], paths: dict) -> Q:
    clients = held.get(category)
    path = paths.get(model)
    if not clients or path is None:
        return Q()
    return ~Q(**{f"{path}__in": clients})


def _row_retentions(model) -> dict[Retention, list[str]]:
    """The automatic retentions counted from a field of the row, with the fields each covers."""
    found: dict[Retention, list[str]] = {}
    for item in model_fields(model):
        tag = tag_for(model, item.name)
        if tag is None or not tag.retention.is_automatic or tag.retention.after == RELATIONSHIP_END:
            continue
        found.setdefault(tag.retention, []).append(item.name)
    return found


def _apply_row_retentions(now: datetime.datetime, report: RetentionReport) -> None:
    held = _held_clients(now.date())
    paths = _paths()
    for model in registered_models():
        if model in NOT_ERASED and model is not LegalHold:
            continue
        for retention, names in _row_retentions(model).items():
            label = f"{model._meta.app_label}.{model.__name__}"
            category = tag_for(model, names[0]).category
            rows = model._base_manager.filter(_expired(model, retention, now)).filter(
                _not_held(model, category, held, paths)
            )
            if retention.action == Action.DELETE:
                count = rows_delete(rows)
                if count:
                    report.deleted[label] += count
            elif retention.action == Action.ANONYMISE:
                values = anonymous_values(model, names)
                # Only rows not anonymised yet, so a second run changes nothing.
                not_yet = Q()
                for attname, value in values.items():
                    not_yet |= Q(**{f"{attname}__isnull": False}) if value is None else ~Q(**{attname: value})
                count = rows.filter(not_yet).update(**values)
                if count:
                    report.anonymised[label] += count


def _clients_to_erase(now: datetime.datetime) -> list[int]:
    """Clients whose relationship ended past the client file's period, and partial erasures whose holds all ended."""
    periods = {
        tag.retention
        for item in model_fields(Client)
        if (tag := tag_for(Client, item.name)) is not None and tag.retention.after == RELATIONSHIP_END
    }
    today = now.date()
    erased_completely = ErasureRecord.objects.filter(complete=True).values("client_id")
    due: set[int] = set()
    for retention in periods:
        due |= set(
            Client._base_manager.filter(deleted_at__lt=retention.cutoff(now))
            .exclude(pk__in=erased_completely)
            .values_list("pk", flat=True)
        )
    partial = set(
        ErasureRecord.objects.filter(complete=False)
        .exclude(client_id__in=erased_completely)
        .values_list("client_id", flat=True)
    )
    due |= partial
    # A client with a running hold is erased again only once it ends (the hold keeps what it needs,
    # but a partial erasure repeated every night would only add records).
    still_held = set(
        LegalHold.objects.filter(end_date__gte=today, client_id__in=due).values_list("client_id", flat=True)
    )
    return sorted(due - (still_held & partial))


def retention_apply(*, now: datetime.datetime | None = None) -> RetentionReport:
    """Apply every retention period of the register once. Safe to run again: what is gone stays gone."""
    now = now or timezone.now()
    report = RetentionReport()
    with transaction.atomic(), _audit_erasure("retention periods of the privacy register"):
        _apply_row_retentions(now, report)
    for client_id in _clients_to_erase(now):
        client = Client._base_manager.get(pk=client_id)
        client_erase(client=client, user=None, reason="retention period ended")
        report.clients_erased += 1
    logger.info("retention applied: %s", "; ".join(report.lines()))
    return report
