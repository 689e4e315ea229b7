"""Mortgage facts: the next fixed-rate period end and the days to it, the outstanding balance, and
whether an interest-only part runs past the state pension date.

All loan parts of all the client's current mortgages count; one aggregate query per batch.
"""

from datetime import timedelta

import pandas as pd
from django.db.models import Count, Max, Min, Q, Sum
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from clients.models import LoanPart, RepaymentType

from . import Batch, Derived, Provider, frame

NO_MORTGAGE = gettext_noop("no mortgage")
NO_FUTURE_FIXED_RATE = gettext_noop("no fixed-rate period ends in the future")
FIXED_RATE_END_UNKNOWN = gettext_noop("the fixed-rate end date of a loan part is unknown")
SOME_FIXED_RATE_ENDS_UNKNOWN = gettext_noop("the fixed-rate end date of %(count)s loan part(s) is unknown")
BALANCE_UNKNOWN = gettext_noop("the outstanding balance of a loan part is unknown")
AOW_DATE_UNKNOWN = gettext_noop("the state pension date is unknown")
TERM_END_UNKNOWN = gettext_noop("the term end of an interest-only loan part is unknown")


def compute(batch: Batch) -> Derived:
    derived = Derived(batch.index, provider.outputs)
    interest_only = Q(repayment_type=RepaymentType.INTEREST_ONLY)
    parts = frame(
        LoanPart.objects.filter(
            batch.clients("mortgage__client_id"), deleted_at__isnull=True, mortgage__deleted_at__isnull=True
        )
        .values("mortgage__client_id")
        .annotate(
            parts=Count("id"),
            next_end=Min("fixed_rate_end_date", filter=Q(fixed_rate_end_date__gte=batch.today)),
            unknown_ends=Count("id", filter=Q(fixed_rate_end_date__isnull=True)),
            balance=Sum("outstanding_balance"),
            unknown_balances=Count("id", filter=Q(outstanding_balance__isnull=True)),
            interest_only_parts=Count("id", filter=interest_only),
            interest_only_last_end=Max("end_date", filter=interest_only),
            interest_only_unknown_ends=Count("id", filter=interest_only & Q(end_date__isnull=True)),
        )
        .values_list(
            "mortgage__client_id",
            "parts",
            "next_end",
            "unknown_ends",
            "balance",
            "unknown_balances",
            "interest_only_parts",
            "interest_only_last_end",
            "interest_only_unknown_ends",
        ),
        [
            "client_id",
            "parts",
            "next_end",
            "unknown_ends",
            "balance",
            "unknown_balances",
            "interest_only_parts",
            "interest_only_last_end",
            "interest_only_unknown_ends",
        ],
    ).reindex(batch.index)
    no_mortgage = parts["parts"].isna()
    for output in provider.outputs:
        derived.unknown(output, NO_MORTGAGE, no_mortgage)
    has_mortgage = ~no_mortgage

    next_end = pd.to_datetime(parts["next_end"])
    derived.set("next_fixed_rate_end_date", next_end.dt.date.where(next_end.notna()))
    derived.set("days_to_fixed_rate_end", (next_end - pd.Timestamp(batch.today)).dt.days)
    all_unknown = has_mortgage & next_end.isna() & (parts["unknown_ends"] > 0)
    none_ahead = has_mortgage & next_end.isna() & (parts["unknown_ends"] == 0)
    some_unknown = next_end.notna() & (parts["unknown_ends"] > 0)
    counts = parts.loc[some_unknown, "unknown_ends"].map(lambda count: {"count": int(count)})
    for output in ("next_fixed_rate_end_date", "days_to_fixed_rate_end"):
        derived.unknown(output, FIXED_RATE_END_UNKNOWN, all_unknown)
        derived.unknown(output, NO_FUTURE_FIXED_RATE, none_ahead)
        derived.note(output, SOME_FIXED_RATE_ENDS_UNKNOWN, some_unknown, counts)

    balance_known = has_mortgage & (parts["unknown_balances"] == 0)
    derived.set("mortgage_balance", parts["balance"].where(balance_known))
    derived.unknown("mortgage_balance", BALANCE_UNKNOWN, has_mortgage & ~balance_known)

    aow_date = pd.to_datetime(batch.facts["state_pension_date"])
    last_end = pd.to_datetime(parts["interest_only_last_end"])
    runs_past = last_end.notna() & aow_date.notna() & (last_end > aow_date)
    past = pd.Series(None, index=batch.index, dtype=object)
    past[has_mortgage & (parts["interest_only_parts"] == 0)] = False
    io_settled = has_mortgage & (parts["interest_only_parts"] > 0) & aow_date.notna()
    past[io_settled & (parts["interest_only_unknown_ends"] == 0)] = False
    past[io_settled & runs_past] = True
    derived.set("interest_only_past_state_pension", past)
    io_open = has_mortgage & (parts["interest_only_parts"] > 0) & past.isna()
    derived.unknown("interest_only_past_state_pension", AOW_DATE_UNKNOWN, io_open & aow_date.isna())
    derived.unknown("interest_only_past_state_pension", TERM_END_UNKNOWN, io_open & aow_date.notna())
    return derived


provider = Provider(
    key="mortgage",
    label=_("Mortgage"),
    inputs=(
        "LoanPart.fixed_rate_end_date",
        "LoanPart.outstanding_balance",
        "LoanPart.repayment_type",
        "LoanPart.end_date",
        "facts.state_pension_date",
    ),
    outputs=(
        "next_fixed_rate_end_date",
        "days_to_fixed_rate_end",
        "mortgage_balance",
        "interest_only_past_state_pension",
    ),
    max_staleness=timedelta(days=1),  # the days to the fixed-rate end count down daily
    compute=compute,
)
