"""What comes back: delivery reports, opens and clicks, completed self-service flows, bookings, calls made.

A response moves the alert forward through the alerts step's own lifecycle services: a completed
self-service flow resolves the alert it answered; a booked meeting or a call that reached the client
starts work on the message's alerts (in progress).
"""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts.models import Alert
from alerts.services import alerts_resolve, alerts_start

from ..models import Booking, CallTask, Message, MessageEvent, SelfServiceResponse
from ..selectors import advisor_free_slots

TRACKED = ("delivered", "failed", "opened", "clicked", "responded")
ENGAGED = ("opened", "clicked", "responded")


def _replaces(event: str, at: dt.datetime) -> Q:
    """The current statuses `event` replaces. The status shows the strongest evidence there is:

    responded > clicked > opened (the client had it, whatever a provider reports later) > the
    provider's latest report, delivered or failed > sent. Between delivered and failed the later
    report wins, whichever arrives first: a bounce after the receiving server accepted an email means
    the client did not get it after all; a delivery after a reported failure means a retry got
    through. A tie counts as failed (the more cautious reading). So the same reports end in the same
    status whatever order they arrive in.
    """
    if event == "delivered":
        return Q(status=Message.Status.SENT) | Q(status=Message.Status.FAILED, failed_at__lt=at)
    if event == "failed":
        return Q(status=Message.Status.SENT) | Q(status=Message.Status.DELIVERED, delivered_at__lte=at)
    rank = Message.STATUS_RANK[event]
    weaker = Q(status__in=[s for s in ("sent", "delivered", *ENGAGED) if Message.STATUS_RANK[s] < rank])
    # A message that left and was reported failed, yet the client opened it: the client has it.
    return weaker | Q(status=Message.Status.FAILED, sent_at__isnull=False)


@transaction.atomic
def message_track(*, message: Message, event: str, at: dt.datetime | None = None, detail: str = "") -> bool:
    """Record delivered/failed/opened/clicked/responded; True when it is news, False for a repeat.

    Each event counts once per message, the first time (a retried webhook, a second click), so
    recording is idempotent. One conditional UPDATE sets the event's time and, in the same statement,
    the status (see `_replaces`), so two reports racing cannot leave a status the rule would not
    give; an event row is added only for news. `detail` is the reason of a failure.
    """
    if event not in TRACKED:
        raise ValueError(event)
    at = at or timezone.now()
    changes = {
        f"{event}_at": at,
        "status": Case(When(_replaces(event, at), then=Value(event)), default=F("status")),
    }
    if event == "failed":
        changes["failure_reason"] = detail
    if event in ("clicked", "responded"):  # clicking implies opening (a plain-text email has no pixel)
        changes["opened_at"] = Coalesce(F("opened_at"), Value(at, output_field=models.DateTimeField()))
    news = Message.objects.filter(pk=message.pk, **{f"{event}_at__isnull": True}).update(**changes)
    if news:
        MessageEvent.objects.create(message_id=message.pk, kind=event, at=at, detail=detail)
    return bool(news)


def _message_alerts(message: Message):
    return Alert.objects.filter(message_links__message=message)


@transaction.atomic
def self_service_complete(
    *, message: Message, alert: Alert, flow_key: str, answers: dict, uploaded_file=None
) -> SelfServiceResponse:
    """Store the client's answers once and resolve the alert they answered."""
    if not _message_alerts(message).filter(pk=alert.pk).exists():
        raise ValidationError(_("This alert does not belong to the link."))
    try:
        with transaction.atomic():
            response = SelfServiceResponse.objects.create(
                message=message,
                alert=alert,
                client_id=message.client_id,
                flow_key=flow_key,
                answers=answers,
                uploaded_file=uploaded_file or "",
            )
    except IntegrityError as error:
        raise ValidationError(_("You already completed this form. Thank you!"), code="done") from error
    message_track(message=message, event="responded", detail=flow_key)
    summary = ", ".join(f"{key}: {value}" for key, value in answers.items() if value not in (None, ""))
    alerts_resolve(
        alerts=Alert.objects.filter(pk=alert.pk),
        user=None,
        reason=_("The client completed the self-service flow (%(answers)s).") % {"answers": summary or flow_key},
    )
    return response


@transaction.atomic
def booking_create(*, message: Message, starts_at: dt.datetime) -> Booking:
    """Book a free slot of the client's advisor; the booking lands on the agenda and on the alert."""
    client = message.client
    advisor = client.advisor
    if advisor is None:
        raise ValidationError(_("No advisor to book with; please call us."))
    slots = {slot.starts_at: slot for slot in advisor_free_slots(advisor=advisor)}
    slot = slots.get(starts_at)
    if slot is None:
        raise ValidationError(_("This time is no longer free. Please choose another."), code="taken")
    alert = _message_alerts(message).order_by("-priority", "id").first()
    try:
        with transaction.atomic():
            booking = Booking.objects.create(
                client=client,
                advisor=advisor,
                team_id=client.team_id,
                alert=alert,
                message=message,
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
            )
    except IntegrityError as error:  # someone else took the slot a moment ago
        raise ValidationError(_("This time is no longer free. Please choose another."), code="taken") from error
    message_track(message=message, event="responded", detail=f"booking {booking.pk}")
    alerts_start(alerts=_message_alerts(message), user=None)
    return booking


@transaction.atomic
def call_task_complete(*, task: CallTask, outcome: str, note: str, user) -> CallTask:
    """The caller's result: reached the client (alerts in progress) or no answer (stays in the queue)."""
    if outcome not in (CallTask.Outcome.REACHED, CallTask.Outcome.NO_ANSWER):
        raise ValidationError(_("Choose an outcome."))
    task.outcome, task.note = outcome, note
    if outcome == CallTask.Outcome.REACHED:
        task.done_at, task.done_by = timezone.now(), user
    task.save(update_fields=["outcome", "note", "done_at", "done_by"])
    MessageEvent.objects.create(message=task.message, kind=f"call_{outcome}", detail=note[:500])
    if outcome == CallTask.Outcome.REACHED:
        message_track(message=task.message, event="delivered")
        message_track(message=task.message, event="responded", detail=_("reached by phone"))
        alerts_start(alerts=_message_alerts(task.message), user=user)
    return task
