"""Forms of follow-up: playbooks and templates for back office, the self-service flows for clients."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from clients.models import Channel

from .models import MessageTemplate, Playbook, PlaybookStep, SelfServiceFlow
from .templating import TemplateError, message_template_check

MAX_STEPS = 4


class PlaybookForm(forms.ModelForm):
    class Meta:
        model = Playbook
        fields = [
            "name",
            "quadrant",
            "alert_type",
            "segment",
            "purpose",
            "call_to_action",
            "self_service_flow",
            "is_active",
        ]
        help_texts = {
            "segment": _("a client segment (basic, plus, premium) or a granule of the alert type; empty: all")
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        steps = list(self.instance.steps.all()) if self.instance.pk else []
        for index in range(MAX_STEPS):
            step = steps[index] if index < len(steps) else None
            self.fields[f"step_{index}_channel"] = forms.ChoiceField(
                label=_("Channel %(n)s") % {"n": index + 1},
                choices=[("", "—"), *Channel.choices],
                required=index == 0,
                initial=step.channel if step else "",
                widget=forms.Select(
                    attrs={"aria-label": _("Channel %(n)s") % {"n": index + 1}, "class": "form-select form-select-sm"}
                ),
            )
            self.fields[f"step_{index}_handled_by"] = forms.ChoiceField(
                label=_("Call by"),
                choices=PlaybookStep.HandledBy.choices,
                required=False,
                initial=step.handled_by if step else PlaybookStep.HandledBy.BACK_OFFICE,
                widget=forms.Select(
                    attrs={"aria-label": _("Call by %(n)s") % {"n": index + 1}, "class": "form-select form-select-sm"}
                ),
            )
            self.fields[f"step_{index}_delivery"] = forms.ChoiceField(
                label=_("Delivery"),
                choices=PlaybookStep.Delivery.choices,
                required=False,
                initial=step.delivery if step else PlaybookStep.Delivery.DIRECT,
                widget=forms.Select(
                    attrs={"aria-label": _("Delivery %(n)s") % {"n": index + 1}, "class": "form-select form-select-sm"}
                ),
            )

    def step_rows(self):
        return [
            (self[f"step_{i}_channel"], self[f"step_{i}_handled_by"], self[f"step_{i}_delivery"])
            for i in range(MAX_STEPS)
        ]

    def steps(self) -> list[dict]:
        data = self.cleaned_data
        return [
            {
                "channel": data[f"step_{i}_channel"],
                "handled_by": data.get(f"step_{i}_handled_by") or PlaybookStep.HandledBy.BACK_OFFICE,
                "delivery": data.get(f"step_{i}_delivery") or PlaybookStep.Delivery.DIRECT,
            }
            for i in range(MAX_STEPS)
            if data.get(f"step_{i}_channel")
        ]


class MessageTemplateForm(forms.ModelForm):
    preview_client = forms.IntegerField(
        label=_("Preview for client (id)"), required=False, help_text=_("a real client; nothing is sent")
    )

    class Meta:
        model = MessageTemplate
        fields = ["channel", "language", "playbook", "subject", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 12, "class": "font-monospace"})}

    def _check(self, field: str):
        value = self.cleaned_data.get(field, "")
        try:
            message_template_check(value)
        except TemplateError as error:
            raise ValidationError(error.messages) from None
        return value

    def clean_subject(self):
        return self._check("subject")

    def clean_body(self):
        return self._check("body")


# --- The client's self-service flows ----------------------------------------------------------------


class FixedRatePeriodForm(forms.Form):
    years = forms.TypedChoiceField(
        label=_("Your new fixed-interest period"),
        choices=[(5, _("5 years")), (10, _("10 years")), (15, _("15 years")), (20, _("20 years")), (30, _("30 years"))],
        coerce=int,
        widget=forms.RadioSelect,
    )
    remark = forms.CharField(
        label=_("Anything we should know?"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class ConfirmPolicyForm(forms.Form):
    still_correct = forms.ChoiceField(
        label=_("Is your policy still as we have it?"),
        choices=[("yes", _("Yes, nothing changed")), ("no", _("No, something changed"))],
        widget=forms.RadioSelect,
    )
    document = forms.FileField(label=_("Upload your current policy (PDF or photo, optional)"), required=False)
    remark = forms.CharField(
        label=_("What changed?"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    ALLOWED = (".pdf", ".jpg", ".jpeg", ".png")
    MAX_BYTES = 5 * 1024 * 1024

    def clean_document(self):
        document = self.cleaned_data.get("document")
        if document and (not document.name.lower().endswith(self.ALLOWED) or document.size > self.MAX_BYTES):
            raise ValidationError(_("Upload a PDF, JPG or PNG of at most 5 MB."))
        return document


class ConfirmDetailsForm(forms.Form):
    confirmed = forms.BooleanField(label=_("My details are still correct."), required=False)
    remark = forms.CharField(
        label=_("What changed?"), max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean(self):
        data = super().clean()
        if not data.get("confirmed") and not data.get("remark"):
            raise ValidationError(_("Confirm your details, or tell us what changed."))
        return data


FLOW_FORMS = {
    SelfServiceFlow.FIXED_RATE_PERIOD: FixedRatePeriodForm,
    SelfServiceFlow.CONFIRM_POLICY: ConfirmPolicyForm,
    SelfServiceFlow.CONFIRM_DETAILS: ConfirmDetailsForm,
}


class CallOutcomeForm(forms.Form):
    outcome = forms.ChoiceField(choices=[("reached", _("Reached the client")), ("no_answer", _("No answer"))])
    note = forms.CharField(max_length=1000, required=False)
