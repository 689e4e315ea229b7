import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .connectors.hubspot_webhooks import WebhookRejected, contact_ids_to_resync, parse_events, verify_v3
from .forms import MatchDecisionForm, QuarantineFixForm
from .mapping import MappingError
from .models import MatchCandidate, QuarantinedRecord, Source, SyncRun, WebhookEvent
from .selectors import (
    dead_letters,
    match_candidates_pending,
    running_run,
    source_open_quarantine,
    source_runs,
    sources_overview,
)
from .services.records import (
    match_candidate_decide,
    quarantine_raw_from_text,
    quarantined_record_dismiss,
    quarantined_record_retry,
)
from .services.sync import source_credentials
from .tasks import sync_source_enqueue, sync_source_records

logger = logging.getLogger(__name__)


@permission_required("accounts.access_sources", raise_exception=True)
def source_list_view(request):
    pending_matches = MatchCandidate.objects.filter(status=MatchCandidate.Status.PENDING).count()
    return render(
        request,
        "ingestion/source_list.html",
        {"sources": sources_overview(), "pending_matches": pending_matches, "dead_letters": dead_letters()},
    )


@permission_required("accounts.access_sources", raise_exception=True)
def source_detail_view(request, key: str):
    source = get_object_or_404(Source, key=key)
    runs = source_runs(source)
    return render(
        request,
        "ingestion/source_detail.html",
        {
            "source": source,
            "runs": runs,
            "current_run": running_run(source)
            or next((run for run in runs if run.status != SyncRun.Status.SKIPPED), None),
            "quarantine": source_open_quarantine(source),
        },
    )


@permission_required("accounts.access_sources", raise_exception=True)
def source_progress_view(request, key: str):
    """The progress bar of the running sync, polled by htmx while it runs."""
    source = get_object_or_404(Source, key=key)
    run = running_run(source) or source.runs.exclude(status=SyncRun.Status.SKIPPED).first()
    response = render(request, "ingestion/_progress.html", {"source": source, "run": run})
    if request.htmx and (run is None or run.status != SyncRun.Status.RUNNING):
        # The run being watched has ended: reload the page so its history and quarantine follow.
        response["HX-Refresh"] = "true"
    return response


@require_POST
@permission_required("ingestion.run_sync", raise_exception=True)
def source_sync_now_view(request, key: str):
    source = get_object_or_404(Source, key=key)
    if source.kind == Source.Kind.FILE:
        messages.error(request, _("A file source is updated by uploading a file."))
        return redirect("ingestion:source", key=key)
    transaction.on_commit(lambda: sync_source_enqueue(source_id=source.pk, user_id=request.user.pk))
    messages.info(request, _("Sync of %(source)s started.") % {"source": source.name})
    return redirect("ingestion:source", key=key)


@require_POST
@permission_required("ingestion.run_sync", raise_exception=True)
def quarantine_retry_view(request, pk: int):
    quarantined = get_object_or_404(QuarantinedRecord, pk=pk, status=QuarantinedRecord.Status.OPEN)
    form = QuarantineFixForm(request.POST)
    if form.is_valid():
        try:
            raw = quarantine_raw_from_text(form.cleaned_data["raw"])
        except MappingError as error:
            messages.error(request, error.reason)
        else:
            quarantined = quarantined_record_retry(quarantined=quarantined, raw=raw)
            if quarantined.status == QuarantinedRecord.Status.RETRIED:
                messages.success(request, _("Record %(id)s landed.") % {"id": quarantined.record_id})
            else:
                messages.error(request, _("Still refused: %(reason)s") % {"reason": quarantined.reason})
    return redirect("ingestion:source", key=quarantined.source.key)


@require_POST
@permission_required("ingestion.run_sync", raise_exception=True)
def quarantine_dismiss_view(request, pk: int):
    quarantined = get_object_or_404(QuarantinedRecord, pk=pk, status=QuarantinedRecord.Status.OPEN)
    quarantined_record_dismiss(quarantined=quarantined)
    messages.info(request, _("Record dismissed."))
    return redirect("ingestion:source", key=quarantined.source.key)


@permission_required("ingestion.change_matchcandidate", raise_exception=True)
def review_queue_view(request):
    return render(request, "ingestion/review_queue.html", {"candidates": match_candidates_pending()})


@require_POST
@permission_required("ingestion.change_matchcandidate", raise_exception=True)
def match_decide_view(request, pk: int):
    candidate = get_object_or_404(MatchCandidate, pk=pk)
    form = MatchDecisionForm(request.POST)
    if form.is_valid():
        try:
            client = match_candidate_decide(
                candidate=candidate, link=form.cleaned_data["decision"] == "link", user=request.user
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Decided: %(client)s.") % {"client": client.full_name})
    return redirect("ingestion:review")


# --- Webhooks -------------------------------------------------------------------------------------


@csrf_exempt
@login_not_required
@require_POST
def hubspot_webhook_view(request, key: str):
    """HubSpot change notifications: verified by signature, each event once, then a targeted sync."""
    source = Source.objects.filter(key=key, kind=Source.Kind.HUBSPOT, enabled=True).first()
    secret = source_credentials(source).get("client_secret") if source else None
    if not secret:
        return JsonResponse({"error": "unknown source"}, status=404)
    try:
        verify_v3(
            client_secret=secret,
            method=request.method,
            uri=request.build_absolute_uri(),
            body=request.body,
            headers=request.headers,
        )
        events = parse_events(request.body)
    except WebhookRejected as rejected:
        logger.warning("webhook for %s rejected: %s", key, rejected.reason)
        return JsonResponse({"error": rejected.reason}, status=401)

    def claim(replay_key: str) -> bool:
        try:
            with transaction.atomic():
                WebhookEvent.objects.create(source=source, event_id=replay_key[:100])
        except IntegrityError:
            return False
        return True

    with transaction.atomic():
        record_ids = contact_ids_to_resync(events, claim_event=claim)
        if record_ids:
            transaction.on_commit(lambda: sync_source_records.delay(source.pk, record_ids))
    return JsonResponse({"accepted": len(record_ids)})
