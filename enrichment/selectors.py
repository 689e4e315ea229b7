"""Reads of enrichment data: reference tables as lookups, facts for the 360° page, confirmation queues."""

import numpy as np
import pandas as pd
from django.core.cache import cache
from django.db.models import QuerySet

from .models import ConfirmationRequest, FreshnessPolicy, HousePriceIndex, PostcodeArea

FRESHNESS_CACHE_KEY = "enrichment:freshness-max-ages"


def freshness_max_ages() -> dict[str, int]:
    """The firm's maximum age per field group (groups without a rule keep the default of clients.freshness)."""
    return dict(FreshnessPolicy.objects.values_list("group_key", "max_age_days"))


def freshness_max_ages_cached() -> dict[str, int]:
    """The same, from the cache: the 360° page asks on every view, and the rules change rarely.

    Every change goes through enrichment.services.freshness, which clears the entry (Redis in
    production, so all processes see it at once); the timeout only bounds a change made around it.
    """
    return cache.get_or_set(FRESHNESS_CACHE_KEY, freshness_max_ages, timeout=60 * 60)


def postcode_area_lookup() -> tuple[np.ndarray, pd.DataFrame]:
    """For every four-digit postcode (0-9999) the row number of its narrowest area, and the areas.

    One query; the ranges are painted widest first, so a municipality's range overrides its province's.
    Returns (row per postcode, -1 where none; areas frame with municipality, province, region).
    """
    areas = pd.DataFrame.from_records(
        list(PostcodeArea.objects.values_list("pc4_from", "pc4_to", "municipality", "province", "region")),
        columns=["pc4_from", "pc4_to", "municipality", "province", "region"],
    )
    lookup = np.full(10_000, -1, dtype=np.int64)
    if areas.empty:
        return lookup, areas
    areas["span"] = areas["pc4_to"] - areas["pc4_from"]
    for row, area in areas.sort_values("span", ascending=False).iterrows():  # a few hundred ranges
        lookup[area["pc4_from"] : area["pc4_to"] + 1] = row
    return lookup, areas


def house_price_index_frame() -> pd.DataFrame:
    """The whole price index (a few thousand rows): region, region name, period (year*4 + quarter-1), index."""
    rows = HousePriceIndex.objects.values_list("region", "region_name", "year", "quarter", "index")
    data = pd.DataFrame.from_records(list(rows), columns=["region", "region_name", "year", "quarter", "index"])
    data["period"] = data["year"].astype(int) * 4 + data["quarter"].astype(int) - 1
    data["index"] = data["index"].astype(float)
    return data


def period_label(period: int) -> str:
    return f"{period // 4}-Q{period % 4 + 1}"


def confirmation_requests_to_review(*, clients: QuerySet) -> QuerySet[ConfirmationRequest]:
    """Answered requests of these clients waiting for back office, oldest answer first."""
    return (
        ConfirmationRequest.objects.filter(status=ConfirmationRequest.Status.ANSWERED, client__in=clients)
        .select_related("client", "requested_by")
        .order_by("used_at")
    )


def confirmation_requests_recent(*, clients: QuerySet, limit: int = 50) -> list[ConfirmationRequest]:
    """The latest other requests of these clients (sent, reviewed, expired)."""
    return list(
        ConfirmationRequest.objects.exclude(status=ConfirmationRequest.Status.ANSWERED)
        .filter(client__in=clients)
        .select_related("client", "requested_by", "reviewed_by")
        .order_by("-created_at")[:limit]
    )
