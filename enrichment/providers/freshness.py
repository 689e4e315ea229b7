"""Which field groups of a client hold a stale value: `stale_field_groups`, e.g. ["income"].

A value's age is measured as on the 360° page (clients.provenance): from its own provenance entry if it
has one, else from its row's source record; a group is stale when any of its values is older than the
group's maximum age (the firm's FreshnessPolicy, else the default of clients.freshness). The
provenance timestamps are read in SQL (JSON key lookups) and compared in pandas: one query per model.
"""

from collections import defaultdict
from datetime import timedelta

import pandas as pd
from django.db.models import TextField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils.translation import gettext_lazy as _

from clients.freshness import FIELD_GROUPS
from clients.models import Client, Employment, FamilyMember, Income, Pension, Property

from ..selectors import freshness_max_ages
from . import Batch, Derived, Provider

# The models of the field groups, and the path from each to its client's id.
CLIENT_PATHS = {
    Client: "id",
    Income: "client_id",
    Employment: "client_id",
    Property: "client_id",
    Pension: "client_id",
    FamilyMember: "household__clients__id",
}


def _fields_by_model() -> dict[type, list[str]]:
    by_name = {model.__name__: model for model in CLIENT_PATHS}
    fields: dict[type, list[str]] = defaultdict(list)
    for group in FIELD_GROUPS:
        for name in sorted(group.fields):
            model_name, field_name = name.split(".")
            fields[by_name[model_name]].append(field_name)
    return fields


def _timestamps(texts: pd.Series) -> pd.Series:
    """ISO timestamps as text (from JSON, or cast in SQL) to UTC; naive ones are UTC (SQLite stores UTC)."""
    if texts.isna().all():
        return pd.Series(pd.NaT, index=texts.index, dtype="datetime64[ns, UTC]")
    return pd.to_datetime(texts, utc=True, format="ISO8601", errors="coerce")


def _stale_groups(batch: Batch, model, fields: list[str], max_age: dict[str, int]) -> pd.DataFrame:
    """Per client, True for each group one of this model's values makes stale."""
    path = CLIENT_PATHS[model]
    annotations = {}
    for name in fields:
        annotations[f"{name}__source"] = KT(f"provenance__{name}__source")
        annotations[f"{name}__changed"] = KT(f"provenance__{name}__changed")
        annotations[f"{name}__fetched"] = KT(f"provenance__{name}__fetched")
    rows = (
        model.objects.filter(batch.clients(path), deleted_at__isnull=True)
        # As text: pandas parses a column of timestamps at once; loading each as a Python datetime
        # costs more than the rest of this provider together.
        .annotate(row_changed=Cast("source_changed_at", TextField()), row_fetched=Cast("fetched_at", TextField()))
        .annotate(**annotations)
        .values_list(path, "row_changed", "row_fetched", *annotations)
    )
    data = pd.DataFrame.from_records(list(rows), columns=["client_id", "row_changed", "row_fetched", *annotations])
    row_as_of = _timestamps(data["row_changed"]).fillna(_timestamps(data["row_fetched"]))
    now = pd.Timestamp(batch.now)
    stale = pd.DataFrame({"client_id": data["client_id"]})
    group_of = {field: group for group in FIELD_GROUPS for field in group.fields}
    for name in fields:
        group = group_of[f"{model.__name__}.{name}"]
        own_changed, own_fetched = _timestamps(data[f"{name}__changed"]), _timestamps(data[f"{name}__fetched"])
        as_of = own_changed.fillna(own_fetched).where(data[f"{name}__source"].notna(), row_as_of)
        too_old = (now - as_of).dt.days > max_age.get(group.key, group.max_age_days)
        stale[group.key] = stale.get(group.key, False) | too_old.fillna(False)
    return stale.groupby("client_id").any()


def compute(batch: Batch) -> Derived:
    derived = Derived(batch.index, provider.outputs)
    max_age = freshness_max_ages()
    keys = [group.key for group in FIELD_GROUPS]
    stale = pd.DataFrame(False, index=batch.index, columns=keys)
    for model, fields in _fields_by_model().items():
        per_model = _stale_groups(batch, model, fields, max_age).reindex(batch.index, fill_value=False)
        stale[per_model.columns] = stale[per_model.columns] | per_model.astype(bool)
    lists = [[key for key, is_stale in zip(keys, flags, strict=True) if is_stale] for flags in stale.to_numpy()]
    derived.set("stale_field_groups", pd.Series(lists, index=batch.index, dtype=object))
    return derived


provider = Provider(
    key="freshness",
    label=_("Freshness rules"),
    inputs=("provenance of every field in clients.freshness.FIELD_GROUPS", "reference.freshness_policies"),
    outputs=("stale_field_groups",),
    max_staleness=timedelta(days=1),  # values age every day
    compute=compute,
)
