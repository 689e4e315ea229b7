"""Reads for the Sources pages."""

from django.db.models import Count, OuterRef, Q, Subquery

from clients.models import Client

from .models import DataConflict, MatchCandidate, QuarantinedRecord, Source, SourceRecord, SyncRun, TaskAttempt


def sources_overview():
    """Every source with its latest run and its open quarantine, in three queries whatever their number."""
    latest_run = (
        SyncRun.objects.filter(source=OuterRef("pk")).exclude(status=SyncRun.Status.SKIPPED).order_by("-started_at")
    )
    sources = list(
        Source.objects.select_related("default_team")
        .annotate(
            open_quarantine=Count(
                "quarantine", filter=Q(quarantine__status=QuarantinedRecord.Status.OPEN), distinct=True
            ),
            latest_run_id=Subquery(latest_run.values("pk")[:1]),
        )
        .order_by("name")
    )
    runs = SyncRun.objects.in_bulk([source.latest_run_id for source in sources if source.latest_run_id])
    record_counts = dict(
        SourceRecord.objects.filter(deleted_at__isnull=True)
        .values_list("source_key")
        .annotate(count=Count("pk"))
        .values_list("source_key", "count")
    )
    for source in sources:
        source.latest_run = runs.get(source.latest_run_id)
        source.record_count = record_counts.get(source.key, 0)
    return sources


def dead_letters():
    """Background work that stopped after too many attempts, newest first: an admin has to look."""
    stopped = list(TaskAttempt.objects.filter(dead_lettered_at__isnull=False).order_by("-dead_lettered_at"))
    names = dict(Source.objects.values_list("pk", "name"))
    for attempt in stopped:
        kind, _, pk = attempt.key.partition(":")
        attempt.label = names.get(int(pk), attempt.key) if kind == "source" and pk.isdigit() else attempt.key
    return stopped


def source_runs(source: Source, limit: int = 25):
    return list(source.runs.select_related("triggered_by").order_by("-started_at")[:limit])


def source_open_quarantine(source: Source, limit: int = 100):
    return list(source.quarantine.filter(status=QuarantinedRecord.Status.OPEN).order_by("-created_at")[:limit])


def running_run(source: Source) -> SyncRun | None:
    return source.runs.filter(status=SyncRun.Status.RUNNING).order_by("-started_at").first()


def match_candidates_pending():
    return list(
        MatchCandidate.objects.filter(status=MatchCandidate.Status.PENDING)
        .select_related("source_record", "client", "client__team")
        .order_by("-score", "pk")[:200]
    )


def client_data_conflicts(client: Client):
    return list(DataConflict.objects.filter(client=client).order_by("target", "other_source"))
