from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.selectors import user_sees_all_teams

from . import services
from .forms import AlertFilterForm, BulkActionForm, scope_default
from .models import Alert
from .selectors import (
    BY_DUE_DATE,
    BY_VALUE,
    AlertFilters,
    alert_get_for_user,
    alert_queue,
    alert_queue_page,
    alerts_visible_to,
    quadrant_counts_cached,
)

SEEN_KEY = "alerts_seen_at"


def _filters(form: AlertFilterForm, user) -> AlertFilters:
    default_scope = scope_default(user)
    if not form.is_valid():
        return AlertFilters(scope=default_scope)
    data = form.cleaned_data
    return AlertFilters(
        scope=data["scope"] or default_scope,
        alert_type=data["alert_type"],
        quadrant=data["quadrant"],
        status=data["status"] or "live",
        due_within_days=int(data["due"]) if data["due"] else None,
        segment=data["segment"],
        team_id=data["team"].pk if data.get("team") else None,
    )


def _assignees(user):
    advisors = get_user_model().objects.filter(groups__name="Advisor", is_active=True).order_by("first_name")
    return advisors if user_sees_all_teams(user) else advisors.filter(team_id=user.team_id)


@permission_required("accounts.access_alerts", raise_exception=True)
def dashboard_view(request):
    """The advisor's work queue: their alerts in the canvas's order; filters and actions update in place."""
    form = AlertFilterForm(request.GET or None, user=request.user)
    filters = _filters(form, request.user)
    queue = alert_queue(user=request.user, filters=filters)
    by_value = form.is_valid() and form.cleaned_data.get("order") == "value"
    page = alert_queue_page(queue, order=BY_VALUE if by_value else BY_DUE_DATE, after=request.GET.get("after", ""))
    live_scope = alert_queue(user=request.user, filters=AlertFilters(scope=filters.scope, team_id=filters.team_id))
    context = {
        "form": form,
        "filters": filters,
        "page": page,
        "quadrants": quadrant_counts_cached(
            live_scope, key=f"{request.user.pk}:{filters.scope}:{filters.team_id or ''}"
        ),
        "bulk_form": BulkActionForm(assignees=_assignees(request.user)),
        "query": _query_without(request, "after"),
        # Translated once, filled per row (`fill`): a blocktranslate per row was a tenth of the page.
        "tick_label": _("Tick the alert of %(client)s"),
    }
    request.session[SEEN_KEY] = timezone.now().isoformat()
    template = (
        "alerts/_queue.html" if request.htmx and request.htmx.target == "alert-queue" else "alerts/dashboard.html"
    )
    return render(request, template, context)


def _query_without(request, *names) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


@require_POST
@permission_required("accounts.access_alerts", raise_exception=True)
def bulk_action_view(request):
    """Apply one action to the ticked alerts; alerts of other teams are never touched."""
    form = BulkActionForm(request.POST, assignees=_assignees(request.user))
    if not form.is_valid():
        messages.error(request, " ".join(str(error) for errors in form.errors.values() for error in errors))
        return redirect(request.POST.get("next") or "alerts:dashboard")
    data = form.cleaned_data
    alerts = alerts_visible_to(request.user).filter(pk__in=data["alert_ids"])
    try:
        count = _apply(data["action"], alerts, request.user, data)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("%(count)s alerts updated.") % {"count": count})
    return redirect(request.POST.get("next") or "alerts:dashboard")


def _apply(action: str, alerts, user, data) -> int:
    if action == "start":
        return services.alerts_start(alerts=alerts, user=user)
    if action == "snooze":
        return services.alerts_snooze(alerts=alerts, until=data["until"], user=user, reason=data.get("reason", ""))
    if action == "resolve":
        return services.alerts_resolve(alerts=alerts, user=user, reason=data.get("reason", ""))
    if action == "dismiss":
        return services.alerts_dismiss(alerts=alerts, user=user, reason=data.get("reason", ""))
    return services.alerts_assign(alerts=alerts, assignee=data.get("assignee"), user=user)


@permission_required("accounts.access_alerts", raise_exception=True)
def alert_detail_view(request, alert_id: int):
    """One alert: why it was raised (values, sources, ages), its history, and what to do."""
    try:
        alert = alert_get_for_user(user=request.user, alert_id=alert_id)
    except Alert.DoesNotExist as error:
        raise Http404 from error
    explanation = None
    if alert.rule is not None:
        from framework.selectors import rule_explain

        explanation = rule_explain(rule=alert.rule, client_id=alert.client_id)
        services.alert_explanation_record(alert=alert, explanation=explanation)
    return render(
        request,
        "alerts/alert_detail.html",
        {
            "alert": alert,
            "explanation": explanation,
            "events": alert.events.select_related("by"),
            "bulk_form": BulkActionForm(assignees=_assignees(request.user)),
            "page_sections": getattr(settings, "STEWARD_ALERT_PAGE_SECTIONS", []),
        },
    )
