"""The relationship: days since the last contact, complaints open for over 30 days, open data conflicts."""

from datetime import timedelta

import pandas as pd
from django.db.models import Count, Max
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from clients.models import Complaint, ContactMoment
from ingestion.models import DataConflict

from . import Batch, Derived, Provider, frame

NO_CONTACT = gettext_noop("no contact recorded")
OPEN_COMPLAINT = [Complaint.Status.OPEN, Complaint.Status.IN_PROGRESS]


def compute(batch: Batch) -> Derived:
    derived = Derived(batch.index, provider.outputs)
    last_contact = frame(
        ContactMoment.objects.filter(batch.clients(), deleted_at__isnull=True)
        .values("client_id")
        .annotate(last=Max("occurred_at"))
        .values_list("client_id", "last"),
        ["client_id", "last"],
    )["last"].reindex(batch.index)
    last_day = pd.to_datetime(last_contact, utc=True).dt.tz_convert(timezone.get_current_timezone()).dt.normalize()
    today = pd.Timestamp(batch.today).tz_localize(timezone.get_current_timezone())
    derived.set("days_since_last_contact", (today - last_day).dt.days)
    derived.unknown("days_since_last_contact", NO_CONTACT, last_contact.isna())

    complaints = frame(
        Complaint.objects.filter(
            batch.clients(),
            deleted_at__isnull=True,
            status__in=OPEN_COMPLAINT,
            received_on__lt=batch.today - timedelta(days=30),
        )
        .values("client_id")
        .annotate(count=Count("id"))
        .values_list("client_id", "count"),
        ["client_id", "count"],
    )["count"].reindex(batch.index)
    derived.set("open_complaints_over_30_days", complaints.fillna(0).astype(int))

    conflicts = frame(
        DataConflict.objects.filter(batch.clients())
        .values("client_id")
        .annotate(count=Count("id"))
        .values_list("client_id", "count"),
        ["client_id", "count"],
    )["count"].reindex(batch.index)
    derived.set("open_data_conflicts", conflicts.fillna(0).astype(int))
    return derived


provider = Provider(
    key="relationship",
    label=_("Relationship"),
    inputs=("ContactMoment.occurred_at", "Complaint.status", "Complaint.received_on", "ingestion.DataConflict"),
    outputs=("days_since_last_contact", "open_complaints_over_30_days", "open_data_conflicts"),
    max_staleness=timedelta(days=1),
    compute=compute,
)
