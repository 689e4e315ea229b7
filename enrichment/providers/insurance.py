"""Home insurance against the rebuild value, and whether there is life cover.

insured_to_rebuild_ratio = the insured amounts of the client's current home (building) policies / the
rebuild value of the own home (below 1 is under-insured). A policy without an insured amount (often
one with a guarantee against under-insurance) leaves the ratio unknown rather than zero.
has_life_cover: a current life or term-life policy is recorded (False: none recorded).
"""

from datetime import timedelta

from django.db.models import Count, Q, Sum
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from clients.models import InsurancePolicy

from . import Batch, Derived, Provider, frame
from ._frames import own_homes_frame

NO_HOME = gettext_noop("no own home recorded")
NO_REBUILD_VALUE = gettext_noop("the rebuild value of the home is unknown")
NO_HOME_POLICY = gettext_noop("no home insurance recorded")
INSURED_AMOUNT_UNKNOWN = gettext_noop("a home policy has no insured amount")

HOME = Q(kind=InsurancePolicy.Kind.HOME)
LIFE = Q(kind__in=[InsurancePolicy.Kind.LIFE, InsurancePolicy.Kind.TERM_LIFE])


def compute(batch: Batch) -> Derived:
    derived = Derived(batch.index, provider.outputs)
    policies = frame(
        InsurancePolicy.objects.filter(batch.clients(), deleted_at__isnull=True)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=batch.today))
        .values("client_id")
        .annotate(
            home_policies=Count("id", filter=HOME),
            home_insured=Sum("insured_amount", filter=HOME),
            home_without_amount=Count("id", filter=HOME & Q(insured_amount__isnull=True)),
            life_policies=Count("id", filter=LIFE),
        )
        .values_list("client_id", "home_policies", "home_insured", "home_without_amount", "life_policies"),
        ["client_id", "home_policies", "home_insured", "home_without_amount", "life_policies"],
    ).reindex(batch.index)
    policies = policies.fillna({"home_policies": 0, "home_without_amount": 0, "life_policies": 0})

    homes = own_homes_frame(batch)
    has_home = homes["property_id"].notna()
    rebuild = homes["rebuild_value"]
    insured_known = (policies["home_policies"] > 0) & (policies["home_without_amount"] == 0)
    computable = has_home & rebuild.notna() & (rebuild.fillna(0) > 0) & insured_known
    derived.set("insured_to_rebuild_ratio", (policies["home_insured"][computable] / rebuild[computable]).astype(object))
    derived.unknown("insured_to_rebuild_ratio", NO_HOME, ~has_home)
    derived.unknown("insured_to_rebuild_ratio", NO_REBUILD_VALUE, has_home & ~(rebuild.fillna(0) > 0))
    with_rebuild = has_home & (rebuild.fillna(0) > 0)
    derived.unknown("insured_to_rebuild_ratio", NO_HOME_POLICY, with_rebuild & (policies["home_policies"] == 0))
    derived.unknown(
        "insured_to_rebuild_ratio", INSURED_AMOUNT_UNKNOWN, with_rebuild & (policies["home_without_amount"] > 0)
    )

    derived.set("has_life_cover", (policies["life_policies"] > 0).astype(object))
    return derived


provider = Provider(
    key="insurance",
    label=_("Insurance"),
    inputs=(
        "InsurancePolicy.kind",
        "InsurancePolicy.insured_amount",
        "InsurancePolicy.end_date",
        "Property.rebuild_value",
    ),
    outputs=("insured_to_rebuild_ratio", "has_life_cover"),
    max_staleness=timedelta(days=7),
    compute=compute,
)
