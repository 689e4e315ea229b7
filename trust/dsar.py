"""Data-subject rights: everything Steward holds about a client (access, GDPR art. 15) and erasure (art. 17).

Which rows are a client's is found from the models themselves: every concrete model of Steward's
apps that reaches clients.Client through its foreign keys (directly, or through a parent such as a
mortgage's loan parts or an alert's events), history tables of the audit trail included. A model
added later is exported and erased without a change here; the privacy register
(trust/privacy_register.py) says what each field is, what for and how long.

Erasure anonymises the client row, deletes the client's other rows, and keeps only what an active
legal hold (trust.models.LegalHold) needs, by the categories its basis keeps (HOLD_KEEPS). An
erasure that kept something is partial; the retention job completes it when the last hold ends.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from clients.models import Client, Household

from .models import ErasureRecord, LegalHold
from .privacy_register import Category, Tag, history_original, model_fields, registered_models, tag_for

# What each basis of a legal hold must keep. Contact details, source copies and the BSN go in every
# case unless the basis itself needs them: identification under the Wwft, everything for a claim.
HOLD_KEEPS: dict[str, frozenset[str]] = {
    LegalHold.Basis.WFT_RECORD_KEEPING: frozenset(
        {
            Category.IDENTITY,
            Category.HOUSEHOLD,
            Category.SOCIOECONOMIC,
            Category.FINANCIAL,
            Category.RELATIONSHIP,
            Category.CONSENT,
            Category.PROFILE,
            Category.COMMUNICATION,
            Category.ACCESS_LOG,
        }
    ),
    LegalHold.Basis.TAX: frozenset({Category.IDENTITY, Category.FINANCIAL}),
    LegalHold.Basis.AML: frozenset({Category.IDENTITY, Category.NATIONAL_ID, Category.CONTACT}),
    LegalHold.Basis.CLAIM: frozenset(set(Category.values) - {Category.NATIONAL_ID, Category.NOT_PERSONAL}),
}

# The privacy step's own proof stays: a hold and the record of an erasure are about the request.
NOT_ERASED = {LegalHold, ErasureRecord}
# Never exported: secrets and what only serves to find or check a value.
NEVER_EXPORTED = {"password", "token_hash", "bsn_blind_index", "credentials", "claim_token", "idempotency_key"}
ERASED_NAME = "[erased]"


# --- Whose rows are these -------------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectTable:
    """A model holding a client's rows, and the lookup from it to the client's id.

    A history table of the audit trail (`original` set) is found by the ids of the original rows,
    and by its own copy of the link, so that history of rows deleted long ago is found as well.
    """

    model: type[models.Model]
    path: str  # "client", "mortgage__client", "pk", "household__clients"
    link_field: str  # the field whose tag gives the rows' category
    original: type[models.Model] | None = None

    @property
    def label(self) -> str:
        return f"{self.model._meta.app_label}.{self.model.__name__}"

    @property
    def tag(self) -> Tag | None:
        return tag_for(self.model, self.link_field)

    @property
    def hops(self) -> int:
        return self.path.count("__")


def _is_client(model) -> bool:
    return model is not None and model._meta.concrete_model is Client


def _client_fk(model) -> models.Field | None:
    """The foreign key that says whose row this is (one named `client` wins over others)."""
    candidates = [
        item
        for item in model._meta.concrete_fields
        if item.is_relation and (item.many_to_one or item.one_to_one) and _is_client(item.related_model)
    ]
    named = [item for item in candidates if item.name == "client"]
    return (named or candidates or [None])[0]


# Rows whose link to the client is not a foreign key named for it.
PATH_OVERRIDES = {
    # A family member's own `client` says they are a client themselves; they belong to the household.
    "clients.FamilyMember": ("household__clients", "household"),
    "clients.Household": ("clients", "name"),
}


def _table_of(model) -> SubjectTable | None:
    label = f"{model._meta.app_label}.{model.__name__}"
    if label in PATH_OVERRIDES:
        path, link = PATH_OVERRIDES[label]
        return SubjectTable(model, path, link)
    if _is_client(model):
        return SubjectTable(model, "pk", "id")
    direct = _client_fk(model)
    if direct is not None:
        return SubjectTable(model, direct.name, direct.name)
    for item in model._meta.concrete_fields:
        parent = item.related_model if item.is_relation and (item.many_to_one or item.one_to_one) else None
        if parent is None or parent is model:
            continue
        via = _client_fk(parent)
        if via is not None:
            return SubjectTable(model, f"{item.name}__{via.name}", item.name)
    return None


@cache
def subject_tables() -> tuple[SubjectTable, ...]:
    """Every model with rows of one client, found through foreign keys (at most two hops)."""
    tables = []
    for model in registered_models():
        original = history_original(model)
        if original is None:
            table = _table_of(model)
            if table is not None:
                tables.append(table)
            continue
        table = _table_of(original)
        if table is not None:
            tables.append(SubjectTable(model, table.path, table.link_field, original))
    return tuple(tables)


def _live_ids(client_id: int) -> dict[type[models.Model], set]:
    """The primary keys of the client's rows in every live table (before anything is deleted)."""
    ids: dict[type[models.Model], set] = {}
    for table in subject_tables():
        if table.original is None:
            ids[table.model] = set(
                table.model._base_manager.filter(**{table.path: client_id}).values_list("pk", flat=True)
            )
    return ids


def _history_q(table: SubjectTable, client_id: int, ids: dict) -> Q:
    """History rows of the client's rows: by the original ids, and by the copied link to the client
    (or to a parent row of the client's) for rows that are gone from the live table."""
    original_pk = table.original._meta.pk.attname
    q = Q(**{f"{original_pk}__in": ids.get(table.original, set())})
    first, _sep, rest = table.path.partition("__")
    if table.path == "pk":
        return Q(**{original_pk: client_id})
    try:
        link = table.model._meta.get_field(first)
    except FieldDoesNotExist:
        return q  # a reverse relation (a household's clients): the ids say it all
    if not rest:
        return q | Q(**{link.attname: client_id})
    parent = table.original._meta.get_field(first).related_model
    return q | Q(**{f"{link.attname}__in": ids.get(parent, set())})


def _rows(table: SubjectTable, client_id: int, ids: dict) -> models.QuerySet:
    if table.original is not None:
        return table.model._base_manager.filter(_history_q(table, client_id, ids))
    return table.model._base_manager.filter(pk__in=ids.get(table.model, set()))


# --- Access: the export ---------------------------------------------------------------------------


def _jsonable(value):
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return _("(a file of %d bytes)") % len(value)
    if hasattr(value, "name") and hasattr(value, "url"):  # a FieldFile
        return value.name or ""
    return value


@dataclass
class ExportSection:
    label: str
    title: str
    category: str
    purposes: list[str]
    retention: str
    rows: list[dict] = field(default_factory=list)


@dataclass
class ClientExport:
    client_id: int
    name: str
    generated_at: datetime.datetime
    sections: list[ExportSection]

    def as_dict(self) -> dict:
        return {
            "client_id": self.client_id,
            "name": self.name,
            "generated_at": self.generated_at.isoformat(),
            "controller": getattr(settings, "STEWARD_FIRM_NAME", ""),
            "sections": [vars(section) for section in self.sections],
        }

    def as_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False, default=str)


def client_data_export(*, client: Client, include_bsn: bool = False) -> ClientExport:
    """Everything about the client, by table, with what each table is for and how long it is kept.

    The BSN is in it only when `include_bsn` (the caller checks the user may reveal it, and that the
    firm processes BSNs at all); otherwise it is left out, not masked: an export that does not need
    it does not carry it.
    """
    include_bsn = include_bsn and settings.STEWARD_BSN_ENABLED
    ids = _live_ids(client.pk)
    sections = []
    for table in subject_tables():
        fields = [
            item
            for item in model_fields(table.model)
            if not item.many_to_many
            and item.name not in NEVER_EXPORTED
            and (include_bsn or getattr(tag_for(table.model, item.name), "category", "") != Category.NATIONAL_ID)
        ]
        rows = [
            {item.name: _jsonable(getattr(row, item.attname)) for item in fields}
            for row in _rows(table, client.pk, ids).order_by("pk")
        ]
        if not rows:
            continue
        # What the table holds, what for and how long: over all its personal fields (art. 15(1)).
        tags = [tag for item in fields if (tag := tag_for(table.model, item.name)) is not None and tag.is_personal]
        sections.append(
            ExportSection(
                label=table.label,
                title=str(table.model._meta.verbose_name_plural),
                category="; ".join(dict.fromkeys(str(Category(tag.category).label) for tag in tags)),
                purposes=sorted({str(name) for tag in tags for name in tag.purposes}),
                retention="; ".join(dict.fromkeys(tag.retention.describe() for tag in tags)),
                rows=rows,
            )
        )
    return ClientExport(client.pk, client.full_name, timezone.now(), sections)


# --- Erasure --------------------------------------------------------------------------------------


def _anonymous_value(model_field: models.Field):
    if model_field.has_default():
        return model_field.get_default()
    if model_field.null:
        return None
    if isinstance(model_field, (models.CharField, models.TextField)):
        return ""
    raise ValueError(f"{model_field} cannot be anonymised; delete the row instead")


def anonymous_values(model, field_names) -> dict:
    """The values that replace these fields' contents when they are anonymised."""
    values = {}
    for name in field_names:
        model_field = model._meta.get_field(name)
        values[model_field.attname] = _anonymous_value(model_field)
    if _is_client(model) or _is_client(history_original(model)):
        if "last_name" in field_names:
            values["last_name"] = ERASED_NAME
        if "search_name" in field_names:
            values["search_name"] = ""
    return values


def holds_in_force(*, client_ids, today: datetime.date) -> dict[int, list[LegalHold]]:
    holds: dict[int, list[LegalHold]] = {}
    for hold in LegalHold.objects.filter(client_id__in=list(client_ids), end_date__gte=today):
        holds.setdefault(hold.client_id, []).append(hold)
    return holds


def kept_categories(holds) -> frozenset[str]:
    kept: set[str] = set()
    for hold in holds:
        kept |= HOLD_KEEPS[hold.basis]
    return frozenset(kept)


def _audit_erasure(reason: str):
    from .audit import audit_erasure_allowed

    return audit_erasure_allowed(reason=reason)


@transaction.atomic
def client_erase(*, client: Client, user=None, reason: str) -> ErasureRecord:
    """Erase the client: anonymise their row, delete their other rows, keep what a legal hold needs.

    Live rows go first (deleting one writes a last history row), then their history. Idempotent:
    erasing again (the retention job, after a hold ended) removes what was kept before. Returns the
    ErasureRecord, which names what was removed and what was kept under which holds.
    """
    today = timezone.localdate()
    holds = holds_in_force(client_ids=[client.pk], today=today).get(client.pk, [])
    kept = kept_categories(holds)
    hold_ids = [hold.pk for hold in holds]
    removed: dict[str, int] = {}
    kept_rows: dict[str, list[int]] = {}
    ids = _live_ids(client.pk)
    # A household shared with a client who is not erased stays: it is theirs too.
    shared_household = (
        Client._base_manager.filter(household__in=ids.get(Household, set()), deleted_at__isnull=True)
        .exclude(pk=client.pk)
        .exists()
    )
    ordered = sorted(subject_tables(), key=lambda table: (table.original is not None, -table.hops))

    with _audit_erasure(f"erasure of client {client.pk}: {reason}"):
        for table in ordered:
            model = table.original or table.model
            if model in NOT_ERASED:
                continue
            rows = _rows(table, client.pk, ids)
            if _is_client(model):
                count = _client_rows_anonymise(table.model, rows, kept)
            elif model is Household or table.link_field == "household":
                if shared_household:
                    continue
                if Category.HOUSEHOLD in kept:
                    count = 0
                    if rows.exists():
                        kept_rows[table.label] = hold_ids
                elif model is Household:
                    count = rows.update(name=ERASED_NAME)
                else:
                    count = rows_delete(rows)
            elif table.tag is not None and table.tag.category in kept:
                if rows.exists():
                    kept_rows[table.label] = hold_ids
                continue
            else:
                count = rows_delete(rows)
            if count:
                removed[table.label] = count

    return ErasureRecord.objects.create(
        client=client,
        erased_by=user,
        reason=reason,
        removed=removed,
        kept=kept_rows,
        complete=not kept_rows and not _client_fields_kept(kept),
    )


def _client_personal_fields(model) -> list[str]:
    names = []
    for item in model_fields(model):
        tag = tag_for(model, item.name)
        if tag is None or not tag.is_personal or item.many_to_many or item.primary_key:
            continue
        if item.name.startswith("history_"):
            continue  # the trail's own who and when stay with the anonymised snapshot
        if item.is_relation and item.name in ("advisor", "team"):
            continue  # the firm's own people and teams, not the client's data
        names.append(item.name)
    return names


def _client_fields_kept(kept: frozenset[str]) -> bool:
    return any(tag_for(Client, name).category in kept for name in _client_personal_fields(Client))


def _client_rows_anonymise(model, rows: models.QuerySet, kept: frozenset[str]) -> int:
    """Anonymise the client's own row (or its history): the personal fields no hold keeps."""
    names = [name for name in _client_personal_fields(model) if tag_for(model, name).category not in kept]
    values = anonymous_values(model, names)
    technical = {"provenance": {}, "source_record_id": ""}
    values.update({key: value for key, value in technical.items() if _has_field(model, key)})
    if _is_client(model):
        values["deleted_at"] = timezone.now()  # gone from every list and search
    return rows.update(**values) if values else 0


def rows_delete(rows: models.QuerySet) -> int:
    """Delete the rows, and the files their file fields point at (a deleted row does not delete its
    upload from storage); returns how many rows of the queryset's own model went."""
    model = rows.model
    file_fields = [item for item in model._meta.concrete_fields if isinstance(item, models.FileField)]
    pks = list(rows.values_list("pk", flat=True))
    if not pks:
        return 0
    for item in file_fields:
        for name in (
            model._base_manager.filter(pk__in=pks).exclude(**{item.attname: ""}).values_list(item.attname, flat=True)
        ):
            if name:
                item.storage.delete(name)
    deleted = model._base_manager.filter(pk__in=pks).delete()[1]
    return deleted.get(model._meta.label, 0)


def _has_field(model, name: str) -> bool:
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


def clients_erased(*, complete: bool | None = None) -> Q:
    """A filter on clients that have been erased (completely, or with something kept under a hold)."""
    erasures = ErasureRecord.objects.all() if complete is None else ErasureRecord.objects.filter(complete=complete)
    return Q(pk__in=erasures.values("client_id"))
