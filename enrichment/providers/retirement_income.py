"""Gross income, projected retirement income (pensions plus AOW) and the pension replacement ratio.

- gross_income: the sum of the client's current incomes from work, business, benefits and "other":
  the income that stops at retirement. Rental income (it goes on) and pension income (already
  retired) are left out.
- projected_retirement_income: the projected annual amounts of all current pensions, plus a full
  AOW at the single or the partner rate (see enrichment/state_pension.py for the amounts and source).
- replacement_ratio: projected_retirement_income / gross_income (0.7 is 70%).
"""

from datetime import timedelta
from decimal import Decimal

import pandas as pd
from django.db.models import Count, Sum
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from clients.models import Income, Pension

from ..state_pension import AOW_ANNUAL_PARTNER, AOW_ANNUAL_SINGLE
from . import Batch, Derived, Provider, frame

INCOME_KINDS_REPLACED = [Income.Kind.SALARY, Income.Kind.BUSINESS, Income.Kind.BENEFIT, Income.Kind.OTHER]

NO_INCOME = gettext_noop("no current income from work, business or benefits recorded")
PARTNER_UNKNOWN = gettext_noop("the AOW amount depends on whether there is a partner, which is unknown")
NO_GROSS_INCOME = gettext_noop("the gross income is unknown or zero")
NO_RETIREMENT_INCOME = gettext_noop("the projected retirement income is unknown")
AOW_NOTES = {
    # (rate, any supplementary pension recorded): the note on the projected retirement income
    ("single", True): gettext_noop("includes a full AOW for a single person: € %(aow)s a year (amounts of 2026)"),
    ("partner", True): gettext_noop("includes a full AOW for one of a couple: € %(aow)s a year (amounts of 2026)"),
    ("single", False): gettext_noop(
        "no supplementary pension recorded: a full AOW for a single person only, € %(aow)s a year (amounts of 2026)"
    ),
    ("partner", False): gettext_noop(
        "no supplementary pension recorded: a full AOW for one of a couple only, € %(aow)s a year (amounts of 2026)"
    ),
}


def compute(batch: Batch) -> Derived:
    derived = Derived(batch.index, provider.outputs)
    incomes = frame(
        Income.objects.filter(batch.clients(), deleted_at__isnull=True, kind__in=INCOME_KINDS_REPLACED)
        .values("client_id")
        .annotate(total=Sum("gross_annual_amount"))
        .values_list("client_id", "total"),
        ["client_id", "total"],
    )["total"].reindex(batch.index)
    pensions = frame(
        Pension.objects.filter(batch.clients(), deleted_at__isnull=True)
        .values("client_id")
        .annotate(total=Sum("projected_annual_pension"), count=Count("id"))
        .values_list("client_id", "total", "count"),
        ["client_id", "total", "count"],
    ).reindex(batch.index)

    derived.set("gross_income", incomes)
    derived.unknown("gross_income", NO_INCOME, incomes.isna())

    has_partner = batch.facts["has_partner"]
    aow = pd.Series(None, index=batch.index, dtype=object)
    aow[has_partner == True] = AOW_ANNUAL_PARTNER  # noqa: E712 - a column of True/False/None
    aow[has_partner == False] = AOW_ANNUAL_SINGLE  # noqa: E712
    rate = has_partner.map({True: "partner", False: "single"})
    supplementary = pensions["total"].where(pensions["total"].notna(), Decimal(0))
    known_rate = aow.notna()
    retirement = pd.Series(None, index=batch.index, dtype=object)
    retirement[known_rate] = supplementary[known_rate] + aow[known_rate]
    derived.set("projected_retirement_income", retirement)
    derived.unknown("projected_retirement_income", PARTNER_UNKNOWN, aow.isna())
    params = rate.map({"single": {"aow": str(AOW_ANNUAL_SINGLE)}, "partner": {"aow": str(AOW_ANNUAL_PARTNER)}})
    has_pension = pensions["count"].notna()
    for (kind, recorded), message in AOW_NOTES.items():
        derived.note("projected_retirement_income", message, (rate == kind) & (has_pension == recorded), params)

    usable_income = incomes.notna() & (incomes.fillna(Decimal(0)) > 0)
    computable = usable_income & retirement.notna()
    ratio = (retirement[computable] / incomes[computable]).astype(object)
    derived.set("replacement_ratio", ratio)
    derived.unknown("replacement_ratio", NO_GROSS_INCOME, ~usable_income)
    derived.unknown("replacement_ratio", NO_RETIREMENT_INCOME, usable_income & retirement.isna())
    return derived


provider = Provider(
    key="retirement_income",
    label=_("Income and pension projection"),
    inputs=("Income.gross_annual_amount", "Income.kind", "Pension.projected_annual_pension", "facts.has_partner"),
    outputs=("gross_income", "projected_retirement_income", "replacement_ratio"),
    max_staleness=timedelta(days=7),
    compute=compute,
)
