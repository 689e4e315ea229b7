"""Django admin for privacy: legal holds, the record of erasures, and data subjects to export or erase."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .dsar import client_erase
from .models import DataSubject, ErasureRecord, LegalHold


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    list_display = ("client", "basis", "end_date", "created_by", "created_at")
    list_filter = ("basis",)
    search_fields = ("client__last_name", "client__email", "note")
    autocomplete_fields = ("client",)
    readonly_fields = ("created_by", "created_at")
    fields = ("client", "basis", "end_date", "note", "created_by", "created_at")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(ErasureRecord)
class ErasureRecordAdmin(admin.ModelAdmin):
    """Read-only: the proof that a request was honoured, made by the erasure service alone."""

    list_display = ("client_id", "erased_at", "erased_by", "reason", "complete")
    list_filter = ("complete",)
    readonly_fields = ("client", "erased_at", "erased_by", "reason", "removed", "kept", "complete")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ErasureForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), max_length=200, help_text=_("e.g. 'Request by the client, letter of 3 March'")
    )


@admin.register(DataSubject)
class DataSubjectAdmin(admin.ModelAdmin):
    """Clients as data subjects: find one, download everything about them, or erase them."""

    list_display = ("__str__", "birth_date", "postcode", "team", "deleted_at", "export_links")
    search_fields = ("last_name", "first_name", "email", "postcode")
    list_filter = ("team",)
    actions = ["erase_selected"]
    fields = ("first_name", "last_name_prefix", "last_name", "birth_date", "email", "team", "deleted_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # erasure, not deletion: the action below

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("export"))
    def export_links(self, obj):
        return format_html(
            '<a href="{}">JSON</a> · <a href="{}">PDF</a>',
            reverse("privacy:client_export", args=[obj.pk, "json"]),
            reverse("privacy:client_export", args=[obj.pk, "pdf"]),
        )

    @admin.action(description=_("Erase the selected clients (keeps what a legal hold needs)"))
    def erase_selected(self, request, queryset):
        if not request.user.has_perm("trust.erase_client"):
            raise PermissionDenied
        form = ErasureForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            records = [
                client_erase(client=client, user=request.user, reason=form.cleaned_data["reason"])
                for client in queryset
            ]
            partial = sum(1 for record in records if not record.complete)
            self.message_user(
                request,
                ngettext("%(count)d client erased.", "%(count)d clients erased.", len(records))
                % {"count": len(records)}
                + (" " + _("%(count)d kept in part under a legal hold.") % {"count": partial} if partial else ""),
                messages.SUCCESS,
            )
            return None
        return render(
            request,
            "trust/privacy_erase_confirm.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Erase clients"),
                "clients": queryset,
                "form": form,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )
