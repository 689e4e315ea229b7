"""Alerts: what the advisory framework found about a client file, and what people did about it.

At most one live alert per client and alert type (a partial unique constraint). The framework's
evaluation opens, keeps and closes alerts set-based (`alerts.services.alerts_reconcile`); people
move them through the lifecycle, and every change of status is recorded with who, when and why.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clients.models import Client


class Quadrant(models.TextChoices):
    """The four parts of the canvas: urgency by advice-sensitivity."""

    URGENT_SENSITIVE = "urgent_sensitive", _("Urgent, advice-sensitive")
    URGENT_ROUTINE = "urgent_routine", _("Urgent, not advice-sensitive")
    LATER_SENSITIVE = "later_sensitive", _("Not urgent, advice-sensitive")
    LATER_ROUTINE = "later_routine", _("Not urgent, not advice-sensitive")
    UNPLACED = "unplaced", _("Not placed on the canvas yet")


class AlertType(models.Model):
    """A kind of alert, raised by a rule of the framework and placed on the canvas."""

    key = models.SlugField(_("key"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=150)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        verbose_name = _("alert type")
        verbose_name_plural = _("alert types")
        ordering = ["name"]

    def __str__(self):
        return self.name


class Alert(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        IN_PROGRESS = "in_progress", _("In progress")
        SNOOZED = "snoozed", _("Snoozed")
        RESOLVED = "resolved", _("Resolved")
        DISMISSED = "dismissed", _("Dismissed")

    LIVE_STATUSES = (Status.OPEN, Status.IN_PROGRESS, Status.SNOOZED)

    # Both foreign keys are the first column of a composite index below, so they need none of their own:
    # every index on this table slows the canvas's set-based re-prioritisation.
    alert_type = models.ForeignKey(AlertType, related_name="alerts", on_delete=models.PROTECT, db_index=False)
    segment = models.CharField(_("segment"), max_length=60, blank=True, help_text=_("the granule of the type"))
    client = models.ForeignKey(Client, related_name="alerts", on_delete=models.CASCADE, db_index=False)
    # Denormalised from the client, so an advisor's dashboard is one index range scan. No index of
    # its own: the team queue index starts with it, and a team with alerts is never deleted (PROTECT).
    # No database constraint on team, rule and rule version: they are copied from the client and the
    # rule that raised the alert (never typed in), the ORM still applies PROTECT and SET_NULL when one
    # is deleted, and checking them per row cost a third of writing a night's new alerts
    # (docs/benchmarks.md, "Fourth session: framework evaluation").
    team = models.ForeignKey(
        "accounts.Team", related_name="+", on_delete=models.PROTECT, db_index=False, db_constraint=False
    )
    # No indexes: alerts are never looked up by rule, and a rule that raised alerts belongs to an
    # active or retired version, which cannot be deleted (only drafts can). Each index costs every
    # alert the evaluation opens and every alert a canvas move re-prioritises one more entry.
    rule = models.ForeignKey(
        "framework.Rule",
        related_name="alerts",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,
        db_constraint=False,
    )
    rule_version = models.ForeignKey(
        "framework.FrameworkVersion",
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,
        db_constraint=False,
    )
    message = models.TextField(_("message"), blank=True)
    values = models.JSONField(_("values used"), default=dict, blank=True)
    explanation = models.JSONField(_("explanation"), default=list, blank=True)
    granulation = models.JSONField(_("segment attributes"), default=dict, blank=True)
    values_fingerprint = models.CharField(max_length=64, blank=True)
    due_date = models.DateField(_("due"), null=True, blank=True)

    # Set by the canvas from the placement of the type (or segment).
    priority = models.PositiveIntegerField(_("priority"), default=0, help_text=_("higher is more important"))
    quadrant = models.CharField(_("quadrant"), max_length=20, choices=Quadrant, default=Quadrant.UNPLACED)

    status = models.CharField(_("status"), max_length=12, choices=Status, default=Status.OPEN)
    snoozed_until = models.DateField(_("snoozed until"), null=True, blank=True)
    status_reason = models.TextField(_("reason"), blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assigned to"),
        related_name="assigned_alerts",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    opened_at = models.DateTimeField(_("raised"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        constraints = [
            models.UniqueConstraint(
                fields=["client", "alert_type"],
                condition=Q(status__in=["open", "in_progress", "snoozed"]),
                name="alert_one_live_per_client_and_type",
                violation_error_message=_("This client already has a live alert of this type."),
            )
        ]
        indexes = [
            # The dashboard's first page: live alerts of a team (or an advisor), by priority then due date.
            # The quadrant is a key column (last: it orders nothing) so that a quadrant filter is checked
            # in the index, not on each alert's row: at a million live alerts "Not placed yet" (priority
            # 0, the end of the order) read 234,813 rows of other quadrants first, 570 ms a page.
            models.Index(
                fields=["team", "-priority", "due_date", "id", "quadrant"],
                name="alert_team_queue_idx",
                condition=Q(status__in=["open", "in_progress", "snoozed"]),
            ),
            models.Index(
                fields=["assigned_to", "-priority", "due_date", "id", "quadrant"],
                name="alert_assignee_queue_idx",
                condition=Q(status__in=["open", "in_progress", "snoozed"]),
            ),
            # The navigation badge on every page (`selectors.new_urgent_alert_count`): an advisor's open
            # urgent alerts raised since their last dashboard visit, a range of a few entries.
            models.Index(
                fields=["assigned_to", "opened_at"],
                name="alert_new_urgent_idx",
                condition=Q(status="open", quadrant__in=["urgent_sensitive", "urgent_routine"]),
            ),
            # Canvas moves re-prioritise by type and segment.
            models.Index(fields=["alert_type", "segment"], name="alert_type_segment_idx"),
            models.Index(fields=["client", "alert_type"], name="alert_client_type_idx"),
        ]

    def __str__(self):
        return f"{self.alert_type} · {self.client_id} · {self.status}"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE_STATUSES

    # `get_FOO_display()` builds a dict of every choice, hashing each translated label, on every
    # call: a third of the dashboard's rendering with fifty rows of two labels each. These look the
    # label up in the enum.
    @property
    def quadrant_label(self) -> str:
        try:
            return Quadrant(self.quadrant).label
        except ValueError:
            return self.quadrant

    @property
    def status_label(self) -> str:
        try:
            return self.Status(self.status).label
        except ValueError:
            return self.status


class AlertEvent(models.Model):
    """One change of an alert: who (or the framework), when, from what to what, and why."""

    # Indexed by (alert, at) below; `by` only where a person acted (the framework's events have none).
    # No database constraint: every event is written with or right after its alert (the framework
    # writes both in one statement), alerts are deleted only through the ORM, which deletes their
    # events too (CASCADE), and checking the key per row was a ninth of writing a night's new alerts
    # (docs/benchmarks.md, "Fourteenth session").
    alert = models.ForeignKey(
        Alert, related_name="events", on_delete=models.CASCADE, db_index=False, db_constraint=False
    )
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12)
    reason = models.TextField(blank=True)

    class Meta:
        verbose_name = _("alert event")
        verbose_name_plural = _("alert events")
        ordering = ["at", "pk"]
        indexes = [
            models.Index(fields=["alert", "at"], name="alert_event_alert_idx"),
            models.Index(fields=["by"], name="alert_event_by_idx", condition=Q(by__isnull=False)),
        ]

    def __str__(self):
        return f"{self.alert_id}: {self.from_status} → {self.to_status}"
