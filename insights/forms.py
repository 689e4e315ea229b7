from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Team
from accounts.selectors import user_sees_all_teams
from alerts.models import AlertType
from clients.models import Channel

from .selectors import DIMENSIONS, METRICS

PERIODS = [("4", _("Last 4 weeks")), ("13", _("Last 13 weeks")), ("26", _("Last 26 weeks")), ("52", _("Last 52 weeks"))]
DEFAULT_WEEKS = 26


class InsightFilterForm(forms.Form):
    """The filters of the response analytics. An advisor has no team filter: their team is the scope."""

    weeks = forms.TypedChoiceField(label=_("Period"), choices=PERIODS, coerce=int, required=False)
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=Team.objects.none(), required=False, empty_label=_("All teams")
    )
    dimension = forms.ChoiceField(label=_("Break down by"), choices=list(DIMENSIONS.items()), required=False)
    metric = forms.ChoiceField(label=_("Trend of"), choices=list(METRICS.items()), required=False)
    alert_type = forms.ChoiceField(label=_("Alert type"), required=False)
    channel = forms.ChoiceField(label=_("Channel"), choices=[("", _("All channels")), *Channel.choices], required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["alert_type"].choices = [("", _("All types")), *AlertType.objects.values_list("key", "name")]
        if user_sees_all_teams(user):
            self.fields["team"].queryset = Team.objects.order_by("name")
        else:
            del self.fields["team"]


class RetentionFilterForm(forms.Form):
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=Team.objects.none(), required=False, empty_label=_("All teams")
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        if user_sees_all_teams(user):
            self.fields["team"].queryset = Team.objects.order_by("name")
        else:
            del self.fields["team"]
