"""Sending one queued message, exactly once, whatever workers die or tasks are retried.

The row is the lock (the healthchecks way): each step is a conditional UPDATE that commits before
the next, and no transaction is held open around the provider call.

1. **Claim**: `UPDATE ... SET claimed_at, claim_token WHERE status = 'queued' AND due AND
   provider_call_started_at IS NULL AND (unclaimed OR claimed by this same task OR the claim's lease
   ran out)`. A retried Celery task keeps its id, so it may take its own claim back at once.
2. **Checks** at the moment of sending: the client's opt-out and consent for the purpose and channel
   (suppressed), quiet hours and the frequency cap (deferred: the claim is released with a later
   `send_after`).
3. **Mark the provider call**: `SET provider_call_started_at WHERE claim_token = mine AND
   provider_call_started_at IS NULL`. From here on the message may have left.
4. **Call the provider** with the idempotency key, then **record the outcome** (sent + reference, or
   failed + reason).

A task that finds a message whose provider call started but has no outcome (the worker died in
step 4) never calls the provider blindly: it asks the backend (`lookup`). The provider has it: record
sent. Certainly not: send. Cannot tell (SMTP): failed, "outcome unknown", for a person to check.
"""

import datetime as dt
import logging

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from clients.models import Channel, Purpose
from trust.privacy import consent_recorded

from .. import conf
from ..channels import UNKNOWN, ProviderError, channel_backend
from ..links import link_url
from ..models import PUSH_CHANNELS, ClientContactRules, Message, MessageEvent

logger = logging.getLogger(__name__)

SENT, SKIPPED, DEFERRED, SUPPRESSED, FAILED, RETRY, RECOVERED = (
    "sent",
    "skipped",
    "deferred",
    "suppressed",
    "failed",
    "retry",
    "recovered",
)
QUIET_CHANNELS = ("email", "sms", "whatsapp", "push", "phone")
RETRY_AFTER = dt.timedelta(minutes=10)


def _event(message_id: int, kind: str, detail: str = "", at: dt.datetime | None = None) -> None:
    MessageEvent.objects.create(message_id=message_id, kind=kind, detail=detail, at=at or timezone.now())


def message_claim(*, message_id: int, claim_token: str, now: dt.datetime) -> bool:
    """Step 1: take the message for this task; False if it is not ours to send."""
    lease_over = now - conf.claim_lease()
    return bool(
        Message.objects.filter(
            pk=message_id, status=Message.Status.QUEUED, send_after__lte=now, provider_call_started_at__isnull=True
        )
        .filter(Q(claimed_at__isnull=True) | Q(claim_token=claim_token) | Q(claimed_at__lt=lease_over))
        .update(claimed_at=now, claim_token=claim_token, attempts=F("attempts") + 1)
    )


def _suppression_reason(message: Message, rules: ClientContactRules | None) -> str:
    """Why this message may not go now ("" = it may): an opt-out, or no consent for its purpose and
    channel (trust.privacy's rule, the single one; consent withdrawn after planning counts)."""
    if rules and rules.opted_out:
        return _("The client opted out of all follow-up.")
    if not consent_recorded(client_id=message.client_id, purpose=message.purpose, channel=message.channel):
        return _("No consent for %(purpose)s through %(channel)s.") % {
            "purpose": _label(Purpose, message.purpose),
            "channel": _label(Channel, message.channel),
        }
    return ""


def _quiet_until(message: Message, rules: ClientContactRules | None, now: dt.datetime) -> dt.datetime | None:
    """The end of the quiet hours if now is inside them (they may run past midnight), else None."""
    if message.channel not in QUIET_CHANNELS or not message.is_push:
        return None
    start, end = conf.quiet_hours()
    if rules and rules.quiet_hours_start and rules.quiet_hours_end:
        start, end = rules.quiet_hours_start, rules.quiet_hours_end
    if start == end:  # no quiet hours
        return None
    local = timezone.localtime(now)
    time = local.time()
    inside = (start <= time < end) if start < end else (time >= start or time < end)
    if not inside:
        return None
    day = local.date() if time < end else local.date() + dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(day, end), timezone.get_current_timezone())


def _cap_until(message: Message, rules: ClientContactRules | None, now: dt.datetime) -> dt.datetime | None:
    """When the client may have another push message, if the last 7 days hold their maximum already."""
    if not message.is_push:
        return None
    cap = (
        rules.max_messages_per_week
        if rules and rules.max_messages_per_week is not None
        else conf.max_messages_per_week()
    )
    recent = list(
        Message.objects.filter(
            client_id=message.client_id,
            channel__in=PUSH_CHANNELS,
            delivery="direct",
            sent_at__gt=now - dt.timedelta(days=7),
        )
        .exclude(pk=message.pk)
        .order_by("sent_at")
        .values_list("sent_at", flat=True)
    )
    if len(recent) < cap:
        return None
    return recent[len(recent) - cap] + dt.timedelta(days=7)


def _release(message: Message, *, claim_token: str, until: dt.datetime, kind: str, detail: str) -> None:
    Message.objects.filter(pk=message.pk, claim_token=claim_token, provider_call_started_at__isnull=True).update(
        send_after=until, claimed_at=None, claim_token=""
    )
    _event(message.pk, kind, detail)


def _finish(message: Message, *, status: str, reason: str, now: dt.datetime) -> None:
    fields = {"status": status, "failure_reason": reason}
    if status == Message.Status.FAILED:
        fields["failed_at"] = now
    Message.objects.filter(pk=message.pk, status=Message.Status.QUEUED).update(**fields)
    _event(message.pk, status, reason, now)


def message_mark_provider_call(*, message_id: int, claim_token: str, now: dt.datetime) -> bool:
    """Step 3: from here on the message may have left; a retry must ask the provider first."""
    return bool(
        Message.objects.filter(
            pk=message_id, status=Message.Status.QUEUED, claim_token=claim_token, provider_call_started_at__isnull=True
        ).update(provider_call_started_at=now)
    )


@transaction.atomic
def message_record_sent(*, message_id: int, reference: str, now: dt.datetime, detail: str = "") -> None:
    """Step 4's outcome: the provider has it (status and event in one commit)."""
    Message.objects.filter(pk=message_id, status=Message.Status.QUEUED).update(
        status=Message.Status.SENT, sent_at=now, provider_reference=reference[:200]
    )
    _event(message_id, "sent", detail or reference, now)


def _links(message: Message) -> dict[str, str]:
    return {
        "landing": link_url(message),
        "open_pixel": link_url(message, name="followup_public:pixel") if message.channel == "email" else "",
    }


def _call_provider(message: Message, *, claim_token: str, now: dt.datetime) -> str:
    if not message_mark_provider_call(message_id=message.pk, claim_token=claim_token, now=now):
        return SKIPPED  # another worker took over (our lease ran out)
    try:
        reference = channel_backend(message.channel).send(message, links=_links(message))
    except ProviderError as error:
        if error.permanent:
            _finish(message, status=Message.Status.FAILED, reason=error.reason, now=now)
            return FAILED
        # The provider said no: nothing left, so the message may go again later.
        Message.objects.filter(pk=message.pk, claim_token=claim_token).update(
            provider_call_started_at=None, claimed_at=None, claim_token="", send_after=now + RETRY_AFTER
        )
        _event(message.pk, "retry", error.reason, now)
        return RETRY
    message_record_sent(message_id=message.pk, reference=reference, now=now)
    return SENT


def _reconcile(message: Message, *, claim_token: str, now: dt.datetime) -> str:
    """A provider call started and never reported back: ask the provider rather than send again."""
    Message.objects.filter(pk=message.pk, status=Message.Status.QUEUED).update(claim_token=claim_token, claimed_at=now)
    known = channel_backend(message.channel).lookup(message)
    if known is UNKNOWN:
        _finish(
            message,
            status=Message.Status.FAILED,
            reason=_(
                "The worker stopped during the provider call and the provider cannot say whether the message "
                "left; it was not sent again to avoid a duplicate. Check with the provider."
            ),
            now=now,
        )
        return FAILED
    if known:
        message_record_sent(message_id=message.pk, reference=known, now=now, detail=_("recovered after a retry"))
        return RECOVERED
    # Certainly not sent: start the provider call again under our claim.
    Message.objects.filter(pk=message.pk, status=Message.Status.QUEUED).update(provider_call_started_at=None)
    _event(message.pk, "retry", _("the provider never received it; sending again"), now)
    return _call_provider(message, claim_token=claim_token, now=now)


def message_send(*, message_id: int, claim_token: str, now: dt.datetime | None = None) -> str:
    """Send one message if it is due and still ours to send; returns what happened (see module doc).

    Not atomic on purpose: each step's UPDATE must be committed before the provider is called.
    """
    now = now or timezone.now()
    if not message_claim(message_id=message_id, claim_token=claim_token, now=now):
        message = Message.objects.select_related("client").filter(pk=message_id).first()
        lease_over = now - conf.claim_lease()
        if (
            message is not None
            and message.status == Message.Status.QUEUED
            and message.provider_call_started_at is not None
            and (message.claim_token == claim_token or (message.claimed_at and message.claimed_at < lease_over))
        ):
            return _reconcile(message, claim_token=claim_token, now=now)
        return SKIPPED
    message = Message.objects.select_related("client", "client__advisor").get(pk=message_id)
    rules = ClientContactRules.objects.filter(client_id=message.client_id).first()
    reason = _suppression_reason(message, rules)
    if reason:
        _finish(message, status=Message.Status.SUPPRESSED, reason=reason, now=now)
        return SUPPRESSED
    quiet = _quiet_until(message, rules, now)
    if quiet:
        _release(message, claim_token=claim_token, until=quiet, kind="deferred", detail=_("quiet hours"))
        return DEFERRED
    capped = _cap_until(message, rules, now)
    if capped:
        _release(message, claim_token=claim_token, until=capped, kind="deferred", detail=_("frequency cap"))
        return DEFERRED
    return _call_provider(message, claim_token=claim_token, now=now)


def messages_due(*, now: dt.datetime | None = None) -> list[int]:
    """Queued messages a sender should look at: due and unclaimed, or claimed by a worker long gone."""
    now = now or timezone.now()
    lease_over = now - conf.claim_lease()
    return list(
        Message.objects.filter(status=Message.Status.QUEUED, send_after__lte=now)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=lease_over))
        .order_by("send_after", "id")
        .values_list("pk", flat=True)
    )


def messages_due_enqueue(*, now: dt.datetime | None = None) -> int:
    """The reconciler (settings.STEWARD_RECONCILERS): after Redis lost its queue, send what is due again.

    Enqueuing a message twice is harmless: the claim lets one task send it.
    """
    from ..tasks import send_message

    due = messages_due(now=now)
    for message_id in due:
        send_message.delay(message_id)
    return len(due)


def _label(choices, value: str) -> str:
    """The translated label of a stored choice, or the value itself when it is no longer a choice."""
    try:
        return str(choices(value).label)
    except ValueError:
        return value
