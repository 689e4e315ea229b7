"""Value and retention: what a client brings the firm, and the signals that they may leave.

client_value = advice fees + commission (clients.ClientRevenue) in the last complete calendar year.
A client with revenue in other years but none in that year is worth 0 that year; a client with no
revenue recorded at all has an unknown value, not zero.
products_held = current mortgages, insurance policies, pensions, savings and investments, and
consumer loans (not deleted in their source; policies and loans not past their end date).
products_ending_within_90_days = policies, consumer loans and mortgage loan parts whose end date lies
in the next 90 days: the moment a client is most likely to take the product elsewhere.
open_complaints = complaints open or in progress, whatever their age.
engagement_trend = contact moments in the last 182 days minus those in the 182 days before.
churn_risk_signals = how many of four signals are present: an open complaint, a product ending within
90 days, no contact for a year (or none recorded), falling engagement (a negative trend). Rules can
combine them with the value: `facts.client_value >= 2500 and facts.churn_risk_signals >= 2`.
"""

from datetime import timedelta

import pandas as pd
from django.db.models import Count, Q, Sum
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from clients.models import (
    Asset,
    ClientRevenue,
    Complaint,
    ConsumerLoan,
    ContactMoment,
    InsurancePolicy,
    LoanPart,
    Mortgage,
    Pension,
)

from . import Batch, Derived, Provider, frame

NO_REVENUE = gettext_noop("no fees or commission recorded")
ENDING_WITHIN_DAYS = 90
ENGAGEMENT_WINDOW_DAYS = 182
NO_CONTACT_SIGNAL_DAYS = 365


def _count(queryset, lookup: str = "client_id") -> pd.Series:
    rows = queryset.values(lookup).annotate(count=Count("id")).values_list(lookup, "count")
    return frame(rows, ["client_id", "count"])["count"]


def _sum_counts(batch: Batch, parts: list[pd.Series]) -> pd.Series:
    total = pd.Series(0, index=batch.index, dtype="int64")
    for part in parts:
        total = total.add(batch.reindex(part.to_frame())["count"].fillna(0).astype("int64"), fill_value=0)
    return total.astype("int64")


def compute(batch: Batch) -> Derived:
    derived = Derived(batch.index, provider.outputs)
    today = batch.today
    current = {"deleted_at__isnull": True}
    not_ended = Q(end_date__isnull=True) | Q(end_date__gte=today)

    # Value: one query for the clients' revenue, split by year in pandas.
    last_year = today.year - 1
    revenue = frame(
        ClientRevenue.objects.filter(batch.clients())
        .values("client_id")
        .annotate(
            last_year=Sum("fees", filter=Q(year=last_year)) + Sum("commission", filter=Q(year=last_year)),
            years=Count("id"),
        )
        .values_list("client_id", "last_year", "years"),
        ["client_id", "last_year", "years"],
    ).pipe(batch.reindex)
    has_revenue = revenue["years"].fillna(0) > 0
    value = revenue["last_year"].where(revenue["last_year"].notna(), 0)
    derived.set("client_value", value[has_revenue])
    derived.unknown("client_value", NO_REVENUE, ~has_revenue)

    held = _sum_counts(
        batch,
        [
            _count(Mortgage.objects.filter(batch.clients(), **current)),
            _count(InsurancePolicy.objects.filter(batch.clients(), not_ended, **current)),
            _count(Pension.objects.filter(batch.clients(), **current)),
            _count(Asset.objects.filter(batch.clients(), **current)),
            _count(ConsumerLoan.objects.filter(batch.clients(), not_ended, **current)),
        ],
    )
    derived.set("products_held", held)

    horizon = Q(end_date__gte=today, end_date__lte=today + timedelta(days=ENDING_WITHIN_DAYS))
    ending = _sum_counts(
        batch,
        [
            _count(InsurancePolicy.objects.filter(batch.clients(), horizon, **current)),
            _count(ConsumerLoan.objects.filter(batch.clients(), horizon, **current)),
            _count(
                LoanPart.objects.filter(
                    batch.clients("mortgage__client_id"),
                    horizon,
                    deleted_at__isnull=True,
                    mortgage__deleted_at__isnull=True,
                ),
                lookup="mortgage__client_id",
            ),
        ],
    )
    derived.set("products_ending_within_90_days", ending)

    complaints = _sum_counts(
        batch,
        [
            _count(
                Complaint.objects.filter(
                    batch.clients(), status__in=[Complaint.Status.OPEN, Complaint.Status.IN_PROGRESS], **current
                )
            )
        ],
    )
    derived.set("open_complaints", complaints)

    # Contact moments are timestamps; the windows are whole days back from today (local midnight).
    recent_start = today - timedelta(days=ENGAGEMENT_WINDOW_DAYS)
    earlier_start = recent_start - timedelta(days=ENGAGEMENT_WINDOW_DAYS)
    contacts = frame(
        ContactMoment.objects.filter(batch.clients(), occurred_at__date__gt=earlier_start, **current)
        .values("client_id")
        .annotate(
            recent=Count("id", filter=Q(occurred_at__date__gt=recent_start)),
            earlier=Count("id", filter=Q(occurred_at__date__lte=recent_start)),
        )
        .values_list("client_id", "recent", "earlier"),
        ["client_id", "recent", "earlier"],
    ).pipe(batch.reindex)
    trend = (contacts["recent"].fillna(0) - contacts["earlier"].fillna(0)).astype("int64")
    derived.set("engagement_trend", trend)

    known_days = batch.facts.get("days_since_last_contact")
    days_since_contact = (
        pd.Series(float("nan"), index=batch.index)
        if known_days is None
        else pd.to_numeric(known_days, errors="coerce").reindex(batch.index)
    )
    no_contact = days_since_contact.isna() | (days_since_contact >= NO_CONTACT_SIGNAL_DAYS)
    signals = (complaints > 0).astype(int) + (ending > 0).astype(int) + no_contact.astype(int) + (trend < 0).astype(int)
    derived.set("churn_risk_signals", signals.astype("int64"))
    return derived


provider = Provider(
    key="retention",
    label=_("Value and retention"),
    inputs=(
        "ClientRevenue.fees",
        "ClientRevenue.commission",
        "Mortgage",
        "InsurancePolicy.end_date",
        "Pension",
        "Asset",
        "ConsumerLoan.end_date",
        "LoanPart.end_date",
        "Complaint.status",
        "ContactMoment.occurred_at",
        "facts.days_since_last_contact",
    ),
    outputs=(
        "client_value",
        "products_held",
        "products_ending_within_90_days",
        "open_complaints",
        "engagement_trend",
        "churn_risk_signals",
    ),
    max_staleness=timedelta(days=1),
    compute=compute,
)
