from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from accounts.models import Team
from accounts.selectors import user_sees_all_teams

from .models import Alert, AlertType, Quadrant

STATUS_CHOICES = [("live", _("Open, in progress or snoozed")), *Alert.Status.choices]
DUE_CHOICES = [
    ("", _("Any time")),
    ("0", _("Overdue or today")),
    ("14", _("Within 14 days")),
    ("90", _("Within 3 months")),
]


def scope_default(user) -> str:
    """Whose alerts the dashboard shows when no one chose: everyone's, the team's for its lead, or one's own."""
    if user_sees_all_teams(user):
        return "all"
    return "team" if user.is_team_lead else "mine"


class AlertFilterForm(forms.Form):
    scope = forms.ChoiceField(label=_("Whose"), choices=[("mine", _("Mine")), ("team", _("My team"))], required=False)
    alert_type = forms.ChoiceField(label=_("Alert type"), required=False)
    quadrant = forms.ChoiceField(
        label=_("Quadrant"), choices=[("", _("All quadrants")), *Quadrant.choices], required=False
    )
    status = forms.ChoiceField(label=_("Status"), choices=STATUS_CHOICES, required=False)
    due = forms.ChoiceField(label=_("Due"), choices=DUE_CHOICES, required=False)
    segment = forms.CharField(label=_("Segment"), required=False)
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=Team.objects.all(), required=False, empty_label=_("All teams")
    )
    # Within a priority (a place on the canvas), the client's value per year can decide the order.
    order = forms.ChoiceField(
        label=_("Order"),
        choices=[("", _("Priority, then due date")), ("value", _("Priority, then client value"))],
        required=False,
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["alert_type"].choices = [("", _("All types")), *AlertType.objects.values_list("key", "name")]
        if user_sees_all_teams(user):
            self.fields["scope"].choices = [("all", _("Every team")), ("mine", _("Mine"))]
        else:
            del self.fields["team"]
        self.fields["scope"].initial = scope_default(user)  # so an unbound select shows the scope the page has


class IdListField(forms.TypedMultipleChoiceField):
    """Alert ids from checkboxes; which of them the user may touch is decided by the query, not here."""

    def __init__(self, **kwargs):
        super().__init__(coerce=int, choices=[], **kwargs)

    def valid_value(self, value):
        return str(value).isdigit()


class BulkActionForm(forms.Form):
    ACTIONS = [
        ("start", _("Start work")),
        ("snooze", _("Snooze")),
        ("resolve", _("Resolve")),
        ("dismiss", _("Dismiss")),
        ("assign", _("Assign")),
    ]
    action = forms.ChoiceField(choices=ACTIONS)
    alert_ids = IdListField()
    until = forms.DateField(label=_("Snooze until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)
    assignee = forms.ModelChoiceField(label=_("Assign to"), queryset=get_user_model().objects.none(), required=False)

    def __init__(self, *args, assignees, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignees

    def clean(self):
        data = super().clean()
        if data.get("action") == "snooze" and not data.get("until"):
            self.add_error("until", _("Choose the date until which to snooze."))
        if data.get("action") == "dismiss" and not (data.get("reason") or "").strip():
            self.add_error("reason", _("Say why the alerts are dismissed."))
        return data
