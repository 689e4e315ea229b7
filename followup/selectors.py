"""Follow-up's reads: free slots, call queues and agendas per team, the preview, the outbox, and
what the client and alert pages show of follow-up (through settings hooks; those apps never import
this one)."""

import datetime as dt
import email
import email.policy
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.selectors import user_sees_all_teams
from alerts.models import Quadrant

from . import conf
from .models import AdvisorAvailability, Booking, CallTask, Message, MessageEvent, Playbook

QUADRANT_ORDER = [
    Quadrant.URGENT_SENSITIVE,
    Quadrant.URGENT_ROUTINE,
    Quadrant.LATER_SENSITIVE,
    Quadrant.LATER_ROUTINE,
]
TIMELINE_LENGTH = 20


def _team_scoped(queryset: QuerySet, user) -> QuerySet:
    if user_sees_all_teams(user):
        return queryset
    if not user.team_id:
        return queryset.none()
    return queryset.filter(team_id=user.team_id)


# --- Playbooks ------------------------------------------------------------------------------------


def playbooks_by_quadrant() -> list[dict]:
    """The playbooks page: most urgent and advice-sensitive quadrant first, each in its order."""
    playbooks = Playbook.objects.select_related("alert_type", "updated_by").prefetch_related("steps")
    grouped = defaultdict(list)
    for playbook in playbooks.order_by("position", "id"):
        grouped[playbook.quadrant].append(playbook)
    return [{"quadrant": q, "label": Quadrant(q).label, "playbooks": grouped.get(q, [])} for q in QUADRANT_ORDER]


@dataclass
class ChannelPreview:
    channel: str
    label: str
    now: int
    later_this_week: int
    queued: int

    @property
    def total(self) -> int:
        return self.now + self.later_this_week + self.queued


def dispatch_preview(*, now: dt.datetime | None = None) -> dict:
    """How many messages each channel would send in the coming week: new ones and those already queued."""
    from clients.models import Channel

    from .services.planning import dispatch_plan

    now = now or timezone.now()
    week = now + dt.timedelta(days=7)
    plan = dispatch_plan(now=now)
    new_now, new_later = defaultdict(int), defaultdict(int)
    for message in plan.messages:
        if message.send_after <= now:
            new_now[message.channel] += 1
        elif message.send_after <= week:
            new_later[message.channel] += 1
    queued = dict(
        Message.objects.filter(status=Message.Status.QUEUED, send_after__lte=week)
        .values_list("channel")
        .annotate(n=Count("id"))
    )
    rows = [
        ChannelPreview(channel, label, new_now[channel], new_later[channel], queued.get(channel, 0))
        for channel, label in Channel.choices
    ]
    return {
        "rows": [row for row in rows if row.total],
        "alerts": plan.alerts_considered,
        "alerts_bundled": sum(len(m.alert_ids) for m in plan.messages),
        "messages": len(plan.messages),
        "without_consent": plan.without_consent,
        "opted_out": plan.opted_out,
    }


# --- Availability and bookings --------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    starts_at: dt.datetime
    ends_at: dt.datetime


def advisor_free_slots(*, advisor, days: int = 14, now: dt.datetime | None = None) -> list[Slot]:
    """The advisor's weekly hours over the coming `days`, cut into meetings, minus what is booked.

    Two queries whatever the number of days: the weekly hours and the bookings in the window.
    Slots start at least two hours from now, so the advisor can prepare.
    """
    now = now or timezone.now()
    earliest = now + dt.timedelta(hours=2)
    tz = timezone.get_current_timezone()
    hours = list(AdvisorAvailability.objects.filter(advisor=advisor))
    if not hours:
        return []
    start_day = timezone.localtime(now).date()
    end = timezone.make_aware(dt.datetime.combine(start_day + dt.timedelta(days=days + 1), dt.time()), tz)
    booked = set(
        Booking.objects.filter(
            advisor=advisor, status=Booking.Status.BOOKED, starts_at__gte=now - dt.timedelta(days=1), starts_at__lt=end
        ).values_list("starts_at", flat=True)
    )
    slots = []
    for offset in range(days + 1):
        day = start_day + dt.timedelta(days=offset)
        for window in hours:
            if window.weekday != day.weekday():
                continue
            cursor = timezone.make_aware(dt.datetime.combine(day, window.start_time), tz)
            window_end = timezone.make_aware(dt.datetime.combine(day, window.end_time), tz)
            length = dt.timedelta(minutes=window.slot_minutes)
            while cursor + length <= window_end:
                if cursor >= earliest and cursor not in booked:
                    slots.append(Slot(cursor, cursor + length))
                cursor += length
    return sorted(slots, key=lambda slot: slot.starts_at)


def bookings_visible_to(user) -> QuerySet[Booking]:
    return _team_scoped(Booking.objects.all(), user).select_related("client", "advisor", "alert__alert_type")


def agenda_for(*, user, advisor_id: int | None = None, now: dt.datetime | None = None) -> list[Booking]:
    """Upcoming bookings (from today), each with the client's agenda items (meeting-channel messages)."""
    now = now or timezone.now()
    today = timezone.make_aware(dt.datetime.combine(timezone.localdate(now), dt.time()))
    bookings = bookings_visible_to(user).filter(status=Booking.Status.BOOKED, starts_at__gte=today)
    if advisor_id:
        bookings = bookings.filter(advisor_id=advisor_id)
    elif not user_sees_all_teams(user):
        bookings = bookings.filter(advisor=user)  # an advisor's own agenda; ?advisor= shows a colleague's
    bookings = list(bookings.order_by("starts_at")[:200])
    client_ids = {b.client_id for b in bookings}
    items = defaultdict(list)
    for message in (
        Message.objects.filter(client_id__in=client_ids, channel="meeting", status=Message.Status.SENT)
        .prefetch_related("alerts__alert_type")
        .order_by("queued_at")
    ):
        items[message.client_id].append(message)
    for booking in bookings:
        booking.agenda_items = items.get(booking.client_id, [])
    return bookings


def call_queue_for(*, user, show_done: bool = False) -> QuerySet[CallTask]:
    """The calls this user may see: back office's and every advisor's of their team (advisors: their own team)."""
    tasks = (
        _team_scoped(CallTask.objects.all(), user)
        .select_related("message__client", "assigned_to", "done_by")
        .prefetch_related("message__alerts__alert_type")
    )
    if not show_done:
        tasks = tasks.exclude(outcome=CallTask.Outcome.REACHED)
    return tasks.order_by("created_at", "id")


# --- The demo outbox ------------------------------------------------------------------------------


@dataclass
class OutboxEmail:
    key: str
    to: str
    subject: str
    date: str
    body: str


def outbox_emails(*, limit: int = 200) -> list[OutboxEmail]:
    """The emails the demo's outbox backend wrote, newest first (the demo's stand-in for a mail client)."""
    folder = conf.outbox_dir()
    if not folder.exists():
        return []
    files = sorted(folder.glob("*.eml"), key=lambda path: path.stat().st_mtime, reverse=True)[:limit]
    return [outbox_email_read(path.stem) for path in files]


def outbox_email_read(key: str) -> OutboxEmail | None:
    if not key.isalnum():
        return None
    path = conf.outbox_dir() / f"{key}.eml"
    if not path.exists():
        return None
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    part = parsed.get_body(preferencelist=("plain",))
    return OutboxEmail(
        key=key,
        to=str(parsed.get("To", "")),
        subject=str(parsed.get("Subject", "")),
        date=str(parsed.get("Date", "")),
        body=part.get_content() if part else "",
    )


# --- What other pages show (settings hooks) ------------------------------------------------------


def client_timeline_panel(*, client, user) -> dict:
    """For the 360° page's contact timeline (STEWARD_CLIENT_TIMELINE_PANELS): this client's messages."""
    messages = list(
        Message.objects.filter(client_id=client.pk)
        .prefetch_related(
            "alerts__alert_type",
            Prefetch("events", queryset=MessageEvent.objects.order_by("at", "id")),
        )
        .order_by("-queued_at", "-id")[:TIMELINE_LENGTH]
    )
    return {"template": "followup/_client_timeline.html", "messages": messages, "title": _("Follow-up messages")}


def alert_followup_panel(*, alert, user) -> dict:
    """For the alert page (STEWARD_ALERT_PANELS): the messages that served it and its bookings."""
    messages = list(alert.followup_messages.order_by("-queued_at"))
    bookings = list(alert.followup_bookings.select_related("advisor").order_by("starts_at"))
    responses = list(alert.followup_responses.order_by("-completed_at"))
    return {
        "template": "followup/_alert_panel.html",
        "messages": messages,
        "bookings": bookings,
        "responses": responses,
    }


def template_preview_context(*, client) -> dict:
    """The context a message to this client would get now (their live alerts), for the editor's preview."""
    from alerts.models import Alert

    from .context import template_context

    alerts = Alert.objects.filter(client=client, status__in=Alert.LIVE_STATUSES).select_related("alert_type")
    advisor = client.advisor
    return template_context(
        client={
            "first_name": client.first_name,
            "last_name_prefix": client.last_name_prefix,
            "last_name": client.last_name,
        },
        advisor={"name": (advisor.get_full_name() or advisor.username) if advisor else ""},
        alerts=[{"type": a.alert_type.name, "message": a.message, "due_date": a.due_date} for a in alerts[:20]],
        link=f"{conf.site_url()}/c/preview/",
        call_to_action="booking",
    )
