from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Users and teams")

    def ready(self):
        # Later apps add models, and with them permissions, after the roles were created: keep each
        # role's permissions equal to the declared map after every migrate. This wires Django's own
        # permission machinery; it is not domain flow.
        post_migrate.connect(_sync_roles_after_migrate, dispatch_uid="accounts_roles")
        # Records at every login whether the user has a second factor (see accounts/mfa.py).
        from . import mfa  # noqa: F401


def _sync_roles_after_migrate(sender, using, apps=None, **kwargs):
    from django.apps import apps as global_apps

    from .services import role_permissions_sync

    # post_migrate fires once per app that has models, in INSTALLED_APPS order; after the last one
    # every permission exists.
    apps_with_models = [config for config in global_apps.get_app_configs() if config.models_module]
    if sender.label == apps_with_models[-1].label:
        role_permissions_sync(using=using)
