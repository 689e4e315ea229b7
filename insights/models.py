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

The pages read two smaller tables built from it (see docs/benchmarks.md, "Third session: insights"):
`ResponseWeek` holds the facts' counts per week and combination of team, alert type, segment,
quadrant and channel (a few hundred rows a week however large the book), with a digest of the hours
for the medians; `RetentionSnapshot` holds the retention figures per team, computed by beat.
"""

import sys
from array import array

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


class ResponseWeek(models.Model):
    """The response facts of one week and one combination of the page's dimensions, summed.

    Any filter of the page is a small GROUP BY over these rows, never a scan of the facts. Medians
    come from the four digests: the sorted hours themselves while a cell holds at most
    `insights.services.DIGEST_POINTS` of them (so medians of small groups are exact), else that
    many evenly spaced quantiles of them, each standing for `n / points` values.
    """

    week = models.DateField(_("week"))
    team = models.ForeignKey("accounts.Team", related_name="+", on_delete=models.CASCADE, db_index=False)
    alert_type = models.ForeignKey(AlertType, related_name="+", on_delete=models.CASCADE, db_index=False)
    segment = models.CharField(_("client segment"), max_length=10, choices=Segment)
    quadrant = models.CharField(_("quadrant"), max_length=20, choices=Quadrant)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel, blank=True)

    facts = models.PositiveIntegerField(default=0)  # rows of ResponseFact
    primary_facts = models.PositiveIntegerField(default=0)  # alerts (their primary rows)
    sent = models.PositiveIntegerField(default=0)
    responded = models.PositiveIntegerField(default=0)
    meetings_booked = models.PositiveIntegerField(default=0)
    advice_given = models.PositiveIntegerField(default=0)
    alert_meetings_booked = models.PositiveIntegerField(default=0)
    alert_advice_given = models.PositiveIntegerField(default=0)

    # Digests, packed as little-endian float64s: how many values, then the sorted points (`digest()`
    # unpacks one). Binary because the page reads thousands of them: decoding as many JSON lists cost
    # more than everything else on the page. Per channel: hours to the response through it and to the
    # alert's resolution (messaged rows); per alert: to its first response and to its resolution.
    response_hours = models.BinaryField(default=bytes)
    resolution_hours_messaged = models.BinaryField(default=bytes)
    first_response_hours = models.BinaryField(default=bytes)
    resolution_hours = models.BinaryField(default=bytes)

    refreshed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("response week")
        verbose_name_plural = _("response weeks")
        indexes = [
            # The page: a period of weeks, for all teams or one.
            models.Index(fields=["week", "team"], name="insights_week_week_team_idx"),
        ]

    def __str__(self):
        return f"{self.week} {self.team_id}/{self.alert_type_id}/{self.segment}/{self.quadrant}/{self.channel or '-'}"

    def digest(self, name: str) -> dict:
        """{"n": how many values, "points": the sorted points} of one digest field."""
        packed = array("d", bytes(getattr(self, name)))
        if sys.byteorder == "big":
            packed.byteswap()
        return {"n": int(packed[0]), "points": list(packed[1:])} if packed else {"n": 0, "points": []}


class RetentionSnapshot(models.Model):
    """The retention page's figures for one team (or, team empty, for all teams), as of `computed_at`.

    Computed by beat (and on request) because the value concentration sorts every valued client: at
    a million clients that is seconds, too slow for a page. The top and at-risk clients are kept as
    ids, in order; the page reads their current facts by primary key.
    """

    team = models.ForeignKey(
        "accounts.Team", related_name="+", on_delete=models.CASCADE, null=True, blank=True, db_index=False
    )
    figures = models.JSONField(default=dict)
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("retention snapshot")
        verbose_name_plural = _("retention snapshots")
        # One row per team and one (team empty) for all teams: the refresh replaces them all at once.
        constraints = [models.UniqueConstraint(fields=["team"], name="insights_retention_one_per_team")]

    def __str__(self):
        return f"{self.team_id or 'all'} @ {self.computed_at:%Y-%m-%d %H:%M}"
