"""Forms of the enrichment step: the client's confirmation form and the reference-file upload."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

YES_NO = [("yes", _("Yes")), ("no", _("No"))]


class ConfirmationAnswerForm(forms.Form):
    """What the client confirms or corrects. Prefilled with what Steward holds; the client changes what is wrong."""

    gross_annual_income = forms.DecimalField(
        label=_("Your gross income per year (€)"),
        help_text=_("Before tax, from work, business or benefits, including holiday allowance. Leave empty if none."),
        required=False,
        min_value=Decimal(0),
        max_value=Decimal(100_000_000),
        decimal_places=2,
        localize=True,  # "64.000" in Dutch, "64,000" in English: both € 64,000
    )
    employer = forms.CharField(label=_("Your employer"), max_length=200, required=False)
    job_title = forms.CharField(label=_("Your job"), max_length=200, required=False)
    has_partner = forms.ChoiceField(
        label=_("Do you have a partner you live with?"), choices=YES_NO, widget=forms.RadioSelect
    )
    children_count = forms.IntegerField(label=_("How many children do you have?"), min_value=0, max_value=20)
    property_value = forms.DecimalField(
        label=_("What do you think your home is worth now? (€)"),
        help_text=_("An estimate is fine. Leave empty if you do not own your home."),
        required=False,
        min_value=Decimal(0),
        max_value=Decimal(100_000_000),
        decimal_places=2,
        localize=True,  # "64.000" in Dutch, "64,000" in English: both € 64,000
    )
    confirmed = forms.BooleanField(label=_("I confirm that these details are correct."), required=True)

    @classmethod
    def initial_from(cls, current: dict) -> dict:
        def money(value):
            return Decimal(value) if value else None

        return {
            "gross_annual_income": money(current.get("gross_annual_income")),
            "employer": current.get("employer", ""),
            "job_title": current.get("job_title", ""),
            "has_partner": "yes" if current.get("has_partner") else "no",
            "children_count": current.get("children_count", 0),
            "property_value": money(current.get("property_value")),
        }

    def answers(self) -> dict:
        """The answers as JSON (money as text)."""
        data = self.cleaned_data
        money = {
            name: "" if data[name] is None else str(data[name]) for name in ("gross_annual_income", "property_value")
        }
        return {
            **money,
            "employer": data["employer"].strip(),
            "job_title": data["job_title"].strip(),
            "has_partner": data["has_partner"] == "yes",
            "children_count": data["children_count"],
        }


class ReferenceFileForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("UTF-8, comma-separated, starting with comment lines (#) that say where the figures come from."),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > 20 * 1024 * 1024:
            raise forms.ValidationError(_("The file is larger than 20 MB."))
        try:
            return upload.name, upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise forms.ValidationError(_("The file is not UTF-8 text.")) from error
