from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _freshness_policies_ensure(sender, apps=None, using="default", **kwargs):
    # `flush` (between transactional tests) sends post_migrate without `apps`: the live registry then.
    from django.apps import apps as global_apps

    from .services.freshness import freshness_policies_ensure

    apps = apps or global_apps
    try:
        apps.get_model("enrichment", "FreshnessPolicy")
    except LookupError:  # migrating backwards to before the model existed
        return
    freshness_policies_ensure(apps=apps, using=using)


class EnrichmentConfig(AppConfig):
    name = "enrichment"
    verbose_name = _("Enrichment")

    def ready(self):
        # The 360° page flags stale values by the firm's own maximum ages (FreshnessPolicy, edited in
        # admin); clients must not import this app, so it asks through a hook that is filled here.
        # The loader reads the cache (the rules, cleared whenever they change) when a page asks, once
        # per page; never at start-up.
        from clients.freshness import max_age_overrides_register

        from .selectors import freshness_max_ages_cached

        max_age_overrides_register(freshness_max_ages_cached)
        # Every field group gets its rule with the default maximum age, after every migrate.
        post_migrate.connect(_freshness_policies_ensure, sender=self)
