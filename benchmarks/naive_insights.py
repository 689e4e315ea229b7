"""The response page as it was before the weekly sums: every figure straight over the response facts.

Kept for the `insights` benchmark's baseline only. Per request the old page ran, over the facts of
its period: the counts per dimension value and for the total, two PERCENTILE_CONT medians for each,
the same per week and team for the trend, and the channel counts per segment and per alert type for
the recommendations (a pandas median on SQLite, which has no percentile function).
"""

from __future__ import annotations

import pandas as pd
from django.db import connection
from django.db.models import Aggregate, Count, FloatField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from insights.models import ResponseFact
from insights.selectors import InsightFilters


class _Median(Aggregate):
    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _medians(facts: QuerySet, group_by: list[str], value: str, where: Q) -> dict[tuple, float]:
    rows = facts.filter(where, **{f"{value}__isnull": False}).order_by()
    if connection.vendor == "postgresql":
        result = rows.values(*group_by).annotate(median=_Median(value)).values_list(*group_by, "median")
        return {tuple(row[:-1]): row[-1] for row in result}
    data = pd.DataFrame.from_records(list(rows.values_list(*group_by, value)), columns=[*group_by, value])
    if data.empty:
        return {}
    medians = data.groupby(group_by)[value].median()
    return {(key if isinstance(key, tuple) else (key,)): float(median) for key, median in medians.items()}


def _metric_rows(facts: QuerySet, group_by: list[str], by_channel: bool) -> dict[tuple, dict]:
    facts = facts.order_by()
    if by_channel:
        counts = (
            facts.exclude(channel="")
            .values(*group_by)
            .annotate(
                alerts_raised=Count("pk"),
                messages_sent=Count("pk", filter=Q(sent_at__isnull=False)),
                responses=Count("pk", filter=Q(responded=True)),
                meetings_booked=Coalesce(Sum("meetings_booked"), 0),
                advice_given=Coalesce(Sum("advice_given"), 0),
            )
        )
        first = _medians(facts, group_by, "hours_to_response", ~Q(channel=""))
        resolution = _medians(facts, group_by, "alert_hours_to_resolution", ~Q(channel=""))
    else:
        counts = facts.values(*group_by).annotate(
            alerts_raised=Count("pk", filter=Q(is_primary=True)),
            messages_sent=Count("pk", filter=Q(sent_at__isnull=False)),
            responses=Count("pk", filter=Q(responded=True)),
            meetings_booked=Coalesce(Sum("alert_meetings_booked"), 0),
            advice_given=Coalesce(Sum("alert_advice_given"), 0),
        )
        first = _medians(facts, group_by, "alert_hours_to_first_response", Q(is_primary=True))
        resolution = _medians(facts, group_by, "alert_hours_to_resolution", Q(is_primary=True))
    rows = {}
    for row in counts:
        key = tuple(row[name] for name in group_by)
        rows[key] = {**row, "hours_to_first_response": first.get(key), "hours_to_resolution": resolution.get(key)}
    return rows


def old_response_page(filters: InsightFilters) -> dict:
    """The figures of the old /insights/ for a user who sees every team, with `filters`."""
    facts = ResponseFact.objects.filter(week__gte=filters.start, week__lt=filters.end)
    dimension = {"alert_type": "alert_type_id"}.get(filters.dimension, filters.dimension)
    by_channel = filters.dimension == "channel"
    table = _metric_rows(facts, [dimension], by_channel)
    total = _metric_rows(facts.annotate(everything=Value(1)), ["everything"], by_channel)
    trend = _metric_rows(facts, ["week", "team"], bool(filters.channel))
    recommendations = [
        list(
            facts.order_by()
            .exclude(channel="")
            .values(group, "channel")
            .annotate(
                sent=Count("pk", filter=Q(sent_at__isnull=False)), responded=Count("pk", filter=Q(responded=True))
            )
        )
        for group in ("segment", "alert_type")
    ]
    return {"table": table, "total": total, "trend": trend, "recommendations": recommendations}
