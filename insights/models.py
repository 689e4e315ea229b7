"""Insights: a summary table of how clients responded to the follow-up of their alerts.

The pages never read the follow-up tables themselves: joining messages, alerts, clients and bookings
for every chart would cost seconds at a million clients. `ResponseFact` holds the outcome of each
alert, denormalised, one row per alert and channel it was messaged through (plus one row, channel
"", for an alert that was never messaged). It is rebuilt set-based by `insights.services.
response_facts_refresh` (Celery beat, hourly for recent weeks and nightly for the year; see
migration 0002), and every metric is a GROUP BY over it.

Each alert has exactly one *primary* row (its first channel, or "" when it was not messaged) that
carries the alert-level outcome (first response over all channels, resolution, meetings, advice):
counts of alerts and their medians read the primary rows; per-channel figures read all rows.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from alerts.models import Alert, AlertType, Quadrant
from clients.models import Channel, Segment


class ResponseFact(models.Model):
    alert = models.ForeignKey(Alert, related_name="+", on_delete=models.CASCADE, db_index=False)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel, blank=True)
    is_primary = models.BooleanField(default=False)

    # The alert's dimensions, copied so a metric is one scan of this table.
    team = models.ForeignKey("accounts.Team", related_name="+", on_delete=models.CASCADE, db_index=False)
    alert_type = models.ForeignKey(AlertType, related_name="+", on_delete=models.CASCADE, db_index=False)
    segment = models.CharField(_("client segment"), max_length=10, choices=Segment)
    quadrant = models.CharField(_("quadrant"), max_length=20, choices=Quadrant)
    raised_at = models.DateTimeField(_("raised"))
    week = models.DateField(_("week"), help_text=_("the Monday of the week the alert was raised"))

    # Through this channel: the first message about the alert, the first response to one.
    sent_at = models.DateTimeField(null=True, blank=True)
    responded = models.BooleanField(default=False)
    hours_to_response = models.FloatField(null=True, blank=True)
    meetings_booked = models.PositiveIntegerField(default=0)
    advice_given = models.PositiveIntegerField(default=0)

    # The alert as a whole: resolution on every row, the rest on the primary row only (NULL or 0 elsewhere).
    alert_hours_to_resolution = models.FloatField(null=True, blank=True)
    alert_hours_to_first_response = models.FloatField(null=True, blank=True)
    alert_meetings_booked = models.PositiveIntegerField(default=0)
    alert_advice_given = models.PositiveIntegerField(default=0)

    refreshed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("response fact")
        verbose_name_plural = _("response facts")
        constraints = [models.UniqueConstraint(fields=["alert", "channel"], name="insights_fact_alert_channel")]
        indexes = [
            # Every metric: a team's (or all teams') rows of a period of weeks.
            models.Index(fields=["team", "week"], name="insights_fact_team_week_idx"),
            models.Index(fields=["week"], name="insights_fact_week_idx"),
        ]

    def __str__(self):
        return f"{self.alert_id}/{self.channel or '-'}"
