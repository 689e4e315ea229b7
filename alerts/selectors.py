"""Reads of alerts, with access control built in: an advisor sees only their team's alerts."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import reduce
from operator import or_
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, DecimalField, F, Q, QuerySet, Value
from django.db.models.expressions import OrderBy
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.selectors import user_sees_all_teams

from .models import Alert, AlertType, Quadrant

URGENT_QUADRANTS = (Quadrant.URGENT_SENSITIVE, Quadrant.URGENT_ROUTINE)


def alerts_visible_to(user) -> QuerySet[Alert]:
    """Every alert this user may see: their team's, or every team's for back office and admins."""
    if user_sees_all_teams(user):
        return Alert.objects.all()
    if not user.team_id:
        return Alert.objects.none()
    return Alert.objects.filter(team_id=user.team_id)


def alert_get_for_user(*, user, alert_id: int) -> Alert:
    """One alert of a client the user may see; another team's alert does not exist for them."""
    return (
        alerts_visible_to(user)
        .select_related("alert_type", "client", "assigned_to", "rule", "rule_version")
        .get(pk=alert_id)
    )


@dataclass(frozen=True)
class AlertFilters:
    scope: str = "mine"  # mine | team | all
    alert_type: str = ""
    quadrant: str = ""
    status: str = "live"  # live | open | in_progress | snoozed | resolved | dismissed
    due_within_days: int | None = None
    segment: str = ""
    team_id: int | None = None


def alert_queue(*, user, filters: AlertFilters) -> QuerySet[Alert]:
    """The work queue: the user's (or the team's) alerts in the canvas's order, then by due date."""
    alerts = alerts_visible_to(user)
    if filters.scope == "mine":
        alerts = alerts.filter(assigned_to=user)
    elif filters.scope == "team" and not user_sees_all_teams(user):
        alerts = alerts.filter(team_id=user.team_id)
    if filters.status == "live":
        alerts = alerts.filter(status__in=Alert.LIVE_STATUSES)
    elif filters.status:
        alerts = alerts.filter(status=filters.status)
    if filters.alert_type:
        alerts = alerts.filter(alert_type__key=filters.alert_type)
    if filters.quadrant:
        alerts = alerts.filter(quadrant=filters.quadrant)
    if filters.segment:
        alerts = alerts.filter(segment=filters.segment)
    if filters.team_id:
        alerts = alerts.filter(team_id=filters.team_id)
    if filters.due_within_days is not None:
        alerts = alerts.filter(due_date__lte=timezone.localdate() + timedelta(days=filters.due_within_days))
    return alerts


# The quadrant counts above the queue are a GROUP BY over every live alert of the scope: with a
# million alerts an advisor can have hundreds of thousands, and the count took over a second while
# the page itself takes milliseconds. So they are kept in the cache for a minute, under a generation
# number that every write to alerts bumps (`alerts.services.alert_counts_invalidate`): an advisor's
# own action shows at once, the framework's nightly run too.
# settings.STEWARD_ALERT_COUNTS_CACHE_SECONDS overrides the minute; 0 turns the cache off (the tests).
QUADRANT_COUNTS_SECONDS = 60
COUNTS_GENERATION_KEY = "alerts:counts-generation"


def quadrant_counts_cached(alerts: QuerySet[Alert], *, key: str) -> dict[str, int]:
    """`quadrant_counts` of this queue, from the cache when nothing was written since (see above).

    `key` names the queue (user, scope, team): the same key must always mean the same queryset.
    """
    seconds = getattr(settings, "STEWARD_ALERT_COUNTS_CACHE_SECONDS", QUADRANT_COUNTS_SECONDS)
    if not seconds:
        return quadrant_counts(alerts)
    generation = cache.get(COUNTS_GENERATION_KEY, 0)
    cache_key = f"alerts:quadrants:{generation}:{key}"
    counts = cache.get(cache_key)
    if counts is None:
        counts = quadrant_counts(alerts)
        cache.set(cache_key, counts, seconds)
    return counts


def quadrant_counts(alerts: QuerySet[Alert]) -> dict[str, int]:
    """How many alerts of the queue sit in each quadrant of the canvas."""
    counts = dict(
        alerts.order_by().values_list("quadrant").annotate(count=Count("pk")).values_list("quadrant", "count")
    )
    return {quadrant: counts.get(quadrant, 0) for quadrant in Quadrant.values}


# --- Keyset pagination in one of the queue's orders ---


@dataclass(frozen=True)
class SortKey:
    """One column of a queue order: its name on the row, its direction, and how a cursor spells it."""

    name: str
    descending: bool = False
    nulls_last: bool = False  # a nullable column, ascending, with the rows without a value at the end
    parse: Callable[[str], Any] = int

    def order_by(self) -> OrderBy:
        return F(self.name).desc() if self.descending else F(self.name).asc(nulls_last=self.nulls_last or None)

    def beyond(self, value) -> Q | None:
        """Rows strictly after `value` in this column's order (None: there are none)."""
        if value is None:  # nulls come last: nothing is beyond them
            return None
        later = Q(**{f"{self.name}__lt" if self.descending else f"{self.name}__gt": value})
        return later | Q(**{f"{self.name}__isnull": True}) if self.nulls_last else later

    def equal(self, value) -> Q:
        return Q(**{f"{self.name}__isnull": True}) if value is None else Q(**{self.name: value})


@dataclass(frozen=True)
class QueueOrder:
    """An order of the queue: priority first (so the canvas's quadrants stay apart), then `keys`,
    ending with the id so that every row has one place. `annotate` adds the columns it sorts by."""

    keys: tuple[SortKey, ...]
    annotate: Callable[[], dict] = dict

    def apply(self, alerts: QuerySet[Alert]) -> QuerySet[Alert]:
        return alerts.annotate(**self.annotate()).order_by(*(key.order_by() for key in self.keys))

    def cursor(self, alert: Alert) -> str:
        values = (getattr(alert, key.name) for key in self.keys)
        return CURSOR_SEPARATOR.join("-" if value is None else str(value) for value in values)

    def after(self, cursor: str) -> Q | None:
        """The rows after the cursor's row (a keyset condition); None for a cursor that is not one of ours."""
        texts = cursor.split(CURSOR_SEPARATOR)
        if len(texts) != len(self.keys):
            return None
        try:
            values = [None if text == "-" else key.parse(text) for key, text in zip(self.keys, texts, strict=True)]
        except (ValueError, ArithmeticError):
            return None
        # (k1 beyond v1) or (k1 = v1 and k2 beyond v2) or ...: the form PostgreSQL reads along the index.
        alternatives, same_so_far = [], Q()
        for key, value in zip(self.keys, values, strict=True):
            if (beyond := key.beyond(value)) is not None:
                alternatives.append(same_so_far & beyond)
            same_so_far &= key.equal(value)
        return reduce(or_, alternatives)


# Cursors join the values with "_": dates have "-" and decimals "." in them, so neither will do.
CURSOR_SEPARATOR = "_"

# Priority (high first), due date (soonest, none last), id: the order of the queue indexes of Alert.
BY_DUE_DATE = QueueOrder(
    keys=(
        SortKey("priority", descending=True),
        SortKey("due_date", nulls_last=True, parse=date.fromisoformat),
        SortKey("pk"),
    )
)
# Within a priority, the most valuable client first: facts.client_value (fees and commission per
# year; unknown counts as 0). No index serves it: a page costs a sort of the queue.
BY_VALUE = QueueOrder(
    keys=(SortKey("priority", descending=True), SortKey("value_rank", descending=True, parse=Decimal), SortKey("pk")),
    annotate=lambda: {
        "value_rank": Coalesce(
            F("client__facts__client_value"), Value(0), output_field=DecimalField(max_digits=14, decimal_places=2)
        )
    },
)


@dataclass
class QueuePage:
    items: list[Alert]
    next_cursor: str | None


# What a row of the queue shows, on the dashboard and in the API, and nothing more. An alert's values,
# explanation and granulation, and the client's other columns (the encrypted BSN, the provenance)
# belong to the detail pages: decoding them for 50 rows was a tenth of a dashboard page.
QUEUE_ROW_FIELDS = (
    *("alert_type", "segment", "client", "team", "assigned_to", "message", "due_date", "priority", "quadrant"),
    *("status", "snoozed_until", "opened_at", "updated_at", "closed_at"),
    *("client__first_name", "client__last_name_prefix", "client__last_name"),
    *("assigned_to__username", "assigned_to__first_name", "assigned_to__last_name"),
)


def queue_ordered(alerts: QuerySet[Alert], order: QueueOrder = BY_DUE_DATE) -> QuerySet[Alert]:
    """The queue in its order, with what a row shows.

    The alert types come in a second query (a few dozen rows) rather than a join: PostgreSQL's
    statistics of that tiny table go stale as rules add types (too few rows change for autovacuum
    to analyze it), and then it chose a merge join walking the whole alert table by type (1 s at a
    million alerts) over the queue index (12 ms cold, with a quadrant and due-date filter).
    """
    return order.apply(
        alerts.select_related("client", "assigned_to").prefetch_related("alert_type").only(*QUEUE_ROW_FIELDS)
    )


def alert_queue_page(
    alerts: QuerySet[Alert], *, order: QueueOrder = BY_DUE_DATE, after: str = "", size: int = 50
) -> QueuePage:
    """A page of the queue by keyset: the first page and the thousandth cost the same (in the
    indexed order). A cursor that is not one of this order's starts from the first page."""
    ordered = queue_ordered(alerts, order)
    if after and (condition := order.after(after)) is not None:
        ordered = ordered.filter(condition)
    rows = list(ordered[: size + 1])
    items = rows[:size]
    return QueuePage(items=items, next_cursor=order.cursor(items[-1]) if len(rows) > size else None)


def alert_types_in_use() -> QuerySet[AlertType]:
    return AlertType.objects.order_by("name")


# The badge counts at most this many: "99+" says enough, and the count stays an index range scan of
# at most a hundred entries however many urgent alerts an advisor has (see alert_new_urgent_idx).
BADGE_CAP = 99


def new_urgent_alert_count(*, user, since, cap: int) -> int:
    """Urgent alerts raised for this user since they last looked at the dashboard (the navigation
    badge), counting no further than `cap`.

    Runs on every page an advisor opens: the partial index `alert_new_urgent_idx` (assignee, opened
    at; open urgent alerts only) serves it, so it reads only the alerts raised since `since`.
    """
    alerts = alerts_visible_to(user).filter(assigned_to=user, status=Alert.Status.OPEN, quadrant__in=URGENT_QUADRANTS)
    if since is not None:
        alerts = alerts.filter(opened_at__gt=since)
    return alerts.order_by()[:cap].count()


def nav_badge_new_urgent(request) -> int | str:
    """The navigation's badge: urgent alerts raised for this user since their last dashboard visit."""
    from django.utils.dateparse import parse_datetime

    if not request.user.has_perm("accounts.access_alerts"):
        return 0
    seen = request.session.get("alerts_seen_at")
    since = parse_datetime(seen) if seen else None
    count = new_urgent_alert_count(user=request.user, since=since, cap=BADGE_CAP + 1)
    return f"{BADGE_CAP}+" if count > BADGE_CAP else count
