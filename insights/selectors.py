"""Reads of insights: response analytics, recommendations, change markers and the retention view.

Response figures are sums over the weekly table `ResponseWeek` (a few hundred rows a week, whatever
the size of the book): the rows of the period and filters are read once into a pandas frame and
grouped there. Medians merge the cells' digests (exact while a cell holds at most DIGEST_POINTS
values, as in every small history; else close: each point stands for n/DIGEST_POINTS values).
Retention figures come from `RetentionSnapshot` (computed by beat), or are computed on the spot
(`retention_compute`, over ClientFacts and ClientRevenue) when there is no snapshot yet. Access is
built in: an advisor's figures are their own team's, whatever the filters say.

Definitions (also on the page):
- Rows are grouped by the week the alert was raised (a cohort): the response rate of week W is how
  clients responded to the follow-up of the alerts raised in week W.
- *Messages sent*: an alert messaged through a channel (a message bundling two alerts counts for each).
- *Response rate*: of those, the share the client responded to (Message.responded_at).
- *Time to first response*: from the first message about the alert to the client's first response
  (per channel: from the message through that channel to the response to it), median in hours.
- *Time to resolution*: from raising to resolving the alert (resolved alerts only), median in hours.
- *Meetings booked*: bookings about the alert that were not cancelled; *advice given*: those held.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property

import numpy as np
import pandas as pd
from django.db.models import Count, F, Max, Q, QuerySet, Sum, Window
from django.db.models.expressions import RowRange
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Team
from accounts.selectors import user_sees_all_teams
from alerts.models import AlertType, Quadrant
from clients.models import Channel, ClientRevenue, Segment
from enrichment.models import ClientFacts

from .models import ResponseWeek, RetentionSnapshot
from .services import CELL, week_start
from .stats import CONFIDENCE, Interval, rate_ratio_interval, wilson_interval

# No recommendation compares channels with fewer messages than this on either side: below it a
# difference is mostly noise, and the interval says so anyway. A firm can tune it here.
MIN_SAMPLE = 100
# A channel is recommended only when the whole 95% interval of its rate ratio lies above this.
MIN_RATIO = 1.0

DIMENSIONS = {
    "alert_type": gettext_lazy("Alert type"),
    "segment": gettext_lazy("Client segment"),
    "quadrant": gettext_lazy("Quadrant"),
    "channel": gettext_lazy("Channel"),
}
METRICS = {
    "response_rate": gettext_lazy("Response rate"),
    "alerts_raised": gettext_lazy("Alerts raised"),
    "messages_sent": gettext_lazy("Messages sent"),
    "hours_to_first_response": gettext_lazy("Time to first response (median hours)"),
    "hours_to_resolution": gettext_lazy("Time to resolution (median hours)"),
    "meetings_booked": gettext_lazy("Meetings booked"),
    "advice_given": gettext_lazy("Advice given"),
}


# --- Scope and filters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class InsightFilters:
    start: date  # a Monday
    end: date  # the Monday after the last week (exclusive)
    team_id: int | None = None
    dimension: str = "channel"
    metric: str = "response_rate"
    alert_type: str = ""
    channel: str = ""

    @classmethod
    def last_weeks(cls, weeks: int, today: date | None = None, **kwargs) -> "InsightFilters":
        end = week_start(today or timezone.localdate()) + timedelta(days=7)
        return cls(start=end - timedelta(weeks=weeks), end=end, **kwargs)

    @property
    def weeks(self) -> list[date]:
        return [self.start + timedelta(weeks=n) for n in range((self.end - self.start).days // 7)]


def teams_visible_to(user) -> QuerySet[Team]:
    if user_sees_all_teams(user):
        return Team.objects.order_by("name")
    return Team.objects.filter(pk=user.team_id) if user.team_id else Team.objects.none()


class ResponseScope:
    """The weekly rows of a period one user may see, read once per mode into a small pandas frame.

    Per channel (`by_channel`) a row counts every messaged (alert, channel) pair; per alert
    dimension the alert counts once, through its primary row.
    """

    COUNTS = {
        True: {
            "alerts_raised": "facts",
            "messages_sent": "sent",
            "responses": "responded",
            "meetings_booked": "meetings_booked",
            "advice_given": "advice_given",
        },
        False: {
            "alerts_raised": "primary_facts",
            "messages_sent": "sent",
            "responses": "responded",
            "meetings_booked": "alert_meetings_booked",
            "advice_given": "alert_advice_given",
        },
    }
    DIGESTS = {
        True: ("response_hours", "resolution_hours_messaged"),
        False: ("first_response_hours", "resolution_hours"),
    }

    def __init__(self, weeks: QuerySet[ResponseWeek]):
        self.weeks = weeks
        self._frames: dict[bool, pd.DataFrame] = {}
        self._digests: dict[str, _Points] = {}

    def frame(self, by_channel: bool) -> pd.DataFrame:
        """The counts of the rows, one frame row per weekly row (positions 0..n-1); their digests are
        read with them and unpacked in one go (`_Points`)."""
        if by_channel not in self._frames:
            columns = [*CELL, *dict.fromkeys(self.COUNTS[by_channel].values())]
            digests = self.DIGESTS[by_channel]
            rows = self.weeks.order_by()
            if by_channel:
                rows = rows.exclude(channel="")
            records = list(rows.values_list(*columns, *digests))
            self._frames[by_channel] = pd.DataFrame.from_records(
                [record[: len(columns)] for record in records], columns=columns
            )
            for index, name in enumerate(digests, start=len(columns)):
                self._digests[name] = _Points.of([record[index] for record in records])
        return self._frames[by_channel]

    def medians(self, digest: str, codes: np.ndarray, groups: int) -> list[float | None]:
        """The median of a digest column per group, `codes` giving each frame row's group (0..groups-1):
        one sort of every point by group and value, then a slice per group."""
        points = self._digests[digest]
        totals = np.bincount(codes, weights=points.counts, minlength=groups)
        point_groups = codes[points.rows]
        order = np.lexsort((points.values, point_groups))
        values, weights, point_groups = points.values[order], points.weights[order], point_groups[order]
        bounds = np.searchsorted(point_groups, np.arange(groups + 1))
        return [
            _median_of_sorted(values[bounds[group] : bounds[group + 1]], weights[bounds[group] : bounds[group + 1]],
                              round(totals[group]))
            for group in range(groups)
        ]  # fmt: skip

    @cached_property
    def refreshed_at(self) -> datetime | None:
        """When the newest of these sums was refreshed (the page says how fresh its figures are)."""
        return self.weeks.aggregate(latest=Max("refreshed_at"))["latest"]


def facts_visible_to(user, filters: InsightFilters) -> ResponseScope:
    """The response figures of the period this user may see: their team's, or the chosen team's."""
    weeks = ResponseWeek.objects.filter(week__gte=filters.start, week__lt=filters.end)
    if not user_sees_all_teams(user):
        if not user.team_id:
            return ResponseScope(weeks.none())
        weeks = weeks.filter(team_id=user.team_id)
    elif filters.team_id:
        weeks = weeks.filter(team_id=filters.team_id)
    if filters.alert_type:
        weeks = weeks.filter(alert_type__key=filters.alert_type)
    if filters.channel:
        weeks = weeks.filter(channel=filters.channel)
    return ResponseScope(weeks)


# --- Aggregates -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Points:
    """The points of a column of packed digests, flattened: value, weight, and the frame row of each."""

    values: np.ndarray
    weights: np.ndarray
    rows: np.ndarray
    counts: np.ndarray  # per frame row: how many values its digest stands for

    @classmethod
    def of(cls, packed: list) -> "_Points":
        """From digests as `insights.services.hours_digest` packs them: [n, point, point, ...]."""
        sizes = np.fromiter((len(digest) // 8 for digest in packed), np.int64, len(packed))
        floats = np.frombuffer(b"".join(packed), dtype="<f8")
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        present = sizes > 0
        counts = np.zeros(len(packed))
        counts[present] = floats[starts[present]]
        is_point = np.ones(len(floats), dtype=bool)
        is_point[starts[present]] = False
        lengths = np.maximum(sizes - 1, 0)
        per_point = np.divide(counts, lengths, out=np.zeros(len(packed)), where=lengths > 0)
        rows = np.repeat(np.arange(len(packed)), lengths)
        return cls(floats[is_point], np.repeat(per_point, lengths), rows, counts)


def _median_of_sorted(values: np.ndarray, weights: np.ndarray, total: int) -> float | None:
    """The median of the `total` values these sorted, weighted points stand for, as PERCENTILE_CONT(0.5)
    computes it: the middle value, or the mean of the two middle ones. Exact when every weight is 1
    (each point is a value); a point of a quantile digest stands for n/points values."""
    if not total or not len(values):
        return None
    cumulative = np.cumsum(weights)

    def at(rank: int) -> float:  # the value at this 0-based rank of the values the points stand for
        return float(values[min(int(np.searchsorted(cumulative, rank + 1e-9, side="right")), len(values) - 1)])

    return (at((total - 1) // 2) + at(total // 2)) / 2


def digest_median(digests) -> float | None:
    """The median of the values a list of packed digests stands for."""
    points = _Points.of(list(digests))
    order = np.argsort(points.values, kind="stable")
    return _median_of_sorted(points.values[order], points.weights[order], round(points.counts.sum()))


def _key(key) -> tuple:
    key = key if isinstance(key, tuple) else (key,)
    return tuple(part.item() if isinstance(part, np.generic) else part for part in key)


@dataclass
class MetricRow:
    key: str
    label: str
    alerts_raised: int = 0
    messages_sent: int = 0
    responses: int = 0
    rate: Interval | None = None
    hours_to_first_response: float | None = None
    hours_to_resolution: float | None = None
    meetings_booked: int = 0
    advice_given: int = 0

    @property
    def rate_percent(self) -> float | None:
        return None if self.rate is None else self.rate.estimate * 100

    @property
    def interval_percent(self) -> tuple[float, float] | None:
        return None if self.rate is None else (self.rate.low * 100, self.rate.high * 100)

    def value(self, metric: str):
        if metric == "response_rate":
            return None if self.rate is None else round(self.rate.estimate * 100, 1)
        number = getattr(self, metric)
        return round(number, 1) if isinstance(number, float) else number


def _metric_rows(scope: ResponseScope, group_by: list[str], by_channel: bool) -> dict[tuple, MetricRow]:
    """Counts, rate and medians per group (no group_by: one row for everything, key ())."""
    frame = scope.frame(by_channel)
    if frame.empty:
        return {}
    columns = ResponseScope.COUNTS[by_channel]
    if group_by:
        grouped = frame.groupby(group_by, sort=False, dropna=False)
        codes = grouped.ngroup().to_numpy()
        sums = grouped[list(dict.fromkeys(columns.values()))].sum()  # groups in the order of the codes
        keys = [_key(key) for key in sums.index]
    else:
        codes = np.zeros(len(frame), dtype=np.int64)
        sums = frame[list(dict.fromkeys(columns.values()))].sum().to_frame().T
        keys = [()]
    first_response, resolution = ResponseScope.DIGESTS[by_channel]
    first_medians = scope.medians(first_response, codes, len(keys))
    resolution_medians = scope.medians(resolution, codes, len(keys))
    rows = {}
    for number, (key, counts) in enumerate(zip(keys, sums.itertuples(index=False), strict=True)):
        row = MetricRow(key="", label="")
        for name, column in columns.items():
            setattr(row, name, int(getattr(counts, column)))
        row.rate = wilson_interval(row.responses, row.messages_sent)
        row.hours_to_first_response = first_medians[number]
        row.hours_to_resolution = resolution_medians[number]
        rows[key] = row
    return rows


def _labels(dimension: str) -> dict:
    if dimension == "alert_type":
        return dict(AlertType.objects.values_list("pk", "name"))
    if dimension == "team":
        return dict(Team.objects.values_list("pk", "name"))
    choices = {"segment": Segment, "quadrant": Quadrant, "channel": Channel}[dimension]
    return {value: str(label) for value, label in choices.choices}


def _field(dimension: str) -> str:
    return {"alert_type": "alert_type_id", "team": "team_id"}.get(dimension, dimension)


def metrics_by(facts: ResponseScope, dimension: str) -> list[MetricRow]:
    """One row per value of the dimension (alert type, client segment, quadrant or channel), most
    messages first, and a total row last."""
    labels = _labels(dimension)
    by_channel = dimension == "channel"
    rows = []
    for (key,), row in _metric_rows(facts, [_field(dimension)], by_channel).items():
        row.key, row.label = str(key), labels.get(key, str(key))
        rows.append(row)
    rows.sort(key=lambda row: (-row.messages_sent, -row.alerts_raised, row.label))
    row = _metric_rows(facts, [], by_channel).get((), MetricRow(key="", label=""))
    row.key, row.label = "", _("Total")
    rows.append(row)
    return rows


# --- Weekly trend ---------------------------------------------------------------------------------


@dataclass
class Trend:
    weeks: list[date]
    series: list[dict]  # {"key", "label", "values": [number or None per week]}


def weekly_trend(facts: ResponseScope, filters: InsightFilters, *, split_by: str = "team") -> Trend:
    """The chosen metric per week, one series per team (or per value of `split_by`)."""
    # Alerts count once (their primary row) unless the trend is of one channel's messages.
    by_channel = bool(filters.channel)
    group = _field(split_by)
    rows = _metric_rows(facts, ["week", group], by_channel)
    labels = _labels(split_by)
    keys = sorted({key for _week, key in rows}, key=lambda key: str(labels.get(key, key)))
    series = []
    for key in keys:
        values = []
        for week in filters.weeks:
            row = rows.get((week, key))
            values.append(row.value(filters.metric) if row else None)
        series.append({"key": str(key), "label": str(labels.get(key, key)), "values": values})
    return Trend(weeks=filters.weeks, series=series)


# --- Change markers -------------------------------------------------------------------------------


@dataclass
class ChangeMarker:
    week: date
    kind: str  # framework | canvas | playbook
    label: str
    count: int = 1


def change_markers(filters: InsightFilters) -> list[ChangeMarker]:
    """Framework versions activated, canvas moves and playbook changes in the period, per week and kind.

    These are the firm's own decisions (no client data), so every team sees them.
    """
    from canvas.models import PlacementChange
    from followup.models import PlaybookChange
    from framework.models import FrameworkChange

    tz = timezone.get_current_timezone()

    def local_week(moment) -> date:
        return week_start(timezone.localtime(moment, tz).date())

    start = timezone.make_aware(timezone.datetime.combine(filters.start, timezone.datetime.min.time()), tz)
    end = timezone.make_aware(timezone.datetime.combine(filters.end, timezone.datetime.min.time()), tz)
    grouped: dict[tuple[date, str], list[str]] = defaultdict(list)
    activations = FrameworkChange.objects.filter(
        action=FrameworkChange.Action.ACTIVATED, changed_at__gte=start, changed_at__lt=end
    ).select_related("version")
    for change in activations:
        grouped[(local_week(change.changed_at), "framework")].append(change.version.name)
    moves = PlacementChange.objects.filter(at__gte=start, at__lt=end).select_related("alert_type")
    for move in moves:
        grouped[(local_week(move.at), "canvas")].append(str(move.alert_type))
    for change in PlaybookChange.objects.filter(at__gte=start, at__lt=end):
        grouped[(local_week(change.at), "playbook")].append(change.summary)
    markers = []
    for (week, kind), names in sorted(grouped.items()):
        unique = list(dict.fromkeys(names))
        if kind == "framework":
            label = _("Framework activated: %(names)s") % {"names": ", ".join(unique)}
        elif kind == "canvas":
            label = _("Canvas: %(count)s moves (%(names)s)") % {"count": len(names), "names": ", ".join(unique[:3])}
        else:
            label = _("Playbook: %(names)s") % {"names": "; ".join(unique[:2])}
        markers.append(ChangeMarker(week=week, kind=kind, label=label, count=len(names)))
    return markers


# --- Recommendations ------------------------------------------------------------------------------


@dataclass
class Recommendation:
    group_dimension: str
    group_key: str
    group_label: str
    better: str
    worse: str
    better_label: str
    worse_label: str
    better_rate: Interval
    worse_rate: Interval
    better_n: int
    worse_n: int
    ratio: Interval

    @property
    def text(self) -> str:
        return _(
            "For %(group)s, %(better)s gets %(ratio)s× the response rate of %(worse)s "  # noqa: RUF001
            "(%(better_rate)s%% vs %(worse_rate)s%%; n = %(better_n)s vs %(worse_n)s; "
            "%(confidence)s%% interval of the ratio %(low)s–%(high)s×)."  # noqa: RUF001
        ) % {
            "group": self.group_label,
            "better": self.better_label,
            "worse": self.worse_label,
            "ratio": f"{self.ratio.estimate:.1f}",
            "better_rate": f"{self.better_rate.estimate * 100:.0f}",
            "worse_rate": f"{self.worse_rate.estimate * 100:.0f}",
            "better_n": self.better_n,
            "worse_n": self.worse_n,
            "confidence": f"{CONFIDENCE * 100:.0f}",
            "low": f"{self.ratio.low:.1f}",
            "high": f"{self.ratio.high:.1f}",
        }


def channel_recommendations(
    facts: ResponseScope, *, group_dimensions=("segment", "alert_type"), min_sample: int = MIN_SAMPLE
) -> list[Recommendation]:
    """Where one channel gets clearly more responses than another, per client segment and alert type.

    A pair of channels is compared only when both sent at least `min_sample` messages in the group,
    and a recommendation is made only when the whole 95% Katz interval of the ratio of their response
    rates lies above MIN_RATIO. Per group: the best channel against each channel it clearly beats.
    """
    recommendations = []
    for dimension in group_dimensions:
        labels, channel_labels = _labels(dimension), _labels("channel")
        frame = facts.frame(by_channel=True)
        per_group: dict = defaultdict(list)
        if not frame.empty:
            counts = frame.groupby([_field(dimension), "channel"], sort=False)[["sent", "responded"]].sum()
            for key, row in counts.iterrows():
                group_key, channel = _key(key)
                if row["sent"] >= min_sample:
                    per_group[group_key].append((channel, int(row["sent"]), int(row["responded"])))
        for group_key, channels in per_group.items():
            channels.sort(key=lambda entry: (-(entry[2] / entry[1]), entry[0]))
            best, best_sent, best_responded = channels[0]
            for other, sent, responded in channels[1:]:
                ratio = rate_ratio_interval(best_responded, best_sent, responded, sent)
                if ratio is None or ratio.low <= MIN_RATIO:
                    continue
                recommendations.append(
                    Recommendation(
                        group_dimension=dimension,
                        group_key=str(group_key),
                        group_label=str(labels.get(group_key, group_key)),
                        better=best,
                        worse=other,
                        better_label=channel_labels.get(best, best),
                        worse_label=channel_labels.get(other, other),
                        better_rate=wilson_interval(best_responded, best_sent),
                        worse_rate=wilson_interval(responded, sent),
                        better_n=best_sent,
                        worse_n=sent,
                        ratio=ratio,
                    )
                )
    recommendations.sort(key=lambda rec: -rec.ratio.low)
    return recommendations


# --- Retention ------------------------------------------------------------------------------------

# High value: the clients who together bring this share of the book's value (the top of the Pareto curve).
TOP_VALUE_SHARE = Decimal("0.8")
AT_RISK_MIN_SIGNALS = 2


def clients_scope(user, team_id: int | None) -> Q:
    """Client ids filter for retention figures: the user's team, or the chosen team."""
    if not user_sees_all_teams(user):
        return Q(client__team_id=user.team_id) if user.team_id else Q(pk__in=[])
    return team_scope(team_id)


def team_scope(team_id: int | None) -> Q:
    return Q(client__team_id=team_id) if team_id else Q()


def value_per_year(scope: Q) -> list[dict]:
    """Fees, commission and their sum per calendar year, and how many clients paid anything (a client
    has one row a year: counting rows, not distinct clients, spares a sort of every row)."""
    rows = (
        ClientRevenue.objects.filter(scope, client__deleted_at__isnull=True)
        .values("year")
        .annotate(fees=Sum("fees"), commission=Sum("commission"), clients=Count("pk"))
        .order_by("year")
    )
    return [{**row, "total": row["fees"] + row["commission"]} for row in rows]


def _current_facts(scope: Q):
    return ClientFacts.objects.filter(scope, client__deleted_at__isnull=True)


@dataclass
class ValueConcentration:
    clients_with_value: int
    total_value: Decimal
    top_clients: int  # how many clients bring TOP_VALUE_SHARE of the value
    threshold: Decimal | None  # the smallest value among them
    products_held: int
    top: list = field(default_factory=list)


def value_concentration(scope: Q, *, limit: int = 25) -> ValueConcentration:
    """How concentrated the book's value is: how many clients bring 80% of it, and the top clients.

    The running sum is a window function in the database (one sort of the valued clients).
    """
    facts = _current_facts(scope)
    valued = facts.filter(client_value__gt=0)
    totals = valued.aggregate(total=Sum("client_value"), clients=Count("pk"))
    products = facts.aggregate(products=Sum("products_held"))["products"] or 0
    total = totals["total"] or Decimal(0)
    if not total:
        return ValueConcentration(0, Decimal(0), 0, None, products)
    running = valued.annotate(
        running=Window(Sum("client_value"), order_by=[F("client_value").desc(), F("pk").asc()], frame=RowRange(None, 0))
    )
    # The clients before the running sum reaches 80%, plus the one that reaches it.
    inside = running.filter(running__lt=total * TOP_VALUE_SHARE).values_list("client_value", flat=True)
    top_count = inside.count() + 1
    threshold = valued.order_by("-client_value", "pk").values_list("client_value", flat=True)[top_count - 1]
    top = list(valued.select_related("client").order_by("-client_value", "pk")[:limit])
    return ValueConcentration(totals["clients"], total, top_count, threshold, products, top)


def _signal_counts() -> dict:
    return {
        "clients": Count("pk"),
        "open_complaints": Count("pk", filter=Q(open_complaints__gt=0)),
        "products_ending": Count("pk", filter=Q(products_ending_within_90_days__gt=0)),
        "no_contact": Count("pk", filter=Q(days_since_last_contact__isnull=True) | Q(days_since_last_contact__gte=365)),
        "falling_engagement": Count("pk", filter=Q(engagement_trend__lt=0)),
        "at_risk": Count("pk", filter=Q(churn_risk_signals__gte=AT_RISK_MIN_SIGNALS)),
    }


def churn_signal_counts(scope: Q) -> dict[str, int]:
    return _current_facts(scope).aggregate(**_signal_counts())


def high_value_at_risk(scope: Q, *, threshold: Decimal | None, limit: int = 50) -> list:
    """The high-value clients (value at least `threshold`) with AT_RISK_MIN_SIGNALS or more signals."""
    if threshold is None:
        return []
    return list(
        _current_facts(scope)
        .filter(client_value__gte=threshold, churn_risk_signals__gte=AT_RISK_MIN_SIGNALS)
        .select_related("client")
        .order_by("-churn_risk_signals", "-client_value", "pk")[:limit]
    )


@dataclass
class RetentionFigures:
    years: list[dict]
    concentration: ValueConcentration
    signals: dict
    at_risk: list
    computed_at: datetime | None = None  # None: computed for this page, just now


def retention_compute(team_id: int | None, scope: Q | None = None) -> RetentionFigures:
    """Every figure of the retention page for one team (None: all teams), from the current facts."""
    scope = team_scope(team_id) if scope is None else scope
    concentration = value_concentration(scope)
    return RetentionFigures(
        years=value_per_year(scope),
        concentration=concentration,
        signals=churn_signal_counts(scope),
        at_risk=high_value_at_risk(scope, threshold=concentration.threshold),
    )


def retention_compute_every_team(team_ids: list[int]) -> dict[int | None, RetentionFigures]:
    """`retention_compute` for all teams (key None) and for each of `team_ids`, as the snapshots need.

    Value per year and the signal counts are sums: one GROUP BY team each, and all teams are the sum
    of the teams (every client has a team), instead of a scan of every revenue row and every client's
    facts per scope. The value concentration sorts each scope's clients, so it stays per scope.
    """
    years: dict[int, dict[int, dict]] = {}
    revenue = (
        ClientRevenue.objects.filter(client__deleted_at__isnull=True)
        .values("client__team_id", "year")
        .annotate(fees=Sum("fees"), commission=Sum("commission"), clients=Count("pk"))
        .order_by()
    )
    for row in revenue:
        team = years.setdefault(row.pop("client__team_id"), {})
        team[row["year"]] = row
    signals = {
        row.pop("client__team_id"): row
        for row in _current_facts(Q()).values("client__team_id").annotate(**_signal_counts()).order_by()
    }
    no_signals = dict.fromkeys(_signal_counts(), 0)

    def summed(rows: list[dict], keys) -> dict:
        return {key: sum(row[key] for row in rows) for key in keys}

    every_year = sorted({year for team in years.values() for year in team})
    all_years = [
        {
            "year": year,
            **summed([team[year] for team in years.values() if year in team], ["fees", "commission", "clients"]),
        }
        for year in every_year
    ]
    figures = {}
    for team_id in [None, *team_ids]:
        if team_id is None:
            team_years, team_signals = all_years, summed(list(signals.values()) or [no_signals], no_signals)
        else:
            team_years = [years[team_id][year] for year in sorted(years.get(team_id, {}))]
            team_signals = {**no_signals, **signals.get(team_id, {})}
        scope = team_scope(team_id)
        concentration = value_concentration(scope)
        figures[team_id] = RetentionFigures(
            years=[{**row, "total": row["fees"] + row["commission"]} for row in team_years],
            concentration=concentration,
            signals=team_signals,
            at_risk=high_value_at_risk(scope, threshold=concentration.threshold),
        )
    return figures


def retention_figures(user, team_id: int | None = None) -> RetentionFigures:
    """The retention figures this user may see: the latest snapshot of their team (or of the chosen
    team, or of all teams), or, when there is none yet, computed now."""
    if user_sees_all_teams(user):
        team = team_id
    elif user.team_id:
        team = user.team_id
    else:
        return retention_compute(None, scope=Q(pk__in=[]))
    snapshot = RetentionSnapshot.objects.filter(**({"team_id": team} if team else {"team__isnull": True})).first()
    if snapshot is None:
        return retention_compute(team)
    return _figures_from_json(snapshot.figures, snapshot.computed_at, clients_scope(user, team_id))


def _money(value) -> str | None:
    return None if value is None else str(value)


def retention_figures_json(figures: RetentionFigures) -> dict:
    """The figures as a snapshot keeps them: money as decimal strings, clients as their ids."""
    concentration = figures.concentration
    return {
        "years": [
            {**row, "fees": _money(row["fees"]), "commission": _money(row["commission"]), "total": _money(row["total"])}
            for row in figures.years
        ],
        "concentration": {
            "clients_with_value": concentration.clients_with_value,
            "total_value": _money(concentration.total_value),
            "top_clients": concentration.top_clients,
            "threshold": _money(concentration.threshold),
            "products_held": concentration.products_held,
            "top": [fact.pk for fact in concentration.top],
        },
        "signals": figures.signals,
        "at_risk": [fact.pk for fact in figures.at_risk],
    }


def _figures_from_json(data: dict, computed_at: datetime, scope: Q) -> RetentionFigures:
    """A snapshot's figures; its top and at-risk clients read by primary key (names and links current),
    and only while the user may still see them."""
    shown = data["concentration"]["top"] + data["at_risk"]
    facts = _current_facts(scope).filter(pk__in=shown).select_related("client").in_bulk()
    concentration = data["concentration"]

    def money(value):
        return None if value is None else Decimal(value)

    return RetentionFigures(
        years=[
            {**row, "fees": money(row["fees"]), "commission": money(row["commission"]), "total": money(row["total"])}
            for row in data["years"]
        ],
        concentration=ValueConcentration(
            clients_with_value=concentration["clients_with_value"],
            total_value=money(concentration["total_value"]),
            top_clients=concentration["top_clients"],
            threshold=money(concentration["threshold"]),
            products_held=concentration["products_held"],
            top=[facts[pk] for pk in concentration["top"] if pk in facts],
        ),
        signals=data["signals"],
        at_risk=[facts[pk] for pk in data["at_risk"] if pk in facts],
        computed_at=computed_at,
    )
