"""Django admin for sources: connection settings, write-only credentials, field mappings, precedence."""

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .mapping import validate_path
from .models import (
    DataConflict,
    FieldMapping,
    FieldPrecedence,
    FileImport,
    MatchCandidate,
    QuarantinedRecord,
    Source,
    SourceRecord,
    SyncRun,
    TaskAttempt,
    WebhookEvent,
)
from .services.sources import source_credentials_set, source_schedule_save
from .targets import TARGETS, target_choices


class SourceForm(forms.ModelForm):
    new_credentials = forms.CharField(
        label=_("Credentials"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text=_(
            'JSON, e.g. {"token": "..."} or {"api_key": "..."} or {"client_id": "...", "client_secret": "..."}. '
            "Stored encrypted and never shown again; leave empty to keep the current credentials."
        ),
    )

    class Meta:
        model = Source
        fields = ["key", "name", "kind", "enabled", "config", "default_team", "sync_interval_minutes"]

    def clean_new_credentials(self):
        text = self.cleaned_data["new_credentials"].strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except ValueError as error:
            raise ValidationError(_("Credentials must be JSON: %(error)s"), params={"error": error}) from error
        if not isinstance(value, dict):
            raise ValidationError(_("Credentials must be a JSON object."))
        return value


class FieldMappingForm(forms.ModelForm):
    target = forms.ChoiceField(label=_("Steward field"), choices=target_choices)

    class Meta:
        model = FieldMapping
        fields = ["source_path", "target", "transform", "transform_argument", "required"]

    def clean_source_path(self):
        path = self.cleaned_data["source_path"]
        validate_path(path)
        return path


class FieldMappingInline(admin.TabularInline):
    model = FieldMapping
    form = FieldMappingForm
    extra = 1


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    form = SourceForm
    list_display = ["name", "key", "kind", "enabled", "health", "last_success_at", "watermark"]
    list_filter = ["kind", "enabled", "health"]
    search_fields = ["name", "key"]
    readonly_fields = [
        "credentials_status",
        "health",
        "last_error",
        "last_success_at",
        "watermark",
        "parked_until",
    ]
    inlines = [FieldMappingInline]
    fieldsets = [
        (None, {"fields": ["key", "name", "kind", "enabled", "default_team", "sync_interval_minutes"]}),
        (_("Connection"), {"fields": ["config", "credentials_status", "new_credentials"]}),
        (_("State"), {"fields": ["health", "last_error", "last_success_at", "watermark", "parked_until"]}),
    ]

    @admin.display(description=_("credentials"))
    def credentials_status(self, source):
        return _("set (hidden)") if source.credentials else _("not set")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if form.cleaned_data.get("new_credentials"):
            source_credentials_set(source=obj, credentials=form.cleaned_data["new_credentials"])
        source_schedule_save(source=obj)


class FieldPrecedenceForm(forms.ModelForm):
    class Meta:
        model = FieldPrecedence
        fields = ["target", "strategy", "source_order"]

    def clean_target(self):
        target = self.cleaned_data["target"].strip()
        entities = {name.split(".", 1)[0] for name in TARGETS}
        if target != "*" and target not in TARGETS and not (target.endswith(".*") and target[:-2] in entities):
            raise ValidationError(
                _("Name a Steward field such as 'client.email', an entity such as 'client.*', or '*'.")
            )
        return target

    def clean_source_order(self):
        from clients.provenance import CLIENT, MANUAL

        keys = [key.strip() for key in self.cleaned_data["source_order"].split(",") if key.strip()]
        known = {MANUAL, CLIENT, *Source.objects.values_list("key", flat=True)}
        unknown = [key for key in keys if key not in known]
        if unknown:
            raise ValidationError(_("Unknown sources: %(keys)s"), params={"keys": ", ".join(unknown)})
        return ", ".join(keys)


@admin.register(FieldPrecedence)
class FieldPrecedenceAdmin(admin.ModelAdmin):
    form = FieldPrecedenceForm
    list_display = ["target", "strategy", "source_order"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records of what happened: visible, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "source",
        "trigger",
        "status",
        "started_at",
        "fetched",
        "created",
        "updated",
        "unchanged",
        "quarantined",
    ]
    list_filter = ["source", "status", "trigger"]
    date_hierarchy = "started_at"


@admin.register(QuarantinedRecord)
class QuarantinedRecordAdmin(ReadOnlyAdmin):
    list_display = ["source", "record_id", "reason", "status", "times_seen", "created_at", "seen_at"]
    list_filter = ["source", "status"]
    search_fields = ["record_id", "reason"]
    # The payload may hold a BSN or IBAN: shown masked, never as stored (the Sources page fixes it).
    exclude = ["raw", "raw_text"]
    readonly_fields = ["payload"]

    @admin.display(description=_("Record as received (BSNs and IBANs masked)"))
    def payload(self, obj):
        return obj.raw_shown


@admin.register(SourceRecord)
class SourceRecordAdmin(ReadOnlyAdmin):
    list_display = ["source_key", "record_id", "client", "changed_at", "fetched_at", "deleted_at"]
    list_filter = ["source_key"]
    search_fields = ["record_id"]
    raw_id_fields = ["client"]
    show_full_result_count = False


@admin.register(MatchCandidate)
class MatchCandidateAdmin(ReadOnlyAdmin):
    list_display = ["source_record", "client", "score", "status", "decided_by", "decided_at"]
    list_filter = ["status"]
    raw_id_fields = ["source_record", "client"]


@admin.register(DataConflict)
class DataConflictAdmin(ReadOnlyAdmin):
    list_display = ["client", "target", "winning_source", "winning_value", "other_source", "other_value"]
    list_filter = ["target", "other_source"]
    raw_id_fields = ["client"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["source", "event_id", "received_at"]
    list_filter = ["source"]


@admin.register(FileImport)
class FileImportAdmin(ReadOnlyAdmin):
    list_display = ["source", "original_filename", "status", "uploaded_by", "created_at", "sync_run"]
    list_filter = ["source", "status"]
    exclude = ["content"]


@admin.register(TaskAttempt)
class TaskAttemptAdmin(admin.ModelAdmin):
    """Attempts counted in PostgreSQL; the stopped ones (dead letters) wait here for an admin."""

    list_display = ("task", "key", "attempts", "last_attempt_at", "dead_lettered_at", "last_error_short")
    list_filter = (("dead_lettered_at", admin.EmptyFieldListFilter), "task")
    readonly_fields = ("task", "key", "attempts", "last_error", "last_attempt_at", "dead_lettered_at")
    actions = ["retry"]

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("last error"))
    def last_error_short(self, obj):
        return obj.last_error[:120]

    @admin.action(description=_("Retry the selected stopped tasks"))
    def retry(self, request, queryset):
        from .services.reliability import task_attempt_retry

        for attempt in queryset:  # a handful, picked by hand
            task_attempt_retry(attempt=attempt)
        self.message_user(request, _("Retried %(count)d tasks.") % {"count": queryset.count()})
