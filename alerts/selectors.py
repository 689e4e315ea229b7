"""Reads of alerts, with access control built in: an advisor sees only their team's alerts."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, F, Q, QuerySet
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


# --- Keyset pagination in the queue's order: priority (high first), due date (soonest, none last), id ---


@dataclass
class QueuePage:
    items: list[Alert]
    next_cursor: str | None


def _cursor(alert: Alert) -> str:
    due = alert.due_date.isoformat() if alert.due_date else "-"
    return f"{alert.priority}.{due}.{alert.pk}"


def _after(cursor: str) -> Q | None:
    try:
        priority_text, due_text, pk_text = cursor.split(".")
        priority, pk = int(priority_text), int(pk_text)
        due = None if due_text == "-" else date.fromisoformat(due_text)
    except ValueError:
        return None
    if due is None:
        same_priority = Q(due_date__isnull=True, pk__gt=pk)
    else:
        same_priority = Q(due_date__gt=due) | Q(due_date__isnull=True) | Q(due_date=due, pk__gt=pk)
    return Q(priority__lt=priority) | (Q(priority=priority) & same_priority)


def queue_ordered(alerts: QuerySet[Alert]) -> QuerySet[Alert]:
    """The queue in its order, with what a row shows; the order matches the queue indexes of Alert."""
    return alerts.select_related("alert_type", "client", "assigned_to").order_by(
        "-priority", F("due_date").asc(nulls_last=True), "pk"
    )


def alert_queue_page(alerts: QuerySet[Alert], *, after: str = "", size: int = 50) -> QueuePage:
    """A page of the queue by keyset: the first page and the thousandth cost the same."""
    if after and (condition := _after(after)) is not None:
        alerts = alerts.filter(condition)
    rows = list(queue_ordered(alerts)[: size + 1])
    items = rows[:size]
    return QueuePage(items=items, next_cursor=_cursor(items[-1]) if len(rows) > size else None)


def alert_types_in_use() -> QuerySet[AlertType]:
    return AlertType.objects.order_by("name")


def new_urgent_alert_count(*, user, since) -> int:
    """Urgent alerts raised for this user since they last looked at the dashboard (the navigation badge)."""
    alerts = alerts_visible_to(user).filter(assigned_to=user, status=Alert.Status.OPEN, quadrant__in=URGENT_QUADRANTS)
    if since is not None:
        alerts = alerts.filter(opened_at__gt=since)
    return alerts.count()


def nav_badge_new_urgent(request) -> int:
    """The navigation's badge: urgent alerts raised for this user since their last dashboard visit."""
    from django.utils.dateparse import parse_datetime

    if not request.user.has_perm("accounts.access_alerts"):
        return 0
    seen = request.session.get("alerts_seen_at")
    return new_urgent_alert_count(user=request.user, since=parse_datetime(seen) if seen else None)


# --- Within a priority, the most valuable client first (the dashboard's "order by value" option) ---


def _value_cursor(alert: Alert) -> str:
    return f"{alert.priority}.{alert.value_rank}.{alert.pk}"


def alert_queue_page_by_value(alerts: QuerySet[Alert], *, after: str = "", size: int = 50) -> QueuePage:
    """A page of the queue in priority order (so quadrants stay apart), then by the client's value
    per year (facts.client_value, from fees and commission; unknown counts as 0), by keyset."""
    from decimal import Decimal

    from django.db.models import DecimalField, Value
    from django.db.models.functions import Coalesce

    ranked = alerts.annotate(
        value_rank=Coalesce(
            F("client__facts__client_value"), Value(0), output_field=DecimalField(max_digits=14, decimal_places=2)
        )
    )
    if after:
        try:
            priority_text, value_text, pk_text = after.split(".", 1)[0], *after.split(".", 1)[1].rsplit(".", 1)
            priority, value, pk = int(priority_text), Decimal(value_text), int(pk_text)
        except (ValueError, ArithmeticError, IndexError):
            pass
        else:
            ranked = ranked.filter(
                Q(priority__lt=priority)
                | Q(priority=priority, value_rank__lt=value)
                | Q(priority=priority, value_rank=value, pk__gt=pk)
            )
    ordered = ranked.select_related("alert_type", "client", "assigned_to").order_by("-priority", "-value_rank", "pk")
    rows = list(ordered[: size + 1])
    items = rows[:size]
    return QueuePage(items=items, next_cursor=_value_cursor(items[-1]) if len(rows) > size else None)
