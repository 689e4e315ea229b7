"""The API's view of alerts: filters and actions in, the queue and an alert's story out."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clients.serializers import MAX_ID, TeamSummarySerializer, UserSummarySerializer

from .models import Alert, AlertEvent, Quadrant
from .selectors import AlertFilters

STATUS_FILTERS = [
    ("live", _("Open, in progress or snoozed")),
    ("any", _("Any status")),
    *Alert.Status.choices,
]
SCOPES = [("mine", _("Assigned to me")), ("team", _("My team's")), ("all", _("Every team I may see"))]
# What a person may move an alert to; "open" comes back only by the framework or a snooze ending.
STATUS_CHANGES = [
    (Alert.Status.IN_PROGRESS, _("Start work")),
    (Alert.Status.SNOOZED, _("Snooze")),
    (Alert.Status.RESOLVED, _("Resolve")),
    (Alert.Status.DISMISSED, _("Dismiss")),
]
ACTION_OF_STATUS = {
    Alert.Status.IN_PROGRESS: "start",
    Alert.Status.SNOOZED: "snooze",
    Alert.Status.RESOLVED: "resolve",
    Alert.Status.DISMISSED: "dismiss",
}
BULK_ACTIONS = [
    ("start", _("Start work")),
    ("snooze", _("Snooze")),
    ("resolve", _("Resolve")),
    ("dismiss", _("Dismiss")),
    ("assign", _("Assign")),
]
BULK_LIMIT = 500


# --- Input ----------------------------------------------------------------------------------------


class AlertFilterSerializer(serializers.Serializer):
    """The query parameters of the queue. Filters narrow what the user may see; they never widen it."""

    scope = serializers.ChoiceField(
        choices=SCOPES,
        required=False,
        help_text=_("Default: every team for back office, the team for a team lead, else mine."),
    )
    status = serializers.ChoiceField(choices=STATUS_FILTERS, required=False, default="live")
    alert_type = serializers.SlugField(required=False, allow_blank=True, help_text=_("The key of an alert type."))
    quadrant = serializers.ChoiceField(choices=Quadrant.choices, required=False, allow_blank=True)
    segment = serializers.CharField(required=False, allow_blank=True, max_length=60)
    due_within_days = serializers.IntegerField(
        required=False, min_value=0, max_value=3660, help_text=_("Due today or overdue with 0.")
    )
    team = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID, help_text=_("The id of a team."))
    client = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID, help_text=_("The id of a client."))

    def to_filters(self, *, default_scope: str) -> AlertFilters:
        data = self.validated_data
        return AlertFilters(
            scope=data.get("scope") or default_scope,
            status="" if data["status"] == "any" else data["status"],
            alert_type=data.get("alert_type", ""),
            quadrant=data.get("quadrant", ""),
            segment=data.get("segment", ""),
            due_within_days=data.get("due_within_days"),
            team_id=data.get("team"),
        )


class _ActionInput(serializers.Serializer):
    """What an action needs besides its name: a date to snooze until, a reason (required to dismiss)."""

    until = serializers.DateField(
        required=False, allow_null=True, help_text=_("For snooze: the date the alert opens again.")
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=500, help_text=_("Required to dismiss.")
    )

    def action_of(self, data) -> str:
        raise NotImplementedError

    def validate(self, data):
        # Which fields an action needs is the shape of the request: the errors land on the field.
        action = self.action_of(data)
        if action == "snooze" and not data.get("until"):
            raise serializers.ValidationError({"until": _("Choose the date until which to snooze.")})
        if action == "dismiss" and not (data.get("reason") or "").strip():
            raise serializers.ValidationError({"reason": _("Say why the alert is dismissed.")})
        return data


class AlertStatusChangeSerializer(_ActionInput):
    """Move one alert on: `until` to snooze, a `reason` to dismiss (and optionally otherwise)."""

    status = serializers.ChoiceField(choices=STATUS_CHANGES)

    def action_of(self, data) -> str:
        return ACTION_OF_STATUS[data["status"]]


@extend_schema_field(OpenApiTypes.INT)
class _AssigneeField(serializers.PrimaryKeyRelatedField):
    """An advisor the user may hand work to (`assignees` in the context); anyone else does not exist."""

    default_error_messages = {
        "does_not_exist": _("There is no advisor with this id to assign to."),
        "incorrect_type": _("Give the id of an advisor (a number) or null."),
    }

    def get_queryset(self):
        return self.context["assignees"]


class AlertAssignSerializer(serializers.Serializer):
    assignee = _AssigneeField(allow_null=True, help_text=_("The user id of an advisor of the team, or null."))


class AlertBulkSerializer(_ActionInput):
    """One action on many alerts: `until` to snooze, `reason` to dismiss, `assignee` to assign."""

    action = serializers.ChoiceField(choices=BULK_ACTIONS)
    ids = serializers.ListField(
        # Bounded to the ids the database can hold: a larger number is a 400, not a crash in the query.
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        min_length=1,
        max_length=BULK_LIMIT,
        help_text=_("Alert ids; those you may not see are reported as not found and left alone."),
    )
    assignee = _AssigneeField(
        required=False, allow_null=True, help_text=_("For assign: the user id of an advisor, or null.")
    )

    def action_of(self, data) -> str:
        return data["action"]

    def validate(self, data):
        data = super().validate(data)
        if data["action"] == "assign" and "assignee" not in data:
            raise serializers.ValidationError({"assignee": _("Choose whom to assign the alerts to.")})
        return data


# --- Output ---------------------------------------------------------------------------------------


class AlertTypeSummarySerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()


class ClientSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    full_name = serializers.CharField()


class AlertListItemSerializer(serializers.ModelSerializer):
    alert_type = AlertTypeSummarySerializer()
    client = ClientSummarySerializer()
    team = TeamSummarySerializer()
    assigned_to = UserSummarySerializer(allow_null=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "alert_type",
            "segment",
            "client",
            "team",
            "message",
            "due_date",
            "priority",
            "quadrant",
            "status",
            "snoozed_until",
            "assigned_to",
            "opened_at",
            "updated_at",
            "closed_at",
        ]
        read_only_fields = fields


class AlertEventSerializer(serializers.ModelSerializer):
    by = UserSummarySerializer(allow_null=True, help_text=_("null: the framework or the calendar."))

    class Meta:
        model = AlertEvent
        fields = ["at", "by", "from_status", "to_status", "reason"]
        read_only_fields = fields


class AlertDetailSerializer(AlertListItemSerializer):
    values = serializers.DictField(help_text=_("The values the rule used, by name."))
    explanation = serializers.ListField(
        child=serializers.DictField(),
        help_text=_("Each value used: name, value, source, source_label, as_of, age_days, note."),
    )
    granulation = serializers.DictField(help_text=_("The attributes that placed the alert in its segment."))
    events = AlertEventSerializer(many=True, help_text=_("Every change of the alert, oldest first."))

    class Meta(AlertListItemSerializer.Meta):
        fields = [
            *AlertListItemSerializer.Meta.fields,
            "status_reason",
            "values",
            "explanation",
            "granulation",
            "events",
        ]
        read_only_fields = fields


class AlertBulkResultSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=BULK_ACTIONS)
    changed = serializers.IntegerField(help_text=_("How many alerts the action changed."))
    found = serializers.ListField(child=serializers.IntegerField(), help_text=_("The ids the action applied to."))
    not_found = serializers.ListField(
        child=serializers.IntegerField(), help_text=_("The ids that do not exist or are not yours to see.")
    )
