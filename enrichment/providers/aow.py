"""The date the state pension (AOW) starts, from the birth date and the official table of AOW ages."""

from datetime import date, timedelta

import pandas as pd
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from ..state_pension import LAST_SET_BIRTH_DATE, state_pension_date
from . import Batch, Derived, Provider
from ._frames import clients_frame

NO_BIRTH_DATE = gettext_noop("no birth date")
PROVISIONAL = gettext_noop(
    "provisional: the AOW age of people born after 30 September 1964 is not set yet; this is the earliest date"
)


def compute(batch: Batch) -> Derived:
    derived = Derived(batch.index, provider.outputs)
    born = clients_frame(batch)["birth_date"]
    known = born[born.notna()]
    # The table maps a birth date to a date: computed once per distinct birth date (at most a few
    # tens of thousands, however many clients), with the same function the tests pin.
    by_birth_date = {day: state_pension_date(day) for day in set(known) if isinstance(day, date)}
    derived.set("state_pension_date", known.map(by_birth_date))
    derived.unknown("state_pension_date", NO_BIRTH_DATE, born.isna())
    provisional = pd.to_datetime(known, errors="coerce") > pd.Timestamp(LAST_SET_BIRTH_DATE)
    derived.note("state_pension_date", PROVISIONAL, provisional)
    return derived


provider = Provider(
    key="state_pension",
    label=_("State pension (AOW) table"),
    inputs=("Client.birth_date", "reference.aow_ages"),
    outputs=("state_pension_date",),
    max_staleness=timedelta(days=31),  # the table changes at most once a year
    compute=compute,
)
