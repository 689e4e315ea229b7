"""The alert API: the work queue and its filters, one alert's story, and the actions people take.

Every read starts from `alerts_visible_to` (through the selectors), so another team's alert answers
404 and never shows up in a list, and a bulk action touches only alerts the user may see. The
actions are the lifecycle services the dashboard uses.
"""

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, QuerySet, prefetch_related_objects
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.pagination import BasePagination
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from accounts.roles import ADVISOR
from accounts.selectors import user_sees_all_teams
from config.api_errors import error_responses

from . import services
from .forms import scope_default
from .models import Alert, AlertEvent
from .selectors import alert_get_for_user, alert_queue, alert_queue_page, alerts_visible_to
from .serializers import (
    AlertAssignSerializer,
    AlertBulkResultSerializer,
    AlertBulkSerializer,
    AlertDetailSerializer,
    AlertFilterSerializer,
    AlertListItemSerializer,
    AlertStatusChangeSerializer,
)


class CanUseAlerts(BasePermission):
    """The role opens the alert area; which alerts is up to `alerts_visible_to`."""

    message = _("Your role may not use the alerts.")

    def has_permission(self, request, view) -> bool:
        return request.user.has_perm("accounts.access_alerts")


class StatusNotChanged(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "status_not_changed"
    default_detail = _("The alert cannot make this change from its current status.")


class AlertQueuePagination(BasePagination):
    """Keyset pages in the queue's order (priority, due date, id), from `alert_queue_page`. Follow `next`."""

    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page = alert_queue_page(
            queryset.prefetch_related("team"),  # the API shows each alert's team; the dashboard does not
            after=request.query_params.get("after", ""),
            size=self.get_page_size(request),
        )
        return self.page.items

    def get_page_size(self, request) -> int:
        try:
            size = int(request.query_params["page_size"])
        except (KeyError, ValueError):
            return api_settings.PAGE_SIZE
        return min(max(size, 1), self.max_page_size)

    def get_paginated_response(self, data):
        next_link = None
        if self.page.next_cursor:
            next_link = replace_query_param(self.request.build_absolute_uri(), "after", self.page.next_cursor)
        return Response({"next": next_link, "results": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {"next": {"type": ["string", "null"], "format": "uri"}, "results": schema},
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "after",
                "in": "query",
                "required": False,
                "description": str(_("Cursor: the page after this one (from `next`).")),
                "schema": {"type": "string"},
            },
            {
                "name": "page_size",
                "in": "query",
                "required": False,
                "description": str(_("Alerts per page: 50 unless asked, at most 200.")),
                "schema": {"type": "integer"},
            },
        ]


# --- Helpers: the same choices the dashboard makes ------------------------------------------------


def _assignees(user) -> QuerySet:
    """The advisors this user may hand alerts to: their own team's, or anyone's for back office."""
    advisors = get_user_model().objects.filter(groups__name=ADVISOR, is_active=True)
    return advisors if user_sees_all_teams(user) else advisors.filter(team_id=user.team_id)


def _visible_alert(user, alert_id: int) -> Alert:
    try:
        return alert_get_for_user(user=user, alert_id=alert_id)
    except Alert.DoesNotExist as error:
        raise NotFound() from error


def _apply(action: str, *, alerts: QuerySet[Alert], user, data: dict) -> int:
    if action == "start":
        return services.alerts_start(alerts=alerts, user=user)
    if action == "snooze":
        return services.alerts_snooze(alerts=alerts, until=data["until"], user=user, reason=data.get("reason", ""))
    if action == "resolve":
        return services.alerts_resolve(alerts=alerts, user=user, reason=data.get("reason", ""))
    if action == "dismiss":
        return services.alerts_dismiss(alerts=alerts, user=user, reason=data["reason"])
    return services.alerts_assign(alerts=alerts, assignee=data["assignee"], user=user)


def _detail(alert: Alert) -> dict:
    prefetch_related_objects([alert], Prefetch("events", queryset=AlertEvent.objects.select_related("by")))
    return AlertDetailSerializer(alert).data


# --- Endpoints ------------------------------------------------------------------------------------


class AlertListApi(APIView):
    permission_classes = [IsAuthenticated, CanUseAlerts]
    pagination_class = AlertQueuePagination

    @extend_schema(
        tags=["alerts"],
        operation_id="alerts_list",
        summary=_("The alert queue, in the canvas's order"),
        parameters=[AlertFilterSerializer],
        responses={200: AlertListItemSerializer(many=True), **error_responses(400)},
    )
    def get(self, request):
        filters = AlertFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        alerts = alert_queue(user=request.user, filters=filters.to_filters(default_scope=scope_default(request.user)))
        if client_id := filters.validated_data.get("client"):
            alerts = alerts.filter(client_id=client_id)  # AlertFilters has no client yet; still within the visible set
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(alerts, request, view=self)
        return paginator.get_paginated_response(AlertListItemSerializer(page, many=True).data)


class AlertDetailApi(APIView):
    permission_classes = [IsAuthenticated, CanUseAlerts]

    @extend_schema(
        tags=["alerts"],
        operation_id="alerts_retrieve",
        summary=_("One alert: why it was raised, and its history"),
        responses={200: AlertDetailSerializer, **error_responses(404)},
    )
    def get(self, request, alert_id: int):
        alert = _visible_alert(request.user, alert_id)
        if alert.rule is not None and not alert.explanation:
            # As on the alert's page: the full explanation is made, and kept, the first time someone looks.
            from framework.selectors import rule_explain

            explanation = rule_explain(rule=alert.rule, client_id=alert.client_id)
            services.alert_explanation_record(alert=alert, explanation=explanation)
        return Response(_detail(alert))


class AlertStatusApi(APIView):
    permission_classes = [IsAuthenticated, CanUseAlerts]

    @extend_schema(
        tags=["alerts"],
        operation_id="alerts_change_status",
        summary=_("Start, snooze, resolve or dismiss an alert"),
        request=AlertStatusChangeSerializer,
        responses={200: AlertDetailSerializer, **error_responses(400, 404, 409)},
    )
    def post(self, request, alert_id: int):
        alert = _visible_alert(request.user, alert_id)  # another team's alert: 404 before anything else
        payload = AlertStatusChangeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        changed = _apply(
            payload.action_of(payload.validated_data),
            alerts=alerts_visible_to(request.user).filter(pk=alert.pk),
            user=request.user,
            data=payload.validated_data,
        )
        if not changed:
            raise StatusNotChanged()
        return Response(_detail(_visible_alert(request.user, alert.pk)))  # as it is now


class AlertAssignApi(APIView):
    permission_classes = [IsAuthenticated, CanUseAlerts]

    @extend_schema(
        tags=["alerts"],
        operation_id="alerts_assign",
        summary=_("Give an alert to an advisor of its team, or to nobody"),
        request=AlertAssignSerializer,
        responses={200: AlertDetailSerializer, **error_responses(400, 404, 409)},
    )
    def post(self, request, alert_id: int):
        alert = _visible_alert(request.user, alert_id)
        payload = AlertAssignSerializer(data=request.data, context={"assignees": _assignees(request.user)})
        payload.is_valid(raise_exception=True)
        changed = _apply(
            "assign",
            alerts=alerts_visible_to(request.user).filter(pk=alert.pk),
            user=request.user,
            data=payload.validated_data,
        )
        if not changed:
            raise StatusNotChanged(_("Only an open, in-progress or snoozed alert can be assigned."))
        return Response(_detail(_visible_alert(request.user, alert.pk)))  # as it is now


class AlertBulkApi(APIView):
    permission_classes = [IsAuthenticated, CanUseAlerts]

    @extend_schema(
        tags=["alerts"],
        operation_id="alerts_bulk",
        summary=_("One action on many alerts"),
        description=_(
            "Applies the action to the listed alerts the user may see. Ids of alerts that do not exist or "
            "belong to another team are reported in `not_found` and left untouched."
        ),
        request=AlertBulkSerializer,
        responses={200: AlertBulkResultSerializer, **error_responses(400)},
    )
    def post(self, request):
        payload = AlertBulkSerializer(data=request.data, context={"assignees": _assignees(request.user)})
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        ids = list(dict.fromkeys(data["ids"]))
        found = set(alerts_visible_to(request.user).filter(pk__in=ids).values_list("pk", flat=True))
        changed = _apply(
            data["action"], alerts=alerts_visible_to(request.user).filter(pk__in=found), user=request.user, data=data
        )
        result = {
            "action": data["action"],
            "changed": changed,
            "found": [pk for pk in ids if pk in found],
            "not_found": [pk for pk in ids if pk not in found],
        }
        return Response(AlertBulkResultSerializer(result).data)
