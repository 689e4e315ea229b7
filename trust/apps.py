from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TrustConfig(AppConfig):
    """Trust: the audit trail, privacy and the duty-of-care file a supervisor can ask for."""

    name = "trust"
    verbose_name = _("Trust")

    def ready(self):
        from django.db.models.signals import post_migrate
        from simple_history.signals import pre_create_historical_record

        # Library hooks, not domain flow: simple-history asks who and which source for each history
        # row, and every migrate protects history tables it created (PostgreSQL).
        pre_create_historical_record.connect(_history_row_complete, dispatch_uid="trust_history_row_complete")
        post_migrate.connect(_audit_triggers_install, sender=self, dispatch_uid="trust_audit_triggers")


def _history_row_complete(sender, history_instance, history_user=None, **kwargs):
    from .audit import history_row_complete

    if hasattr(history_instance, "history_source"):
        history_row_complete(history_instance=history_instance, history_user=history_user)


def _audit_triggers_install(sender, using="default", **kwargs):
    from .audit import audit_triggers_install

    audit_triggers_install()
