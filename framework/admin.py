"""Admin for the framework: versions, rules and their parts, edited as structured inlines.

Every save goes through the services, so the changelog is complete and an active or retired
version cannot be changed (it is shown read-only: copy it to a new draft to change it). Invalid
expressions are refused by the models' validation, with line, column and what was expected.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _

from . import services
from .models import (
    ConditionNode,
    DecisionInput,
    DecisionRow,
    FrameworkChange,
    FrameworkVersion,
    ReportedValue,
    Rule,
)
from .rules import RuleDefinitionError, message_fields, rule_parameters, tree_condition

TEXTAREA_SMALL = forms.Textarea(attrs={"rows": 2, "cols": 60, "style": "font-family: monospace"})
TEXTAREA_CODE = forms.Textarea(attrs={"rows": 4, "cols": 80, "style": "font-family: monospace"})


def _is_draft_rule(obj) -> bool:
    return obj is None or obj.version.is_editable


class ReportedValueFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        labels = {
            form.cleaned_data.get("label")
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        }
        try:
            quoted = message_fields(self.instance.message_template or "")
        except ValueError:
            return  # the rule's own form reports a malformed template
        missing = sorted(set(quoted) - labels)
        if missing:
            raise ValidationError(
                _("The message quotes %(names)s, which are not reported values.")
                % {"names": ", ".join(f"{{{name}}}" for name in missing)}
            )


class ConditionNodeFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        if self.instance.kind != Rule.Kind.TREE or any(self.errors):
            return
        nodes = [
            ConditionNode(
                outline=form.cleaned_data["outline"],
                kind=form.cleaned_data["kind"],
                expression=form.cleaned_data.get("expression", ""),
            )
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        try:
            tree_condition(nodes, rule_parameters(self.instance))
        except RuleDefinitionError as error:
            raise ValidationError(str(error)) from None


class ReportedValueInline(admin.TabularInline):
    model = ReportedValue
    formset = ReportedValueFormSet
    fields = ("position", "label", "expression")
    extra = 0
    formfield_overrides = {ReportedValue._meta.get_field("expression").__class__: {"widget": TEXTAREA_SMALL}}
    verbose_name_plural = _("Reported values (what the alert shows; the message quotes them as {label})")


class ConditionNodeInline(admin.TabularInline):
    model = ConditionNode
    formset = ConditionNodeFormSet
    fields = ("outline", "kind", "expression")
    extra = 0
    formfield_overrides = {ConditionNode._meta.get_field("expression").__class__: {"widget": TEXTAREA_SMALL}}
    verbose_name_plural = _("Decision tree (1 is the top node; 1.1 and 1.2 sit below it)")


class DecisionInputInline(admin.TabularInline):
    model = DecisionInput
    fields = ("position", "label", "expression")
    extra = 0
    formfield_overrides = {DecisionInput._meta.get_field("expression").__class__: {"widget": TEXTAREA_SMALL}}
    verbose_name_plural = _("Decision table columns (save the rule to get a test per column in the rows)")


class DecisionRowForm(forms.ModelForm):
    """A table row with one text box per column; stored as the row's list of tests."""

    class Meta:
        model = DecisionRow
        fields = ("position", "granule", "urgency", "note")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cells = self.instance.cells if isinstance(self.instance.cells, list) else []
        for index, name in enumerate(self.cell_names):
            if index < len(cells):
                self.fields[name].initial = cells[index]

    cell_names: list[str] = []

    def clean(self):
        cleaned = super().clean()
        self.instance.cells = [(cleaned.get(name) or "-").strip() for name in self.cell_names]
        return cleaned


class DecisionRowFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        if self.instance.kind != Rule.Kind.TABLE:
            return
        rows = [form for form in self.forms if form.cleaned_data and not form.cleaned_data.get("DELETE")]
        if not rows:
            raise ValidationError(_("A decision table needs at least one row."))


class DecisionRowInline(admin.TabularInline):
    model = DecisionRow
    formset = DecisionRowFormSet
    extra = 0
    verbose_name_plural = _('Decision table rows (a test per column, e.g. ">= 30", "< ratio", "-" for any)')

    def get_formset(self, request, obj=None, **kwargs):
        columns = list(obj.decision_inputs.order_by("position", "id")) if obj is not None and obj.pk else []
        cell_fields = {
            f"cell_{index}": forms.CharField(label=column.label, required=False, initial="-", max_length=500)
            for index, column in enumerate(columns)
        }
        form = type("DecisionRowForm", (DecisionRowForm,), {**cell_fields, "cell_names": list(cell_fields)})
        kwargs["form"] = form
        kwargs["fields"] = ["position", *cell_fields, "granule", "urgency", "note"]
        return super().get_formset(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        count = obj.decision_inputs.count() if obj is not None and obj.pk else 0
        return ["position", *(f"cell_{index}" for index in range(count)), "granule", "urgency", "note"]


class RuleAdminForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = (
            "version",
            "key",
            "position",
            "name",
            "description",
            "enabled",
            "alert_type",
            "granule",
            "urgency",
            "message_template",
            "legal_basis",
            "purpose",
            "kind",
            "condition",
            "hit_policy",
            "parameters",
            "deadline",
        )
        widgets = {
            "condition": TEXTAREA_CODE,
            "deadline": TEXTAREA_SMALL,
            "message_template": TEXTAREA_SMALL,
            "legal_basis": TEXTAREA_SMALL,
            "description": TEXTAREA_SMALL,
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "version" in self.fields:
            self.fields["version"].queryset = FrameworkVersion.objects.filter(status=FrameworkVersion.Status.DRAFT)
        if "purpose" in self.fields:
            self.fields["purpose"].required = False  # left out: the rule's current purpose (advice for a new one)

    def clean_purpose(self):
        return self.cleaned_data.get("purpose") or self.instance.purpose or Rule._meta.get_field("purpose").default


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleAdminForm
    list_display = ("key", "name", "version", "alert_type", "granule", "urgency", "kind", "enabled")
    list_filter = ("version", "kind", "urgency", "enabled")
    search_fields = ("key", "name", "alert_type", "condition")
    list_select_related = ("version",)
    fieldsets = (
        (None, {"fields": ("version", "key", "position", "name", "description", "enabled")}),
        (_("Alert"), {"fields": ("alert_type", "granule", "urgency", "message_template", "legal_basis", "purpose")}),
        (
            _("Condition"),
            {
                "fields": ("kind", "condition", "hit_policy", "parameters", "deadline"),
                "description": _(
                    "An expression such as <code>facts.days_to_fixed_rate_end &lt;= days</code>; a decision tree or "
                    "table is edited below. Values: client.*, facts.*, property.* (the own home), today; "
                    "collections such as policies, loan_parts with count, sum, min, max, any, all."
                ),
            },
        ),
    )

    inlines = [ReportedValueInline, ConditionNodeInline, DecisionInputInline, DecisionRowInline]

    def get_inline_instances(self, request, obj=None):
        """All parts are on the page (a rule can change kind in one save); the unused ones folded."""
        instances = super().get_inline_instances(request, obj)
        if obj is None:
            return instances
        used = {Rule.Kind.TREE: (ConditionNodeInline,), Rule.Kind.TABLE: (DecisionInputInline, DecisionRowInline)}
        for inline in instances:
            if not isinstance(inline, (ReportedValueInline, *used.get(obj.kind, ()))):
                inline.classes = ["collapse"]
        return instances

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and _is_draft_rule(obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and _is_draft_rule(obj)

    def save_model(self, request, obj, form, change):
        services.rule_save(rule=obj, user=request.user)

    def delete_model(self, request, obj):
        services.rule_delete(rule=obj, user=request.user)

    def delete_queryset(self, request, queryset):
        for rule in queryset.select_related("version"):
            services.rule_delete(rule=rule, user=request.user)

    def save_formset(self, request, form, formset, change):
        for part in formset.save(commit=False):
            services.rule_part_save(part=part, user=request.user)
        for part in formset.deleted_objects:
            services.rule_part_delete(part=part, user=request.user)


class RuleSummaryInline(admin.TabularInline):
    model = Rule
    fields = ("position", "key", "name", "alert_type", "granule", "urgency", "kind", "enabled")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class FrameworkChangeInline(admin.TabularInline):
    model = FrameworkChange
    fields = ("changed_at", "user", "action", "rule_key", "field", "old_value", "new_value")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = _("Changelog")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(FrameworkVersion)
class FrameworkVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "effective_date", "activated_at", "activated_by", "created_at")
    list_filter = ("status",)
    fields = (
        "name",
        "status",
        "effective_date",
        "notes",
        "copied_from",
        "created_by",
        "created_at",
        "activated_by",
        "activated_at",
        "retired_at",
    )
    readonly_fields = (
        "status",
        "copied_from",
        "created_by",
        "created_at",
        "activated_by",
        "activated_at",
        "retired_at",
    )
    inlines = [RuleSummaryInline, FrameworkChangeInline]
    actions = ["copy_to_new_draft", "activate"]
    change_form_template = "admin/framework/frameworkversion/change_form.html"

    def get_urls(self):
        from django.urls import path

        return [
            path(
                "<int:version_id>/impact/",
                self.admin_site.admin_view(self.impact_view),
                name="framework_frameworkversion_impact",
            ),
            *super().get_urls(),
        ]

    def impact_view(self, request, version_id: int):
        """Before activating a draft: per rule, the alerts it would open and close on today's data."""
        from django.shortcuts import get_object_or_404
        from django.template.response import TemplateResponse

        from .selectors import framework_impact, framework_version_active

        version = get_object_or_404(FrameworkVersion, pk=version_id)
        if not self.has_view_permission(request, version):
            raise PermissionDenied
        impacts = framework_impact(draft=version)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Impact of %(version)s") % {"version": version},
            "version": version,
            "active": framework_version_active(),
            "impacts": impacts,
            "totals": {
                "would_open": sum(item.would_open for item in impacts),
                "would_close": sum(item.would_close for item in impacts),
            },
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/framework/frameworkversion/impact.html", context)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or obj.is_editable)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or obj.is_editable)

    def save_model(self, request, obj, form, change):
        services.framework_version_save(version=obj, user=request.user)

    def delete_model(self, request, obj):
        services.framework_version_delete(version=obj, user=request.user)

    def delete_queryset(self, request, queryset):
        for version in queryset:
            services.framework_version_delete(version=version, user=request.user)

    @admin.action(description=_("Copy to a new draft"), permissions=["add"])
    def copy_to_new_draft(self, request, queryset):
        for version in queryset:
            draft = services.framework_version_copy(version=version, user=request.user)
            self.message_user(request, _("Copied %(old)s to the draft %(new)s.") % {"old": version, "new": draft.name})

    @admin.action(description=_("Activate (retires the active version)"), permissions=["change"])
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Activate one version at a time."), level=messages.ERROR)
            return
        version = queryset.get()
        try:
            services.framework_version_activate(version=version, user=request.user)
        except ValidationError as error:
            self.message_user(request, _("Not activated: %s") % " ".join(error.messages), level=messages.ERROR)
            return
        self.message_user(request, _("%s is now the active framework.") % version.name)


@admin.register(FrameworkChange)
class FrameworkChangeAdmin(admin.ModelAdmin):
    list_display = ("changed_at", "version", "user", "action", "rule_key", "field", "old_value", "new_value")
    list_filter = ("action", "version")
    search_fields = ("rule_key", "field", "old_value", "new_value")
    list_select_related = ("version", "user")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
