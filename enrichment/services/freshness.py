"""The firm's freshness rules (FreshnessPolicy): one per field group, starting from the defaults."""

from django.apps import apps as global_apps

from clients.freshness import FIELD_GROUPS


def freshness_policies_ensure(*, apps=global_apps, using: str = "default") -> int:
    """Create a rule with the default maximum age for every field group that has none; returns how many.

    Runs after every migrate (so a field group added to clients.freshness gets its rule, and a test
    database flushed between tests gets them back); rules the firm changed are left alone.
    """
    FreshnessPolicy = apps.get_model("enrichment", "FreshnessPolicy")
    existing = set(FreshnessPolicy.objects.using(using).values_list("group_key", flat=True))
    missing = [
        FreshnessPolicy(group_key=group.key, max_age_days=group.max_age_days)
        for group in FIELD_GROUPS
        if group.key not in existing
    ]
    FreshnessPolicy.objects.using(using).bulk_create(missing)
    return len(missing)
