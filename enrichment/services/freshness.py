"""The firm's freshness rules (FreshnessPolicy): one per field group, starting from the defaults."""

from django.apps import apps as global_apps
from django.core.cache import cache
from django.db import transaction

from clients.freshness import FIELD_GROUPS

from ..models import FreshnessPolicy
from ..selectors import FRESHNESS_CACHE_KEY


def freshness_policies_changed() -> None:
    """Forget the cached rules (after the transaction that changed them), so pages read the new ones."""
    transaction.on_commit(lambda: cache.delete(FRESHNESS_CACHE_KEY))
    cache.delete(FRESHNESS_CACHE_KEY)


@transaction.atomic
def freshness_policy_set(*, group_key: str, max_age_days: int) -> FreshnessPolicy:
    """Set the maximum age of one field group."""
    policy, _created = FreshnessPolicy.objects.update_or_create(
        group_key=group_key, defaults={"max_age_days": max_age_days}
    )
    policy.full_clean()
    freshness_policies_changed()
    return policy


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
    cache.delete(FRESHNESS_CACHE_KEY)
    return len(missing)
