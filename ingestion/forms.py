from django import forms
from django.utils.translation import gettext_lazy as _


class QuarantineFixForm(forms.Form):
    raw = forms.CharField(
        label=_("Record (JSON)"),
        widget=forms.Textarea(attrs={"rows": 8, "class": "font-monospace small"}),
        help_text=_(
            "Correct the record and retry; it lands if it now passes, and stays here with the new reason if not."
        ),
    )


class MatchDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("link", _("Same person: link")), ("apart", _("Different people: keep apart"))]
    )
