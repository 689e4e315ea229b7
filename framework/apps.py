from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class FrameworkConfig(AppConfig):
    name = "framework"
    verbose_name = _("Advisory framework")

    def ready(self):
        from .changes import change_triggers_install

        # After every migrate: the triggers follow the schema (framework.changes).
        post_migrate.connect(change_triggers_install, sender=self, dispatch_uid="framework_change_triggers")
