from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .forms import ReferenceFileForm
from .models import ClientFacts, ConfirmationRequest, FreshnessPolicy, HousePriceIndex, PostcodeArea, ReferenceDataset
from .services import facts_refresh
from .services.freshness import freshness_policies_changed
from .services.reference import REPLACERS


@admin.register(ClientFacts)
class ClientFactsAdmin(admin.ModelAdmin):
    list_display = [
        "client",
        "age",
        "household_type",
        "loan_to_value",
        "replacement_ratio",
        "days_to_fixed_rate_end",
        "computed_at",
    ]
    list_filter = ["household_type", "has_life_cover", "interest_only_past_state_pension"]
    search_fields = ["client__last_name", "client__email"]
    list_select_related = ["client"]
    actions = ["refresh"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description=gettext_lazy("Derive the selected clients' values again"))
    def refresh(self, request, queryset):
        report = facts_refresh(client_ids=list(queryset.values_list("client_id", flat=True)))
        self.message_user(request, _("%(count)s clients refreshed.") % {"count": report.clients})


@admin.register(FreshnessPolicy)
class FreshnessPolicyAdmin(admin.ModelAdmin):
    list_display = ["group_key", "max_age_days", "updated_at"]
    list_editable = ["max_age_days"]

    # Pages read the rules from the cache: every change clears it.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        freshness_policies_changed()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        freshness_policies_changed()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        freshness_policies_changed()


class ReferenceTableAdmin(admin.ModelAdmin):
    """A reference table: browsable, and replaced whole by uploading a CSV (validated, all or nothing)."""

    change_list_template = "admin/enrichment/reference_change_list.html"
    dataset_kind: str = ""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [
            path("replace/", self.admin_site.admin_view(self.replace_view), name=f"{info[0]}_{info[1]}_replace"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {"dataset": ReferenceDataset.objects.filter(kind=self.dataset_kind).first(), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)

    def replace_view(self, request):
        if not (
            request.user.has_perm(f"enrichment.add_{self.model._meta.model_name}")
            and self.has_delete_permission(request)
        ):
            raise PermissionDenied
        form = ReferenceFileForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            file_name, text = form.cleaned_data["file"]
            try:
                dataset = REPLACERS[self.dataset_kind](text=text, file_name=file_name, user=request.user)
            except ValidationError as error:
                for message in error.messages:
                    form.add_error("file", message)
            else:
                self.message_user(
                    request,
                    _("%(table)s replaced: %(rows)s rows. Derived values use it from the next refresh.")
                    % {"table": dataset.get_kind_display(), "rows": dataset.rows},
                    messages.SUCCESS,
                )
                return redirect(f"admin:enrichment_{self.model._meta.model_name}_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": _("Replace %(table)s from a CSV file") % {"table": self.model._meta.verbose_name_plural},
            "dataset": ReferenceDataset.objects.filter(kind=self.dataset_kind).first(),
        }
        return render(request, "admin/enrichment/reference_replace.html", context)


@admin.register(HousePriceIndex)
class HousePriceIndexAdmin(ReferenceTableAdmin):
    dataset_kind = ReferenceDataset.Kind.HOUSE_PRICE_INDEX
    list_display = ["region", "region_name", "year", "quarter", "index", "basis"]
    list_filter = ["region_name", "basis", "year"]


@admin.register(PostcodeArea)
class PostcodeAreaAdmin(ReferenceTableAdmin):
    dataset_kind = ReferenceDataset.Kind.POSTCODE_AREAS
    list_display = ["pc4_from", "pc4_to", "municipality", "province", "region"]
    list_filter = ["province"]
    search_fields = ["municipality", "province"]


@admin.register(ReferenceDataset)
class ReferenceDatasetAdmin(admin.ModelAdmin):
    list_display = ["kind", "file_name", "rows", "loaded_at", "loaded_by"]
    readonly_fields = ["kind", "file_name", "origin", "rows", "loaded_at", "loaded_by"]

    def has_add_permission(self, request):
        return False


@admin.register(ConfirmationRequest)
class ConfirmationRequestAdmin(admin.ModelAdmin):
    list_display = ["client", "status", "created_at", "expires_at", "used_at", "reviewed_at"]
    list_filter = ["status"]
    list_select_related = ["client"]
    readonly_fields = [field.name for field in ConfirmationRequest._meta.fields]

    def has_add_permission(self, request):
        return False
