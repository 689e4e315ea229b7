"""Django admin: every audited model's "History" shows its history rows with field-level changes.

The models' own admins (framework, clients, canvas, accounts...) are wrapped, not edited: each is
re-registered as a subclass that mixes in simple-history's admin. Reverting to an old version is
switched off: it would bypass the services (a rule of an active framework version must not change).
Loaded last (trust is the last app), after every other app registered its admins.
"""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin

from .audit_models import AUDITED_MODELS
from .models import EvaluationRun


class AuditHistoryAdminMixin(SimpleHistoryAdmin):
    history_list_display = ["history_source", "history_username"]

    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        # simple-history saves a POSTed old version even with revert disabled: refuse it here.
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)


def audited_admins_wrap(site: admin.AdminSite = admin.site) -> int:
    wrapped = 0
    for model in AUDITED_MODELS:
        model_admin = site._registry.get(model)
        if model_admin is None or isinstance(model_admin, SimpleHistoryAdmin):
            continue
        admin_class = type(model_admin)
        site.unregister(model)
        site.register(model, type(f"Audited{admin_class.__name__}", (AuditHistoryAdminMixin, admin_class), {}))
        wrapped += 1
    return wrapped


audited_admins_wrap()


@admin.register(EvaluationRun)
class EvaluationRunAdmin(admin.ModelAdmin):
    """Which framework version ran when, on how many clients: a record, never edited."""

    list_display = ("started_at", "version", "clients", "opened", "kept", "closed", "first_client_id", "last_client_id")
    list_filter = ("version",)
    list_select_related = ("version",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
