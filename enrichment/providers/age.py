"""Age in whole years today, from the birth date."""

from datetime import timedelta

from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from . import Batch, Derived, Provider
from ._frames import age_on, clients_frame

NO_BIRTH_DATE = gettext_noop("no birth date")
IMPLAUSIBLE_BIRTH_DATE = gettext_noop("the birth date lies in the future or more than 130 years back")


def compute(batch: Batch) -> Derived:
    derived = Derived(batch.index, provider.outputs)
    born = clients_frame(batch)["birth_date"]
    ages = age_on(born, batch.today)
    plausible = ages.notna() & (ages >= 0) & (ages <= 130)
    derived.set("age", ages[plausible].astype(int))
    derived.unknown("age", NO_BIRTH_DATE, born.isna())
    derived.unknown("age", IMPLAUSIBLE_BIRTH_DATE, born.notna() & ~plausible.fillna(False))
    return derived


provider = Provider(
    key="age",
    label=_("Age"),
    inputs=("Client.birth_date",),
    outputs=("age",),
    max_staleness=timedelta(days=1),  # it changes on the birthday
    compute=compute,
)
