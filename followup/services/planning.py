"""Dispatch planning: which live alerts become which messages, set-based.

One query fetches the alerts no message has served yet in the quadrants that have playbooks (with
the client and advisor fields the message needs), one the consents of those clients, one their own
contact rules, one the templates. The rest is grouping in memory: each alert follows the first
matching playbook (top-down), takes the first step whose channel the client consents to for the
playbook's purpose (their preferred channel first), and alerts of one household that go out through
the same channel are bundled into one message. No query per client.

An open alert whose messages all got no response for a week (`STEWARD_FOLLOWUP_REMINDER_AFTER_DAYS`)
is planned again, through the playbook's next channel the client consents to: the steps after the
last one used, never a channel used before. After the last step, the playbook has run its course.

Queuing is idempotent: a message's key is a hash of its channel and its alerts, and the database
refuses a second message for the same alert through the same channel (MessageAlert's constraint).
"""

import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts.models import Alert
from trust.privacy import consents_granted

from .. import conf
from ..context import default_template, template_context
from ..models import (
    ClientContactRules,
    Message,
    MessageAlert,
    MessageEvent,
    MessageTemplate,
    Playbook,
    PlaybookStep,
)
from ..templating import TemplateError, message_render

ALERT_FIELDS = (
    "id",
    "client_id",
    "alert_type_id",
    "alert_type__name",
    "segment",
    "quadrant",
    "priority",
    "due_date",
    "message",
    "client__household_id",
    "client__segment",
    "client__team_id",
    "client__first_name",
    "client__last_name_prefix",
    "client__last_name",
    "client__email",
    "client__phone",
    "client__street",
    "client__house_number",
    "client__house_number_suffix",
    "client__postcode",
    "client__city",
    "client__advisor__first_name",
    "client__advisor__last_name",
    "client__advisor__username",
)
PLANNING_LOCK = 0x5745_4157  # pg_advisory_xact_lock key: one planner at a time


@dataclass
class PlannedMessage:
    key: str
    client_id: int
    team_id: int
    channel: str
    delivery: str
    handled_by: str
    purpose: str
    playbook_id: int
    call_to_action: str
    self_service_flow: str
    language: str
    recipient: str
    send_after: dt.datetime
    alert_ids: list[int]
    rows: list[dict] = field(default_factory=list)
    reminder: bool = False  # serves an alert earlier messages got no response to


@dataclass
class DispatchPlan:
    messages: list[PlannedMessage]
    alerts_considered: int = 0
    without_consent: int = 0
    opted_out: int = 0

    def count_by_channel(self, *, until: dt.datetime) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for message in self.messages:
            if message.send_after <= until:
                counts[message.channel] += 1
        return dict(counts)


def _playbook_for(row: dict, playbooks: list[Playbook]) -> Playbook | None:
    for playbook in playbooks:
        if playbook.quadrant != row["quadrant"]:
            continue
        if playbook.alert_type_id and playbook.alert_type_id != row["alert_type_id"]:
            continue
        if playbook.segment and playbook.segment not in (row["client__segment"], row["segment"]):
            continue
        return playbook
    return None


def _steps_after(steps: list[PlaybookStep], used: set[str]) -> list[PlaybookStep]:
    """A reminder's candidates: the steps after the last one already used, minus channels already used."""
    last = max((i for i, step in enumerate(steps) if step.channel in used), default=-1)
    return [step for step in steps[last + 1 :] if step.channel not in used]


def _step_for(steps: list[PlaybookStep], consents: dict[str, bool]) -> PlaybookStep | None:
    """The client's preferred channel among the steps they consent to, else the first such step."""
    allowed = [step for step in steps if step.channel in consents]
    preferred = [step for step in allowed if consents[step.channel]]
    return (preferred or allowed or [None])[0]


def _send_after(delivery: str, now: dt.datetime) -> dt.datetime:
    """Direct: now. Collective mailing: next Monday 09:00. Newsletter: the 1st of next month, 09:00."""
    local = timezone.localtime(now)
    if delivery == PlaybookStep.Delivery.MAILING:
        day = local.date() + dt.timedelta(days=(7 - local.weekday()) % 7 or 7)
    elif delivery == PlaybookStep.Delivery.NEWSLETTER:
        day = (local.date().replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    else:
        return now
    return timezone.make_aware(dt.datetime.combine(day, dt.time(9, 0)))


def _recipient(channel: str, row: dict) -> str:
    if channel == "email":
        return row["client__email"] or ""
    if channel in ("sms", "whatsapp", "phone"):
        return row["client__phone"] or ""
    if channel == "letter":
        if not (row["client__street"] and row["client__postcode"]):
            return ""
        name = " ".join(
            p for p in (row["client__first_name"], row["client__last_name_prefix"], row["client__last_name"]) if p
        )
        number = f"{row['client__house_number'] or ''}{row['client__house_number_suffix'] or ''}"
        return f"{name}\n{row['client__street']} {number}\n{row['client__postcode']} {row['client__city'] or ''}"
    return ""


def message_key(*, channel: str, delivery: str, handled_by: str, alert_ids: list[int]) -> str:
    text = f"{channel}|{delivery}|{handled_by}|{','.join(str(pk) for pk in sorted(alert_ids))}"
    return hashlib.sha256(text.encode()).hexdigest()


def alerts_to_plan():
    """Open alerts in a quadrant, not served by any message yet."""
    return Alert.objects.filter(status=Alert.Status.OPEN).exclude(
        Exists(MessageAlert.objects.filter(alert=OuterRef("pk")))
    )


def alerts_to_remind(*, now: dt.datetime):
    """Open alerts whose follow-up got no response: served by messages that all left (or were queued)
    at least `conf.reminder_after()` ago, none still waiting and none answered. They go out again
    through the playbook's next channel (see `dispatch_plan`). None when reminders are off."""
    after = conf.reminder_after()
    if not after:
        return Alert.objects.none()
    cutoff = now - after
    served = MessageAlert.objects.filter(alert=OuterRef("pk"))
    recent_or_answered = served.filter(
        Q(message__status=Message.Status.QUEUED)
        | Q(message__responded_at__isnull=False)
        | Q(message__sent_at__gt=cutoff)
        | Q(message__sent_at__isnull=True, message__queued_at__gt=cutoff)
    )
    return Alert.objects.filter(status=Alert.Status.OPEN).filter(Exists(served)).exclude(Exists(recent_or_answered))


def dispatch_plan(*, now: dt.datetime | None = None) -> DispatchPlan:
    """What dispatch would queue now (nothing is written): the preview and the first half of a run."""
    now = now or timezone.now()
    playbooks = list(Playbook.objects.filter(is_active=True).prefetch_related("steps").order_by("position", "id"))
    if not playbooks:
        return DispatchPlan(messages=[])
    quadrants = {p.quadrant for p in playbooks}
    fresh = alerts_to_plan().filter(quadrant__in=quadrants)
    reminders = alerts_to_remind(now=now).filter(quadrant__in=quadrants)
    rows = list(fresh.values(*ALERT_FIELDS).order_by("-priority", "due_date", "id"))
    reminder_rows = list(reminders.values(*ALERT_FIELDS).order_by("-priority", "due_date", "id"))
    plan = DispatchPlan(messages=[], alerts_considered=len(rows) + len(reminder_rows))
    if not rows and not reminder_rows:
        return plan
    # The channels each reminded alert has had already (the next channel is a new one).
    used: dict[int, set[str]] = defaultdict(set)
    if reminder_rows:
        for alert_id, channel in MessageAlert.objects.filter(alert__in=Subquery(reminders.values("pk"))).values_list(
            "alert_id", "channel"
        ):
            used[alert_id].add(channel)
    client_ids = Subquery((fresh | reminders).values("client_id"))
    consents: dict[tuple[int, str], dict[str, bool]] = defaultdict(dict)
    # Consent as trust.privacy defines it (the same rule the last check before sending asks).
    for client_id, purpose, channel, preferred in (
        consents_granted().filter(client_id__in=client_ids).values_list("client_id", "purpose", "channel", "preferred")
    ):
        consents[(client_id, purpose)][channel] = preferred
    rules = {
        r["client_id"]: r
        for r in ClientContactRules.objects.filter(client_id__in=client_ids).values(
            "client_id", "opted_out", "language"
        )
    }

    groups: dict[tuple, PlannedMessage] = {}
    for row in [*rows, *reminder_rows]:
        playbook = _playbook_for(row, playbooks)
        if playbook is None:
            continue
        rule = rules.get(row["client_id"], {})
        if rule.get("opted_out"):
            plan.opted_out += 1
            continue
        steps = list(playbook.steps.all())
        reminder = row["id"] in used
        if reminder:
            steps = _steps_after(steps, used[row["id"]])
        step = _step_for(steps, consents.get((row["client_id"], playbook.purpose), {}))
        if step is None:
            if not reminder:  # a reminder without a next channel: the playbook has run its course
                plan.without_consent += 1
            continue
        household = row["client__household_id"]
        group_key = (
            f"h{household}" if household else f"c{row['client_id']}",
            step.channel,
            step.delivery,
            step.handled_by,
        )
        planned = groups.get(group_key)
        if planned is None:  # the first (most important) alert of the group decides recipient and playbook
            planned = groups[group_key] = PlannedMessage(
                key="",
                client_id=row["client_id"],
                team_id=row["client__team_id"],
                channel=step.channel,
                delivery=step.delivery,
                handled_by=step.handled_by if step.channel == "phone" else "",
                purpose=playbook.purpose,
                playbook_id=playbook.pk,
                call_to_action=playbook.call_to_action,
                self_service_flow=playbook.self_service_flow,
                language=rule.get("language") or conf.default_language(),
                recipient=_recipient(step.channel, row),
                send_after=_send_after(step.delivery, now),
                alert_ids=[],
            )
        planned.reminder = planned.reminder or reminder
        planned.alert_ids.append(row["id"])
        planned.rows.append(row)
    for planned in groups.values():
        planned.key = message_key(
            channel=planned.channel,
            delivery=planned.delivery,
            handled_by=planned.handled_by,
            alert_ids=planned.alert_ids,
        )
    plan.messages = list(groups.values())
    return plan


def _templates() -> dict[tuple[str, str, int | None], MessageTemplate]:
    return {(t.channel, t.language, t.playbook_id): t for t in MessageTemplate.objects.all()}


def _render(planned: PlannedMessage, templates: dict, link: str) -> tuple[str, str, str]:
    """(subject, body, note): the playbook's template, else the channel's, else the built-in text."""
    first = planned.rows[0]
    advisor_name = " ".join(
        p for p in (first["client__advisor__first_name"], first["client__advisor__last_name"]) if p
    ) or (first["client__advisor__username"] or "")
    context = template_context(
        client={
            "first_name": first["client__first_name"],
            "last_name_prefix": first["client__last_name_prefix"],
            "last_name": first["client__last_name"],
        },
        advisor={"name": advisor_name},
        alerts=[
            {"type": r["alert_type__name"], "message": r["message"], "due_date": r["due_date"]} for r in planned.rows
        ],
        link=link,
        call_to_action=planned.call_to_action,
    )
    template = templates.get((planned.channel, planned.language, planned.playbook_id)) or templates.get(
        (planned.channel, planned.language, None)
    )
    note = ""
    if template is not None:
        try:
            subject = message_render(template.subject, context) if template.subject else ""
            return " ".join(subject.split())[:300], message_render(template.body, context), note
        except TemplateError as error:
            note = f"template {template.pk} failed, built-in text used: {error.messages[0]}"
    subject, body = default_template(planned.channel, planned.language)
    return " ".join(message_render(subject, context).split())[:300], message_render(body, context), note


@transaction.atomic
def dispatch_queue(*, now: dt.datetime | None = None) -> list[int]:
    """Plan and write the messages (queued). Returns the ids of new messages. Safe to run twice."""
    from ..links import link_url

    now = now or timezone.now()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PLANNING_LOCK])
    plan = dispatch_plan(now=now)
    if not plan.messages:
        return []
    templates = _templates()
    new_messages, notes = [], {}
    for planned in plan.messages:
        message = Message(
            client_id=planned.client_id,
            team_id=planned.team_id,
            channel=planned.channel,
            delivery=planned.delivery,
            handled_by=planned.handled_by,
            purpose=planned.purpose,
            playbook_id=planned.playbook_id,
            call_to_action=planned.call_to_action,
            self_service_flow=planned.self_service_flow,
            language=planned.language,
            recipient=planned.recipient,
            queued_at=now,
            send_after=planned.send_after,
            idempotency_key=planned.key,
        )
        message.subject, message.body, notes[planned.key] = _render(planned, templates, link_url(message))
        if planned.reminder:
            reminder_note = _("reminder: no response to the earlier message")
            notes[planned.key] = " ".join(filter(None, [reminder_note, notes[planned.key]]))
        new_messages.append(message)
    Message.objects.bulk_create(new_messages, ignore_conflicts=True)
    ids = dict(
        Message.objects.filter(idempotency_key__in=[m.key for m in plan.messages], queued_at=now).values_list(
            "idempotency_key", "id"
        )
    )
    MessageAlert.objects.bulk_create(
        [
            MessageAlert(message_id=ids[planned.key], alert_id=alert_id, channel=planned.channel)
            for planned in plan.messages
            if planned.key in ids
            for alert_id in planned.alert_ids
        ],
        ignore_conflicts=True,
    )
    # A message whose alerts another planner took meanwhile serves nothing: drop it.
    Message.objects.filter(pk__in=ids.values()).exclude(
        Exists(MessageAlert.objects.filter(message=OuterRef("pk")))
    ).delete()
    kept = list(Message.objects.filter(pk__in=ids.values()).values_list("pk", "idempotency_key"))
    MessageEvent.objects.bulk_create(
        MessageEvent(message_id=pk, at=now, kind="queued", detail=notes.get(key, "")) for pk, key in kept
    )
    return [pk for pk, _key in kept]
