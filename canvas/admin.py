"""The canvas in Django admin: granulations can be edited here too; placements and history are read.

Saving a granulation goes through `granulation_set`, so the type's live alerts follow at once.
Placements are moved on the canvas (or through its API), where each move is recorded and can be undone.
"""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .models import Placement, PlacementChange, Split
from .segments import Attribute, bounds_validate
from .services import granulation_set


class SplitForm(forms.ModelForm):
    class Meta:
        model = Split
        fields = ["alert_type", "attribute", "bounds"]

    def clean(self):
        data = super().clean()
        attribute, bounds = data.get("attribute"), data.get("bounds") or []
        if attribute and attribute != Attribute.HOUSEHOLD:
            if not isinstance(bounds, list) or not all(isinstance(bound, int) for bound in bounds):
                raise ValidationError({"bounds": _("A list of whole numbers, e.g. [14, 183].")})
            bounds_validate(attribute, bounds)
        return data


@admin.register(Split)
class SplitAdmin(admin.ModelAdmin):
    form = SplitForm
    list_display = ("alert_type", "attribute", "bounds", "updated_by", "updated_at")

    def save_model(self, request, obj, form, change):
        granulation_set(alert_type=obj.alert_type, attribute=obj.attribute, bounds=obj.bounds, user=request.user)

    def delete_model(self, request, obj):
        granulation_set(alert_type=obj.alert_type, attribute="", bounds=[], user=request.user)

    def delete_queryset(self, request, queryset):
        for split in queryset.select_related("alert_type"):  # a handful of types; each re-prioritises its alerts
            self.delete_model(request, split)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Placement)
class PlacementAdmin(ReadOnlyAdmin):
    list_display = (
        "alert_type",
        "segment",
        "urgency",
        "advice_sensitivity",
        "priority",
        "quadrant",
        "updated_by",
        "updated_at",
    )
    list_filter = ("alert_type",)


@admin.register(PlacementChange)
class PlacementChangeAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "at",
        "user",
        "alert_type",
        "segment",
        "from_urgency",
        "from_advice_sensitivity",
        "to_urgency",
        "to_advice_sensitivity",
        "alerts_updated",
        "split",
    )
    list_filter = ("alert_type", "user")
    date_hierarchy = "at"
