"""Reads of insights: response analytics, recommendations, change markers and the retention view.

Every figure is a GROUP BY in the database over the summary table `ResponseFact` (response
analytics) or over ClientFacts/ClientRevenue (retention); medians are PERCENTILE_CONT on PostgreSQL
and a pandas median over the values on SQLite (which has no percentile function). Access is built in:
an advisor's figures are their own team's, whatever the filters say.

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
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
from django.db import connection
from django.db.models import Aggregate, Count, F, FloatField, Q, QuerySet, Sum, Value, Window
from django.db.models.expressions import RowRange
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Team
from accounts.selectors import user_sees_all_teams
from alerts.models import AlertType, Quadrant
from clients.models import Channel, ClientRevenue, Segment
from enrichment.models import ClientFacts

from .models import ResponseFact
from .services import week_start
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


def facts_visible_to(user, filters: InsightFilters) -> QuerySet[ResponseFact]:
    """The response facts of the period this user may see: their team's, or the chosen team's."""
    facts = ResponseFact.objects.filter(week__gte=filters.start, week__lt=filters.end)
    if not user_sees_all_teams(user):
        if not user.team_id:
            return facts.none()
        facts = facts.filter(team_id=user.team_id)
    elif filters.team_id:
        facts = facts.filter(team_id=filters.team_id)
    if filters.alert_type:
        facts = facts.filter(alert_type__key=filters.alert_type)
    if filters.channel:
        facts = facts.filter(channel=filters.channel)
    return facts


# --- Aggregates -----------------------------------------------------------------------------------


class Median(Aggregate):
    """PostgreSQL's exact median (the mean of the two middle values for an even count)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _medians(facts: QuerySet, group_by: list[str], value: str, where: Q) -> dict[tuple, float]:
    """Median of `value` per group (rows matching `where`, values not NULL), in the database when it can."""
    rows = facts.filter(where, **{f"{value}__isnull": False}).order_by()
    if _is_postgres():
        result = rows.values(*group_by).annotate(median=Median(value)).values_list(*group_by, "median")
        return {tuple(row[:-1]): row[-1] for row in result}
    data = pd.DataFrame.from_records(list(rows.values_list(*group_by, value)), columns=[*group_by, value])
    if data.empty:
        return {}
    medians = data.groupby(group_by)[value].median()
    return {(key if isinstance(key, tuple) else (key,)): float(median) for key, median in medians.items()}


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


def _counts(facts: QuerySet, group_by: list[str], by_channel: bool) -> QuerySet:
    """Counts per group. Per channel every messaged row counts; per alert dimension the primary rows
    carry the alert (so an alert messaged through two channels is one alert, one meeting)."""
    if by_channel:
        return (
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
    return facts.values(*group_by).annotate(
        alerts_raised=Count("pk", filter=Q(is_primary=True)),
        messages_sent=Count("pk", filter=Q(sent_at__isnull=False)),
        responses=Count("pk", filter=Q(responded=True)),
        meetings_booked=Coalesce(Sum("alert_meetings_booked"), 0),
        advice_given=Coalesce(Sum("alert_advice_given"), 0),
    )


def _metric_rows(facts: QuerySet, group_by: list[str], by_channel: bool) -> dict[tuple, MetricRow]:
    facts = facts.order_by()
    rows: dict[tuple, MetricRow] = {}
    for counts in _counts(facts, group_by, by_channel):
        key = tuple(counts[name] for name in group_by)
        row = MetricRow(key="", label="")
        for name in ("alerts_raised", "messages_sent", "responses", "meetings_booked", "advice_given"):
            setattr(row, name, int(counts[name]))
        row.rate = wilson_interval(row.responses, row.messages_sent)
        rows[key] = row
    if by_channel:
        first_response = _medians(facts, group_by, "hours_to_response", ~Q(channel=""))
        resolution = _medians(facts, group_by, "alert_hours_to_resolution", ~Q(channel=""))
    else:
        first_response = _medians(facts, group_by, "alert_hours_to_first_response", Q(is_primary=True))
        resolution = _medians(facts, group_by, "alert_hours_to_resolution", Q(is_primary=True))
    for key, row in rows.items():
        row.hours_to_first_response = first_response.get(key)
        row.hours_to_resolution = resolution.get(key)
    return rows


def _labels(dimension: str) -> dict:
    if dimension == "alert_type":
        return dict(AlertType.objects.values_list("pk", "name"))
    if dimension == "team":
        return dict(Team.objects.values_list("pk", "name"))
    choices = {"segment": Segment, "quadrant": Quadrant, "channel": Channel}[dimension]
    return {value: str(label) for value, label in choices.choices}


def _field(dimension: str) -> str:
    return "alert_type_id" if dimension == "alert_type" else dimension


def metrics_by(facts: QuerySet, dimension: str) -> list[MetricRow]:
    """One row per value of the dimension (alert type, client segment, quadrant or channel), most
    messages first, and a total row last."""
    labels = _labels(dimension)
    by_channel = dimension == "channel"
    rows = []
    for (key,), row in _metric_rows(facts, [_field(dimension)], by_channel).items():
        row.key, row.label = str(key), labels.get(key, str(key))
        rows.append(row)
    rows.sort(key=lambda row: (-row.messages_sent, -row.alerts_raised, row.label))
    # A constant to group by: the whole period as one group (constants are left out of GROUP BY).
    total = _metric_rows(facts.annotate(everything=Value(1)), ["everything"], by_channel)
    row = total.get((1,), MetricRow(key="", label=""))
    row.key, row.label = "", _("Total")
    rows.append(row)
    return rows


# --- Weekly trend ---------------------------------------------------------------------------------


@dataclass
class Trend:
    weeks: list[date]
    series: list[dict]  # {"key", "label", "values": [number or None per week]}


def weekly_trend(facts: QuerySet, filters: InsightFilters, *, split_by: str = "team") -> Trend:
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
    facts: QuerySet, *, group_dimensions=("segment", "alert_type"), min_sample: int = MIN_SAMPLE
) -> list[Recommendation]:
    """Where one channel gets clearly more responses than another, per client segment and alert type.

    A pair of channels is compared only when both sent at least `min_sample` messages in the group,
    and a recommendation is made only when the whole 95% Katz interval of the ratio of their response
    rates lies above MIN_RATIO. Per group: the best channel against each channel it clearly beats.
    """
    recommendations = []
    for dimension in group_dimensions:
        labels, channel_labels = _labels(dimension), _labels("channel")
        counts = (
            facts.order_by()
            .exclude(channel="")
            .values(_field(dimension), "channel")
            .annotate(
                sent=Count("pk", filter=Q(sent_at__isnull=False)), responded=Count("pk", filter=Q(responded=True))
            )
        )
        per_group: dict = defaultdict(list)
        for row in counts:
            if row["sent"] >= min_sample:
                per_group[row[_field(dimension)]].append((row["channel"], row["sent"], row["responded"]))
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


def clients_scope(user, team_id: int | None):
    """Client ids filter for retention figures: the user's team, or the chosen team."""
    if not user_sees_all_teams(user):
        return Q(client__team_id=user.team_id) if user.team_id else Q(pk__in=[])
    return Q(client__team_id=team_id) if team_id else Q()


def value_per_year(user, team_id: int | None = None) -> list[dict]:
    """Fees, commission and their sum per calendar year, and how many clients paid anything."""
    rows = (
        ClientRevenue.objects.filter(clients_scope(user, team_id), client__deleted_at__isnull=True)
        .values("year")
        .annotate(fees=Sum("fees"), commission=Sum("commission"), clients=Count("client_id", distinct=True))
        .order_by("year")
    )
    return [{**row, "total": row["fees"] + row["commission"]} for row in rows]


def _current_facts(user, team_id):
    return ClientFacts.objects.filter(clients_scope(user, team_id), client__deleted_at__isnull=True)


@dataclass
class ValueConcentration:
    clients_with_value: int
    total_value: Decimal
    top_clients: int  # how many clients bring TOP_VALUE_SHARE of the value
    threshold: Decimal | None  # the smallest value among them
    products_held: int
    top: list = field(default_factory=list)


def value_concentration(user, team_id: int | None = None, *, limit: int = 25) -> ValueConcentration:
    """How concentrated the book's value is: how many clients bring 80% of it, and the top clients.

    The running sum is a window function in the database (one sort of the valued clients).
    """
    facts = _current_facts(user, team_id)
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


def churn_signal_counts(user, team_id: int | None = None) -> dict[str, int]:
    facts = _current_facts(user, team_id)
    return facts.aggregate(
        clients=Count("pk"),
        open_complaints=Count("pk", filter=Q(open_complaints__gt=0)),
        products_ending=Count("pk", filter=Q(products_ending_within_90_days__gt=0)),
        no_contact=Count("pk", filter=Q(days_since_last_contact__isnull=True) | Q(days_since_last_contact__gte=365)),
        falling_engagement=Count("pk", filter=Q(engagement_trend__lt=0)),
        at_risk=Count("pk", filter=Q(churn_risk_signals__gte=AT_RISK_MIN_SIGNALS)),
    )


def high_value_at_risk(user, team_id: int | None = None, *, threshold: Decimal | None, limit: int = 50) -> list:
    """The high-value clients (value at least `threshold`) with AT_RISK_MIN_SIGNALS or more signals."""
    if threshold is None:
        return []
    return list(
        _current_facts(user, team_id)
        .filter(client_value__gte=threshold, churn_risk_signals__gte=AT_RISK_MIN_SIGNALS)
        .select_related("client")
        .order_by("-churn_risk_signals", "-client_value", "pk")[:limit]
    )
