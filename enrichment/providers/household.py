"""The household situation: partner, children and their ages, dependants, and the kind of household.

A partner is "recorded" when a second client shares the household or a family member is a partner;
otherwise the marital status says whether there is one. Children are the household's family members
of relation "child"; the kind of household counts those living at home.
"""

from datetime import timedelta

import pandas as pd
from django.db.models import Count
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from clients.models import Client, FamilyMember, MaritalStatus

from ..models import HouseholdType
from . import Batch, Derived, Provider, frame
from ._frames import age_on, clients_frame

NO_HOUSEHOLD = gettext_noop("no household recorded")
PARTNER_UNKNOWN = gettext_noop("the marital status is unknown and no partner is recorded")
NO_CHILDREN = gettext_noop("no children recorded")
CHILD_AGE_MISSING = gettext_noop("a child's birth date is missing")

WITH_PARTNER = {MaritalStatus.MARRIED, MaritalStatus.REGISTERED_PARTNERSHIP, MaritalStatus.COHABITING}
WITHOUT_PARTNER = {MaritalStatus.SINGLE, MaritalStatus.DIVORCED, MaritalStatus.WIDOWED}


def compute(batch: Batch) -> Derived:
    derived = Derived(batch.index, provider.outputs)
    clients = clients_frame(batch)
    households = Client.objects.filter(batch.clients("id")).values("household_id")
    members = frame(
        FamilyMember.objects.filter(deleted_at__isnull=True, household_id__in=households).values_list(
            "household_id", "relation", "birth_date", "lives_at_home"
        ),
        ["household_id", "relation", "birth_date", "lives_at_home"],
        index=None,
    )
    clients_per_household = frame(
        Client.objects.filter(deleted_at__isnull=True, household_id__in=households)
        .values("household_id")
        .annotate(clients=Count("id"))
        .values_list("household_id", "clients"),
        ["household_id", "clients"],
        index="household_id",
    )["clients"]

    ages = age_on(members["birth_date"], batch.today)
    members["age"] = ages.where((ages >= 0).fillna(False))  # a birth date in the future counts as unknown
    is_child = members["relation"] == FamilyMember.Relation.CHILD
    children = members[is_child]
    per_household = pd.DataFrame(
        {
            "partners": members[members["relation"] == FamilyMember.Relation.PARTNER].groupby("household_id").size(),
            "others": members[members["relation"] == FamilyMember.Relation.OTHER].groupby("household_id").size(),
            "children": children.groupby("household_id").size(),
            "children_at_home": children[children["lives_at_home"].astype(bool)].groupby("household_id").size(),
            "children_without_age": children[children["age"].isna()].groupby("household_id").size(),
            "minors": children[children["age"] < 18].groupby("household_id").size(),
            "youngest": children.groupby("household_id")["age"].min(),
            "clients": clients_per_household,
        }
    )
    # One row per client of the batch, with its household's counts (0 where the household has none).
    mine = clients[["household_id", "marital_status"]].join(per_household, on="household_id")
    counts = ["partners", "others", "children", "children_at_home", "children_without_age", "minors", "clients"]
    mine[counts] = mine[counts].fillna(0).astype(int)
    has_household = mine["household_id"].notna()

    partner_recorded = has_household & ((mine["clients"] > 1) | (mine["partners"] > 0))
    says_partner = mine["marital_status"].isin(WITH_PARTNER)
    says_single = mine["marital_status"].isin(WITHOUT_PARTNER)
    has_partner = pd.Series(pd.NA, index=mine.index, dtype="boolean")
    has_partner[says_single] = False
    has_partner[partner_recorded | says_partner] = True
    derived.set("has_partner", has_partner.astype(object))
    derived.unknown("has_partner", PARTNER_UNKNOWN, has_partner.isna())

    derived.set("children_count", mine["children"].where(has_household))
    derived.unknown("children_count", NO_HOUSEHOLD, ~has_household)

    youngest_known = has_household & (mine["children"] > 0) & (mine["children_without_age"] == 0)
    derived.set("youngest_child_age", mine["youngest"].where(youngest_known))
    derived.unknown("youngest_child_age", NO_HOUSEHOLD, ~has_household)
    derived.unknown("youngest_child_age", NO_CHILDREN, has_household & (mine["children"] == 0))
    derived.unknown("youngest_child_age", CHILD_AGE_MISSING, has_household & (mine["children_without_age"] > 0))

    partner_yes = has_partner.fillna(False).astype(bool)
    partner_no = (~has_partner).fillna(False).astype(bool)
    someone_to_care_for = partner_yes | (mine["minors"] > 0) | (mine["others"] > 0)
    unsure = has_partner.isna() | (mine["children_without_age"] > 0) | ~has_household
    dependants = pd.Series(pd.NA, index=mine.index, dtype="boolean")
    dependants[~someone_to_care_for & ~unsure] = False
    dependants[someone_to_care_for] = True
    derived.set("has_dependants", dependants.astype(object))
    derived.unknown("has_dependants", NO_HOUSEHOLD, dependants.isna() & ~has_household)
    derived.unknown("has_dependants", PARTNER_UNKNOWN, dependants.isna() & has_household & has_partner.isna())
    derived.unknown(
        "has_dependants", CHILD_AGE_MISSING, dependants.isna() & has_household & (mine["children_without_age"] > 0)
    )

    at_home = mine["children_at_home"] > 0
    kind = pd.Series(None, index=mine.index, dtype=object)
    kind[partner_yes & at_home] = HouseholdType.FAMILY
    kind[partner_yes & ~at_home] = HouseholdType.COUPLE
    kind[partner_no & at_home] = HouseholdType.SINGLE_PARENT
    kind[partner_no & ~at_home] = HouseholdType.SINGLE
    kind[~has_household] = None  # without a household, children are unknown
    derived.set("household_type", kind)
    derived.unknown("household_type", NO_HOUSEHOLD, ~has_household)
    derived.unknown("household_type", PARTNER_UNKNOWN, has_household & has_partner.isna())
    return derived


provider = Provider(
    key="household",
    label=_("Household situation"),
    inputs=(
        "Client.marital_status",
        "Client.household",
        "FamilyMember.relation",
        "FamilyMember.birth_date",
        "FamilyMember.lives_at_home",
    ),
    outputs=("household_type", "has_partner", "children_count", "youngest_child_age", "has_dependants"),
    max_staleness=timedelta(days=1),  # children's ages change on their birthdays
    compute=compute,
)
