"""Reading the audit trail: field-level changes (old → new), who or which source, when.

A history row is a snapshot of an object after a change; what changed is the difference with the
object's previous snapshot. `object_changes` turns the rows of one history model into entries with
their field changes; `client_changes` gathers a client's own rows and those of everything that hangs
off the client (products, consent, household), one query per audited model, newest first.
"""

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from clients.models import Client, Household, Mortgage

from .audit import AUDIT_IGNORED_FIELDS, history_model_of
from .audit_models import AUDITED_MODELS, foreign_key_to

EMPTY = "–"
KINDS = {"+": _("created"), "~": _("changed"), "-": _("deleted")}


@dataclass(frozen=True)
class FieldChange:
    name: str
    label: str
    old: str
    new: str


@dataclass
class ChangeEntry:
    """One history row as a reader sees it."""

    at: datetime
    kind: str  # "+", "~", "-"
    model_label: str
    object_id: int
    object_label: str
    username: str
    source: str
    reason: str
    changes: list[FieldChange] = field(default_factory=list)

    @property
    def kind_label(self) -> str:
        return str(KINDS.get(self.kind, self.kind))

    @property
    def by(self) -> str:
        """Who: a person, a source, or both (a correction entered as the source "manual")."""
        if self.username and self.source:
            return f"{self.username} ({_('source')} {self.source})"
        if self.source:
            return f"{_('source')} {self.source}"
        return self.username or str(_("the system"))


def _display(model_field: models.Field, value) -> str:
    if value is None or value == "":
        return EMPTY
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(value, datetime):
        return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    if isinstance(value, date):
        return formats.date_format(value, "SHORT_DATE_FORMAT")
    if isinstance(value, Decimal):
        return formats.number_format(value, use_l10n=True, force_grouping=True)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def _related_label(model_field: models.ForeignKey, value, cache: dict) -> str:
    """What a foreign key pointed at, by name (its id when the object is gone)."""
    if value is None:
        return EMPTY
    key = (model_field.related_model, value)
    if key not in cache:
        target = model_field.related_model._base_manager.filter(pk=value).first()
        cache[key] = str(target) if target is not None else f"#{value}"
    return cache[key]


def _shown_fields(model: type[models.Model], history_model) -> list[models.Field]:
    """The fields whose changes a reader sees: tracked, not bookkeeping, not the object's own id."""
    return [
        tracked
        for tracked in history_model.tracked_fields
        if tracked.name not in AUDIT_IGNORED_FIELDS and not tracked.primary_key
    ]


def object_changes(
    model: type[models.Model], filters: Q, *, m2m: bool = False, object_labels: dict | None = None
) -> list[ChangeEntry]:
    """The history of the objects of `model` matching `filters` (on the history model), oldest first."""
    history_model = history_model_of(model)
    if history_model is None:
        return []
    pk_name = model._meta.pk.attname
    shown = _shown_fields(model, history_model)
    records = history_model.objects.filter(filters).order_by(pk_name, "history_date", "history_id")
    m2m_fields = list(history_model._history_m2m_fields) if m2m else []
    if m2m_fields:
        records = records.prefetch_related(*(m2m_field.name for m2m_field in m2m_fields))
    entries, previous = [], {}
    labels = dict(object_labels or {})
    related: dict = {}  # (model, id) -> label, for the foreign keys shown
    for record in records:
        object_id = getattr(record, pk_name)
        before = previous.get(object_id)
        changes = []
        for tracked in shown:
            new = getattr(record, tracked.attname)
            old = getattr(before, tracked.attname) if before is not None else None
            if record.history_type == "-" or (before is not None and old == new):
                continue
            if before is None and new in (None, ""):
                continue
            if isinstance(tracked, models.ForeignKey):  # the team's name, not its id
                old_text, new_text = (_related_label(tracked, value, related) for value in (old, new))
            else:
                old_text, new_text = _display(tracked, old), _display(tracked, new)
            changes.append(FieldChange(tracked.name, str(tracked.verbose_name), old_text, new_text))
        for m2m_field in m2m_fields:
            new_set = _m2m_values(record, m2m_field)
            old_set = _m2m_values(before, m2m_field) if before is not None else set()
            if new_set != old_set:
                changes.append(
                    FieldChange(
                        m2m_field.name,
                        str(m2m_field.verbose_name),
                        ", ".join(sorted(old_set)) or EMPTY,
                        ", ".join(sorted(new_set)) or EMPTY,
                    )
                )
        previous[object_id] = record
        if record.history_type == "~" and not changes:
            continue  # only bookkeeping changed
        entries.append(
            ChangeEntry(
                at=record.history_date,
                kind=record.history_type,
                model_label=str(model._meta.verbose_name),
                object_id=object_id,
                object_label=labels[object_id]
                if object_id in labels
                else labels.setdefault(object_id, _object_label(model, record)),
                username=record.history_username,
                source=record.history_source,
                reason=record.history_change_reason or "",
                changes=changes,
            )
        )
    return entries


def _m2m_values(record, m2m_field) -> set[str]:
    rows = getattr(record, m2m_field.name).all()
    target = m2m_field.remote_field.model
    column = next(
        through_field.attname
        for through_field in m2m_field.remote_field.through._meta.fields
        if getattr(through_field.remote_field, "model", None) is target
    )
    ids = {getattr(row, column) for row in rows}
    if not ids:
        return set()
    return {str(obj) for obj in target._base_manager.filter(pk__in=ids)}


def _object_label(model, record) -> str:
    try:
        return str(record.history_object)
    except Exception:
        return f"{model._meta.verbose_name} {getattr(record, model._meta.pk.attname)}"


def client_changes(*, client: Client, limit: int = 300) -> list[ChangeEntry]:
    """Every recorded change of the client and of what hangs off the client, newest first.

    Rows that hang off the client: those with a foreign key to it (products, consent, contact
    moments...), loan parts of its mortgages, its household and the household's members. Deleted
    and soft-deleted rows included: the trail is about what happened.
    """
    entries = object_changes(Client, Q(id=client.pk))
    mortgage_ids: set[int] = set()
    mortgage_history = history_model_of(Mortgage)
    if mortgage_history is not None:
        mortgage_ids = set(mortgage_history.objects.filter(client_id=client.pk).values_list("id", flat=True))
    for model in AUDITED_MODELS:
        if model is Client or model._meta.app_label not in ("clients", "followup"):
            continue
        if model is Household:
            if client.household_id:
                entries += object_changes(model, Q(id=client.household_id))
            continue
        to_client = foreign_key_to(model, Client)
        if to_client:
            entries += object_changes(model, Q(**{to_client: client.pk}))
            continue
        to_mortgage = foreign_key_to(model, Mortgage)
        if to_mortgage and mortgage_ids:
            entries += object_changes(model, Q(**{f"{to_mortgage}__in": mortgage_ids}))
            continue
        to_household = foreign_key_to(model, Household)
        if to_household and client.household_id:
            entries += object_changes(model, Q(**{to_household: client.household_id}))
    entries.sort(key=lambda entry: entry.at, reverse=True)
    return entries[:limit]
