"""The canvas's forms: placing a card by typing its two scores, and splitting an alert type.

Both also work without JavaScript (a plain POST); with it, canvas.js sends the same fields to the API.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from alerts.models import AlertType

from .models import SCORE_MAX
from .segments import Attribute, bounds_parse


class PlaceForm(forms.Form):
    card = forms.ChoiceField(label=_("Card"))
    urgency = forms.IntegerField(label=_("Urgency (0–100)"), min_value=0, max_value=SCORE_MAX, required=False)
    advice_sensitivity = forms.IntegerField(
        label=_("Advice-sensitivity (0–100)"), min_value=0, max_value=SCORE_MAX, required=False
    )
    to_tray = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, cards, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["card"].choices = [
            (card.key, card.label if card.label == card.type_name else f"{card.type_name} · {card.label}")
            for card in cards
        ]

    def clean(self):
        data = super().clean()
        if not data.get("to_tray") and (data.get("urgency") is None or data.get("advice_sensitivity") is None):
            raise ValidationError(_("Type both scores, from 0 to 100."))
        return data

    @property
    def card_parts(self) -> tuple[str, str]:
        """(alert type key, segment) of the chosen card."""
        alert_type, _sep, segment = self.cleaned_data["card"].partition("|")
        return alert_type, segment


class GranulationForm(forms.Form):
    alert_type = forms.ModelChoiceField(
        label=_("Alert type"), queryset=AlertType.objects.order_by("name"), to_field_name="key"
    )
    attribute = forms.ChoiceField(
        label=_("Split by"),
        choices=[("", _("The framework's granules")), *Attribute.choices],
        required=False,
    )
    bounds = forms.CharField(
        label=_("Boundaries"),
        required=False,
        max_length=60,
        help_text=_("e.g. 14, 183 (days); 30 (age: under 30, 30 and over); 1, 4 (discrepancies: 1, 2–4, 5+)."),
    )

    def clean(self):
        data = super().clean()
        attribute = data.get("attribute", "")
        data["bounds"] = bounds_parse(attribute, data.get("bounds", "")) if attribute else []
        return data
