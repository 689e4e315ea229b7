from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from accounts.models import Team
from accounts.selectors import user_sees_all_teams

from .models import Segment


class ClientSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        widget=forms.TextInput(
            attrs={"placeholder": _("Name, postcode, birth date (dd-mm-yyyy) or email"), "autofocus": True}
        ),
    )
    advisor = forms.ModelChoiceField(label=_("Advisor"), queryset=get_user_model().objects.none(), required=False)
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.none(), required=False)
    segment = forms.ChoiceField(label=_("Segment"), choices=[("", _("All segments")), *Segment.choices], required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        advisors = get_user_model().objects.filter(groups__name="Advisor").order_by("first_name", "username")
        if user_sees_all_teams(user):
            self.fields["team"].queryset = Team.objects.all()
        else:
            # An advisor filters within their own team only.
            del self.fields["team"]
            advisors = advisors.filter(team_id=user.team_id)
        self.fields["advisor"].queryset = advisors
        self.fields["advisor"].label_from_instance = lambda advisor: advisor.get_full_name() or advisor.username
