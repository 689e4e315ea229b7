"""Follow-up: what happens with the alerts of each part of the canvas, and every message it sends.

A `Playbook` says, per quadrant (optionally per alert type or segment), through which channels the
client hears of an alert and what they are asked to do. Dispatch turns live alerts into `Message`
rows (one per client or household and channel, bundling that client's alerts), claims each row with
a conditional UPDATE before it calls a provider, and records the outcome, so a retried task never
sends twice. Responses (a completed self-service flow, a booking) move the alert forward.

Names and fields of Playbook, PlaybookStep, PlaybookChange, Message, MessageAlert, Booking and
SelfServiceResponse are a contract other apps (insights) read: add fields, never rename.
"""

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from alerts.models import Alert, AlertType, Quadrant
from clients.models import Channel, Client, Purpose


class CallToAction(models.TextChoices):
    SELF_SERVICE = "self_service", _("Self-service flow")
    BOOKING = "booking", _("Book a meeting with the advisor")
    NONE = "none", _("No call to action")


class SelfServiceFlow(models.TextChoices):
    """The short guided forms a client can complete from a link (see followup/flows.py)."""

    FIXED_RATE_PERIOD = "fixed_rate_period", _("Choose a new fixed-interest period")
    CONFIRM_POLICY = "confirm_policy", _("Confirm or upload a policy")
    CONFIRM_DETAILS = "confirm_details", _("Confirm that your details are still right")


# Push channels reach the client now; passive ones wait for the client (agenda, portal, mailings).
PUSH_CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.WHATSAPP, Channel.PUSH, Channel.LETTER, Channel.PHONE)
PASSIVE_CHANNELS = (Channel.MEETING, Channel.PORTAL)


class Playbook(models.Model):
    """What happens with the alerts of one quadrant (optionally one alert type or segment).

    Playbooks are read top-down by `position`: an alert follows the first active playbook that
    matches its quadrant, type and segment.
    """

    name = models.CharField(_("name"), max_length=150)
    quadrant = models.CharField(_("quadrant"), max_length=20, choices=Quadrant)
    alert_type = models.ForeignKey(
        AlertType,
        verbose_name=_("alert type"),
        related_name="playbooks",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        help_text=_("empty: every alert type of the quadrant"),
    )
    segment = models.CharField(
        _("segment"), max_length=60, blank=True, help_text=_("empty: every segment (granule) of the alert type")
    )
    purpose = models.CharField(
        _("purpose"),
        max_length=12,
        choices=Purpose,
        default=Purpose.SERVICE,
        help_text=_("the consent the client must have given for the channel"),
    )
    call_to_action = models.CharField(
        _("call to action"), max_length=20, choices=CallToAction, default=CallToAction.NONE
    )
    self_service_flow = models.CharField(_("self-service flow"), max_length=30, choices=SelfServiceFlow, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveIntegerField(_("order"), default=0)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("playbook")
        verbose_name_plural = _("playbooks")
        ordering = ["position", "id"]

    def __str__(self):
        return self.name


class PlaybookStep(models.Model):
    """One channel of a playbook. Steps are tried in order: the first the client consents to is used.

    The client's preferred channel (ContactPreference.preferred) wins when it is one of the steps.
    """

    class HandledBy(models.TextChoices):
        BACK_OFFICE = "back_office", _("Back office")
        ADVISOR = "advisor", _("The client's advisor")

    class Delivery(models.TextChoices):
        DIRECT = "direct", _("On its own")
        MAILING = "mailing", _("In the next collective mailing")
        NEWSLETTER = "newsletter", _("In the newsletter segment")

    playbook = models.ForeignKey(Playbook, related_name="steps", on_delete=models.CASCADE)
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel)
    handled_by = models.CharField(
        _("handled by"),
        max_length=12,
        choices=HandledBy,
        default=HandledBy.BACK_OFFICE,
        help_text=_("phone calls: whose call queue"),
    )
    delivery = models.CharField(_("delivery"), max_length=12, choices=Delivery, default=Delivery.DIRECT)

    class Meta:
        verbose_name = _("playbook step")
        verbose_name_plural = _("playbook steps")
        ordering = ["playbook", "order", "id"]

    def __str__(self):
        return f"{self.playbook_id}.{self.order} {self.get_channel_display()}"

    @property
    def is_push(self) -> bool:
        return self.channel in PUSH_CHANNELS and self.delivery == self.Delivery.DIRECT


class PlaybookChange(models.Model):
    """A change of the playbooks: who changed what and when (the marker insights compare around)."""

    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    playbook = models.ForeignKey(Playbook, related_name="changes", on_delete=models.SET_NULL, null=True, blank=True)
    summary = models.TextField(_("summary"))

    class Meta:
        verbose_name = _("playbook change")
        verbose_name_plural = _("playbook changes")
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.summary[:60]}"


class MessageTemplate(models.Model):
    """The words of a message per channel and language, with client and alert fields (Jinja, sandboxed).

    A playbook's own template wins over the channel's general one.
    """

    channel = models.CharField(_("channel"), max_length=10, choices=Channel)
    language = models.CharField(_("language"), max_length=5, choices=settings.LANGUAGES)
    playbook = models.ForeignKey(Playbook, related_name="templates", on_delete=models.CASCADE, null=True, blank=True)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    body = models.TextField(_("body"))
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["channel", "language", "playbook_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "language"],
                condition=Q(playbook__isnull=True),
                name="followup_template_one_general_per_channel_language",
            ),
            models.UniqueConstraint(
                fields=["channel", "language", "playbook"], name="followup_template_one_per_playbook"
            ),
        ]

    def __str__(self):
        return f"{self.get_channel_display()} ({self.language})"


class ClientContactRules(models.Model):
    """A client's own limits on being contacted: full opt-out, language, quiet hours, frequency cap.

    Clients without a row follow the firm's defaults (settings.STEWARD_FOLLOWUP_*).
    """

    client = models.OneToOneField(Client, related_name="contact_rules", on_delete=models.CASCADE)
    opted_out = models.BooleanField(_("opted out of all follow-up"), default=False)
    opted_out_at = models.DateTimeField(_("opted out"), null=True, blank=True)
    language = models.CharField(_("language"), max_length=5, choices=settings.LANGUAGES, blank=True)
    quiet_hours_start = models.TimeField(_("quiet from"), null=True, blank=True)
    quiet_hours_end = models.TimeField(_("quiet until"), null=True, blank=True)
    max_messages_per_week = models.PositiveSmallIntegerField(_("at most messages per 7 days"), null=True, blank=True)

    class Meta:
        verbose_name = _("client contact rules")
        verbose_name_plural = _("client contact rules")

    def __str__(self):
        return f"{self.client_id}"


class Message(models.Model):
    """One communication to one client through one channel, possibly bundling several alerts."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        OPENED = "opened", _("Opened")
        CLICKED = "clicked", _("Clicked")
        RESPONDED = "responded", _("Responded")
        SUPPRESSED = "suppressed", _("Suppressed")

    # Later statuses never move back to earlier ones (a late "delivered" after "clicked"); between
    # delivered and failed the provider's later report wins (services/responses.py, message_track).
    STATUS_RANK = {
        "queued": 0,
        "sent": 1,
        "delivered": 2,
        "opened": 3,
        "clicked": 4,
        "responded": 5,
        "failed": 1,
        "suppressed": 1,
    }

    client = models.ForeignKey(Client, related_name="followup_messages", on_delete=models.CASCADE)
    # Denormalised from the client, so an advisor's call queue and lists are one index range scan.
    team = models.ForeignKey("accounts.Team", related_name="+", on_delete=models.PROTECT)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel)
    delivery = models.CharField(
        _("delivery"), max_length=12, choices=PlaybookStep.Delivery, default=PlaybookStep.Delivery.DIRECT
    )
    handled_by = models.CharField(_("handled by"), max_length=12, choices=PlaybookStep.HandledBy, blank=True)
    purpose = models.CharField(_("purpose"), max_length=12, choices=Purpose)
    playbook = models.ForeignKey(Playbook, related_name="messages", on_delete=models.SET_NULL, null=True, blank=True)
    call_to_action = models.CharField(_("call to action"), max_length=20, choices=CallToAction, default="none")
    self_service_flow = models.CharField(_("self-service flow"), max_length=30, choices=SelfServiceFlow, blank=True)
    language = models.CharField(_("language"), max_length=5)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    body = models.TextField(_("body"), blank=True)
    recipient = models.CharField(_("recipient"), max_length=300, blank=True)

    status = models.CharField(_("status"), max_length=12, choices=Status, default=Status.QUEUED)
    queued_at = models.DateTimeField(_("queued"), default=timezone.now)
    # Not before: quiet hours, frequency caps and collective mailings defer a message to this moment.
    send_after = models.DateTimeField(_("not before"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    failed_at = models.DateTimeField(_("failed"), null=True, blank=True)
    failure_reason = models.TextField(_("reason"), blank=True)
    opened_at = models.DateTimeField(_("opened"), null=True, blank=True)
    clicked_at = models.DateTimeField(_("clicked"), null=True, blank=True)
    responded_at = models.DateTimeField(_("responded"), null=True, blank=True)

    # Exactly-once bookkeeping (see followup/dispatch.py): the planner's key makes planning the same
    # alerts twice a no-op; the claim and the provider-call mark make a retried send safe.
    idempotency_key = models.CharField(max_length=64, unique=True)
    claim_token = models.CharField(max_length=64, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    provider_call_started_at = models.DateTimeField(null=True, blank=True)
    provider_reference = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    alerts = models.ManyToManyField(Alert, through="MessageAlert", related_name="followup_messages")

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-queued_at", "-id"]
        indexes = [
            # The sender's sweep: queued messages that are due.
            models.Index(fields=["send_after"], name="followup_msg_due_idx", condition=Q(status="queued")),
            # The client's timeline and the frequency cap: a client's recent messages.
            models.Index(fields=["client", "-queued_at"], name="followup_msg_client_idx"),
            # The call queue and the outbox: a team's messages per channel.
            models.Index(fields=["team", "channel", "status"], name="followup_msg_team_channel_idx"),
            # A provider's delivery report names the message by the provider's own id (one lookup).
            models.Index(
                fields=["provider_reference"], name="followup_msg_provider_ref_idx", condition=~Q(provider_reference="")
            ),
        ]

    def __str__(self):
        return f"{self.get_channel_display()} → {self.client_id} ({self.status})"

    @property
    def is_push(self) -> bool:
        return self.channel in PUSH_CHANNELS and self.delivery == PlaybookStep.Delivery.DIRECT


class MessageAlert(models.Model):
    """An alert a message served. An alert is messaged at most once per channel."""

    message = models.ForeignKey(Message, related_name="message_alerts", on_delete=models.CASCADE)
    alert = models.ForeignKey(Alert, related_name="message_links", on_delete=models.CASCADE)
    # Denormalised from the message so the database itself refuses a second message for the same
    # alert through the same channel, whatever two planners race.
    channel = models.CharField(max_length=10, choices=Channel)

    class Meta:
        verbose_name = _("message alert")
        verbose_name_plural = _("message alerts")
        constraints = [
            models.UniqueConstraint(fields=["alert", "channel"], name="followup_alert_once_per_channel"),
        ]
        indexes = [models.Index(fields=["message"], name="followup_msgalert_msg_idx")]

    def __str__(self):
        return f"{self.message_id} ↔ {self.alert_id}"


class MessageEvent(models.Model):
    """One step in a message's life, as it happened: the tracking history and the provider's answers."""

    message = models.ForeignKey(Message, related_name="events", on_delete=models.CASCADE)
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=20)
    detail = models.TextField(blank=True)

    class Meta:
        verbose_name = _("message event")
        verbose_name_plural = _("message events")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["message", "at"], name="followup_msgevent_msg_idx")]

    def __str__(self):
        return f"{self.message_id} {self.kind}"


class CallTask(models.Model):
    """A phone call in a call queue: the back office's, or the client's advisor's."""

    class Outcome(models.TextChoices):
        OPEN = "open", _("To call")
        REACHED = "reached", _("Reached the client")
        NO_ANSWER = "no_answer", _("No answer")

    message = models.OneToOneField(Message, related_name="call_task", on_delete=models.CASCADE)
    team = models.ForeignKey("accounts.Team", related_name="+", on_delete=models.PROTECT)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="call_tasks"
    )
    outcome = models.CharField(_("outcome"), max_length=12, choices=Outcome, default=Outcome.OPEN)
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("call")
        verbose_name_plural = _("call queue")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["team", "outcome"], name="followup_call_team_idx")]

    def __str__(self):
        return f"call {self.message_id}"


class AdvisorAvailability(models.Model):
    """The weekly hours an advisor can meet clients; bookings are cut from these."""

    advisor = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="availability", on_delete=models.CASCADE)
    weekday = models.PositiveSmallIntegerField(
        _("weekday"),
        choices=[
            (i, day)
            for i, day in enumerate(
                [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")]
            )
        ],
    )
    start_time = models.TimeField(_("from"))
    end_time = models.TimeField(_("until"))
    slot_minutes = models.PositiveSmallIntegerField(_("minutes per meeting"), default=60)

    class Meta:
        verbose_name = _("advisor availability")
        verbose_name_plural = _("advisor availability")
        ordering = ["advisor", "weekday", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_time__gt=models.F("start_time")), name="followup_availability_order"
            ),
        ]

    def __str__(self):
        return f"{self.advisor} {self.get_weekday_display()} {self.start_time:%H:%M}-{self.end_time:%H:%M}"


class Booking(models.Model):
    """A meeting a client booked with their advisor from a link."""

    class Status(models.TextChoices):
        BOOKED = "booked", _("Booked")
        CANCELLED = "cancelled", _("Cancelled")
        HELD = "held", _("Held")

    client = models.ForeignKey(Client, related_name="followup_bookings", on_delete=models.CASCADE)
    advisor = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="followup_bookings", on_delete=models.PROTECT)
    team = models.ForeignKey("accounts.Team", related_name="+", on_delete=models.PROTECT)
    alert = models.ForeignKey(Alert, related_name="followup_bookings", on_delete=models.SET_NULL, null=True, blank=True)
    message = models.ForeignKey(Message, related_name="bookings", on_delete=models.SET_NULL, null=True, blank=True)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.BOOKED)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("booking")
        verbose_name_plural = _("bookings")
        ordering = ["starts_at", "id"]
        constraints = [
            # Two clients clicking the same free slot at once: the database lets only one through.
            models.UniqueConstraint(
                fields=["advisor", "starts_at"], condition=Q(status="booked"), name="followup_booking_one_per_slot"
            ),
        ]
        indexes = [models.Index(fields=["advisor", "starts_at"], name="followup_booking_agenda_idx")]

    def __str__(self):
        return f"{self.client_id} with {self.advisor_id} at {self.starts_at:%Y-%m-%d %H:%M}"

    @property
    def duration(self) -> dt.timedelta:
        return self.ends_at - self.starts_at


class SelfServiceResponse(models.Model):
    """A self-service flow a client completed from a message's link."""

    message = models.ForeignKey(Message, related_name="responses", on_delete=models.CASCADE)
    alert = models.ForeignKey(
        Alert, related_name="followup_responses", on_delete=models.SET_NULL, null=True, blank=True
    )
    client = models.ForeignKey(Client, related_name="followup_responses", on_delete=models.CASCADE)
    flow_key = models.CharField(_("flow"), max_length=30, choices=SelfServiceFlow)
    answers = models.JSONField(_("answers"), default=dict)
    uploaded_file = models.FileField(_("document"), upload_to="followup/uploads/%Y/%m/", blank=True)
    completed_at = models.DateTimeField(_("completed"), default=timezone.now)

    class Meta:
        verbose_name = _("self-service response")
        verbose_name_plural = _("self-service responses")
        ordering = ["-completed_at"]
        constraints = [
            # A link used twice (back button, double submit) records one response.
            models.UniqueConstraint(fields=["message", "flow_key"], name="followup_response_once_per_message"),
        ]

    def __str__(self):
        return f"{self.flow_key} by {self.client_id}"
