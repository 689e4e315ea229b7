"""Pages of follow-up: playbooks, templates, dispatch and the outbox (back office); call queue and
agenda (advisors, their own team); the client's own pages behind signed links (no login); and the
providers' delivery reports (no login; signed)."""

import datetime as dt
import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.selectors import user_sees_all_teams
from clients.selectors import clients_visible_to

from . import selectors
from .forms import FLOW_FORMS, CallOutcomeForm, MessageTemplateForm, PlaybookForm
from .links import LinkInvalid, message_for_token
from .models import CallToAction, Message, MessageTemplate, Playbook, PlaybookChange
from .services.delivery import SIGNATURE_HEADER, TIMESTAMP_HEADER, ReportRejected, delivery_report_receive
from .services.playbooks import message_template_save, playbook_delete, playbook_move, playbook_save
from .services.responses import booking_create, call_task_complete, message_track, self_service_complete
from .templating import TemplateError, message_render

MANAGE = "accounts.access_followup"
logger = logging.getLogger(__name__)


# --- Playbooks and dispatch (back office) -----------------------------------------------------------


@permission_required(MANAGE, raise_exception=True)
def playbooks_view(request):
    return render(
        request,
        "followup/playbooks.html",
        {
            "quadrants": selectors.playbooks_by_quadrant(),
            "preview": selectors.dispatch_preview(),
            "changes": PlaybookChange.objects.select_related("by")[:10],
        },
    )


@permission_required(MANAGE, raise_exception=True)
def playbook_edit_view(request, pk: int | None = None):
    playbook = get_object_or_404(Playbook, pk=pk) if pk else Playbook(quadrant=request.GET.get("quadrant", ""))
    form = PlaybookForm(request.POST or None, instance=playbook)
    if request.method == "POST" and form.is_valid():
        try:
            playbook_save(playbook=form.save(commit=False), steps=form.steps(), user=request.user)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("Playbook saved."))
            return redirect("followup:playbooks")
    return render(request, "followup/playbook_form.html", {"form": form, "playbook": playbook})


@require_POST
@permission_required(MANAGE, raise_exception=True)
def playbook_delete_view(request, pk: int):
    playbook_delete(playbook=get_object_or_404(Playbook, pk=pk), user=request.user)
    messages.success(request, _("Playbook deleted."))
    return redirect("followup:playbooks")


@require_POST
@permission_required(MANAGE, raise_exception=True)
def playbook_move_view(request, pk: int):
    playbook_move(
        playbook=get_object_or_404(Playbook, pk=pk), up=request.POST.get("direction") != "down", user=request.user
    )
    return redirect("followup:playbooks")


@require_POST
@permission_required(MANAGE, raise_exception=True)
def dispatch_now_view(request):
    from .tasks import dispatch

    result = dispatch.delay()
    if result.ready():  # eager (the demo): it ran in this request
        queued = (result.result or {}).get("queued", 0)
        held = Message.objects.filter(status=Message.Status.QUEUED, send_after__gt=timezone.now()).count()
        messages.success(
            request,
            _(
                "Dispatch done: %(n)s new message(s) queued; due messages sent. %(held)s message(s) wait for "
                "quiet hours, a frequency cap or a mailing day."
            )
            % {"n": queued, "held": held},
        )
    else:
        messages.success(request, _("Dispatch started."))
    return redirect("followup:playbooks")


# --- Templates ------------------------------------------------------------------------------------


@permission_required(MANAGE, raise_exception=True)
def templates_view(request):
    templates = MessageTemplate.objects.select_related("playbook", "updated_by")
    return render(request, "followup/templates.html", {"templates": templates})


@permission_required(MANAGE, raise_exception=True)
def template_edit_view(request, pk: int | None = None):
    from .context import FIELDS_HELP

    template = get_object_or_404(MessageTemplate, pk=pk) if pk else MessageTemplate()
    form = MessageTemplateForm(request.POST or None, instance=template)
    preview, preview_error = None, None
    if request.method == "POST" and form.is_valid():
        client_id = form.cleaned_data.get("preview_client")
        if "preview" in request.POST:
            client = clients_visible_to(request.user).filter(pk=client_id).first() if client_id else None
            if client is None:
                form.add_error("preview_client", _("Choose a client you can see to preview against."))
            else:
                context = selectors.template_preview_context(client=client)
                try:
                    with translation.override(form.cleaned_data["language"]):
                        preview = {
                            "subject": message_render(form.cleaned_data["subject"], context),
                            "body": message_render(form.cleaned_data["body"], context),
                            "client": client,
                        }
                except TemplateError as error:
                    preview_error = error.messages[0]
        else:
            try:
                message_template_save(template=form.save(commit=False), user=request.user)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("Template saved."))
                return redirect("followup:templates")
    return render(
        request,
        "followup/template_form.html",
        {
            "form": form,
            "template": template,
            "preview": preview,
            "preview_error": preview_error,
            "fields_help": FIELDS_HELP,
        },
    )


# --- The demo outbox ------------------------------------------------------------------------------


@permission_required(MANAGE, raise_exception=True)
def outbox_view(request):
    return render(request, "followup/outbox.html", {"emails": selectors.outbox_emails()})


@permission_required(MANAGE, raise_exception=True)
def outbox_email_view(request, key: str):
    email = selectors.outbox_email_read(key)
    if email is None:
        raise Http404("No such email")
    return render(request, "followup/outbox_email.html", {"email": email})


# --- Call queue and agenda (advisors: their own team) ----------------------------------------------


@permission_required("followup.view_calltask", raise_exception=True)
def calls_view(request):
    tasks = selectors.call_queue_for(user=request.user, show_done=request.GET.get("done") == "1")
    return render(request, "followup/calls.html", {"tasks": tasks[:300], "form": CallOutcomeForm()})


@require_POST
@permission_required("followup.change_calltask", raise_exception=True)
def call_done_view(request, pk: int):
    task = get_object_or_404(selectors.call_queue_for(user=request.user, show_done=True), pk=pk)
    form = CallOutcomeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose an outcome."))
        return redirect("followup:calls")
    call_task_complete(
        task=task, outcome=form.cleaned_data["outcome"], note=form.cleaned_data["note"], user=request.user
    )
    messages.success(request, _("Call recorded."))
    return redirect("followup:calls")


@permission_required("followup.view_booking", raise_exception=True)
def agenda_view(request):
    from django.contrib.auth import get_user_model

    advisor_id = request.GET.get("advisor")
    advisor_id = int(advisor_id) if advisor_id and advisor_id.isdigit() else None
    advisors = get_user_model().objects.filter(availability__isnull=False).distinct().order_by("first_name", "username")
    if not user_sees_all_teams(request.user):
        advisors = advisors.filter(team_id=request.user.team_id)
    if advisor_id and not advisors.filter(pk=advisor_id).exists():
        advisor_id = None if user_sees_all_teams(request.user) else request.user.pk
    return render(
        request,
        "followup/agenda.html",
        {
            "bookings": selectors.agenda_for(user=request.user, advisor_id=advisor_id),
            "advisors": advisors,
            "advisor_id": advisor_id,
        },
    )


@permission_required("followup.view_booking", raise_exception=True)
def booking_view(request, pk: int):
    booking = get_object_or_404(selectors.bookings_visible_to(request.user), pk=pk)
    return render(request, "followup/booking.html", {"booking": booking})


# --- The client's pages (no login; the signed link is the key) ------------------------------------


def _private(response):
    """Personal data behind a secret link: never cached or indexed; the link stays out of Referers."""
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _invalid(request, error: LinkInvalid):
    # A tampered or unknown link is a bad request; an expired one is gone (410).
    status = 410 if error.reason == "expired" else 400
    return _private(render(request, "followup/public/invalid.html", {"reason": error.reason}, status=status))


def _left(message: Message) -> bool:
    """Whether the message reached the point where a client can hold its link. A failure the provider
    reported after sending (a bounce) still may have: the link keeps working, and a click proves it."""
    if message.status in (Message.Status.QUEUED, Message.Status.SUPPRESSED):
        return False
    return message.status != Message.Status.FAILED or message.sent_at is not None


def _public(view):
    """Resolve the token to its message (or the clear invalid page) and speak the client's language."""

    def wrapper(request, token: str, *args, **kwargs):
        try:
            message = message_for_token(token)
        except LinkInvalid as error:
            return _invalid(request, error)
        if not _left(message):
            return _invalid(request, LinkInvalid("invalid"))
        if not request.COOKIES.get("django_language"):
            translation.activate(message.language)
            request.LANGUAGE_CODE = message.language
        return _private(view(request, message, token, *args, **kwargs))

    wrapper.__name__ = view.__name__
    wrapper.__doc__ = view.__doc__
    return login_not_required(wrapper)


def _alerts_of(message):
    return list(message.alerts.select_related("alert_type").order_by("-priority", "id"))


def _done_alert_ids(message) -> set[int]:
    return set(message.responses.values_list("alert_id", flat=True))


@_public
def landing_view(request, message, token):
    """What the message is about, and what the client can do: a self-service flow or a booking."""
    message_track(message=message, event="clicked")
    return render(
        request,
        "followup/public/landing.html",
        {
            "message": message,
            "token": token,
            "alerts": _alerts_of(message),
            "done": _done_alert_ids(message),
            "bookings": message.bookings.filter(status="booked").order_by("starts_at"),
            "self_service": message.call_to_action == CallToAction.SELF_SERVICE
            and message.self_service_flow in FLOW_FORMS,
            "booking": message.call_to_action in (CallToAction.BOOKING, CallToAction.SELF_SERVICE, CallToAction.NONE)
            and message.client.advisor_id is not None,
        },
    )


@_public
def self_service_view(request, message, token, alert_id: int):
    alert = next((a for a in _alerts_of(message) if a.pk == alert_id), None)
    form_class = FLOW_FORMS.get(message.self_service_flow)
    if alert is None or form_class is None:
        return render(request, "followup/public/invalid.html", {"reason": "invalid"}, status=404)
    if alert.pk in _done_alert_ids(message):
        return render(request, "followup/public/thanks.html", {"message": message, "token": token, "already": True})
    form = form_class(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        answers = {k: v for k, v in form.cleaned_data.items() if k != "document"}
        try:
            self_service_complete(
                message=message,
                alert=alert,
                flow_key=message.self_service_flow,
                answers=answers,
                uploaded_file=form.cleaned_data.get("document"),
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return render(request, "followup/public/thanks.html", {"message": message, "token": token})
    return render(
        request,
        "followup/public/self_service.html",
        {
            "message": message,
            "token": token,
            "alert": alert,
            "form": form,
            "flow": message.get_self_service_flow_display(),
        },
    )


@_public
def book_view(request, message, token):
    advisor = message.client.advisor
    if advisor is None:
        return render(request, "followup/public/invalid.html", {"reason": "no_advisor"}, status=404)
    error = None
    if request.method == "POST":
        try:
            starts_at = dt.datetime.fromisoformat(request.POST.get("slot", ""))
            if timezone.is_naive(starts_at):
                raise ValueError
            with transaction.atomic():
                booking = booking_create(message=message, starts_at=starts_at)
        except ValueError:
            error = _("Choose a time.")
        except ValidationError as refused:
            error = refused.messages[0]
        else:
            return render(
                request, "followup/public/booked.html", {"message": message, "booking": booking, "token": token}
            )
    slots = selectors.advisor_free_slots(advisor=advisor)
    days: dict = {}
    for slot in slots:
        days.setdefault(timezone.localtime(slot.starts_at).date(), []).append(slot)
    return render(
        request,
        "followup/public/book.html",
        {"message": message, "token": token, "advisor": advisor, "days": days, "error": error},
    )


# A 43-byte transparent GIF: the open pixel of an HTML email.
PIXEL = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")


@login_not_required
def pixel_view(request, token: str):
    try:
        message = message_for_token(token)
    except LinkInvalid:
        message = None
    if message is not None and _left(message):
        message_track(message=message, event="opened")
    return _private(HttpResponse(PIXEL, content_type="image/gif"))


# --- Providers' delivery reports (no login; the signature decides) --------------------------------


@csrf_exempt
@login_not_required
@require_POST
def delivery_webhook_view(request, provider: str):
    """One delivery report of `provider` (services/delivery.py has the format and the rules)."""
    try:
        news = delivery_report_receive(
            provider=provider,
            body=request.body,
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=request.headers.get(SIGNATURE_HEADER),
        )
    except ReportRejected as rejected:
        if rejected.status == 403:
            logger.warning("delivery report for provider %s refused: %s", provider, rejected.reason)
        return JsonResponse({"error": rejected.reason}, status=rejected.status)
    return JsonResponse({"recorded": news})
