"""The canvas: where back office places each alert type (or segment of one), and what that means.

A card is an alert type, or one segment of it (see segments.py), placed on a plane with two axes:
urgency (0 = not urgent, 100 = urgent) and advice-sensitivity (0 = not advice-sensitive, 100 = very).
Individual alerts are never placed; every live alert takes its priority and quadrant from the
placement of its segment, or of its whole type when its segment has no placement of its own.

Priority is a pure function of the two scores (`priority_for`): a weighted sum in which urgency
counts for 3/5 and advice-sensitivity for 2/5, rounded half up to a whole number from 0 to 100.
So urgent work comes first, and among equally urgent work the advice-sensitive first. The quadrant
is read from the same scores: 50 or more is urgent, 50 or more is advice-sensitive.

Every move is kept (`PlacementChange`): who, when, from where to where, and how many alerts it
re-prioritised. A version of the canvas is the set of placements after one of these changes.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from alerts.models import AlertType, Quadrant

from .segments import Attribute, split_keys

SCORE_MAX = 100
URGENT_FROM = 50  # a score of 50 or more is on the urgent (or advice-sensitive) side
URGENCY_WEIGHT, SENSITIVITY_WEIGHT = 3, 2  # out of 5


def priority_for(urgency: int, advice_sensitivity: int) -> int:
    """The priority of the alerts on a card: round(0.6 · urgency + 0.4 · advice-sensitivity), 0–100.

    Integer arithmetic, so the result never depends on binary floating point: (3u + 2s) / 5,
    rounded half up. An unplaced card's alerts have priority 0.
    """
    return (URGENCY_WEIGHT * urgency + SENSITIVITY_WEIGHT * advice_sensitivity + 2) // (
        URGENCY_WEIGHT + SENSITIVITY_WEIGHT
    )


def quadrant_for(urgency: int | None, advice_sensitivity: int | None) -> str:
    if urgency is None or advice_sensitivity is None:
        return Quadrant.UNPLACED
    urgent, sensitive = urgency >= URGENT_FROM, advice_sensitivity >= URGENT_FROM
    if urgent:
        return Quadrant.URGENT_SENSITIVE if sensitive else Quadrant.URGENT_ROUTINE
    return Quadrant.LATER_SENSITIVE if sensitive else Quadrant.LATER_ROUTINE


def _score_field(label):
    return models.PositiveSmallIntegerField(label, null=True, blank=True, validators=[MaxValueValidator(SCORE_MAX)])


def _scores_valid(prefix: str = "") -> Q:
    urgency, sensitivity = f"{prefix}urgency", f"{prefix}advice_sensitivity"
    both_unset = Q(**{f"{urgency}__isnull": True, f"{sensitivity}__isnull": True})
    # Explicitly not null: a CHECK passes when its condition is unknown, and NULL <= 100 is unknown.
    both_set = Q(
        **{
            f"{urgency}__isnull": False,
            f"{sensitivity}__isnull": False,
            f"{urgency}__lte": SCORE_MAX,
            f"{sensitivity}__lte": SCORE_MAX,
        }
    )
    return both_unset | both_set


class Split(models.Model):
    """An alert type split by one attribute instead of the framework's granules."""

    alert_type = models.OneToOneField(
        AlertType, verbose_name=_("alert type"), related_name="canvas_split", on_delete=models.CASCADE
    )
    attribute = models.CharField(_("split by"), max_length=15, choices=Attribute)
    bounds = models.JSONField(
        _("boundaries"),
        default=list,
        blank=True,
        help_text=_("e.g. [14, 183] for within 14 days, 15 to 183 days, and later; none for household."),
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="+", on_delete=models.SET_NULL, null=True, blank=True
    )
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("granulation")
        verbose_name_plural = _("granulations")

    def __str__(self):
        return f"{self.alert_type}: {self.get_attribute_display()}"

    @property
    def keys(self) -> list[str]:
        return split_keys(self.attribute, self.bounds)


class Placement(models.Model):
    """Where one card sits on the canvas; both scores empty means it waits in the tray."""

    alert_type = models.ForeignKey(
        AlertType, verbose_name=_("alert type"), related_name="canvas_placements", on_delete=models.CASCADE
    )
    segment = models.CharField(_("segment"), max_length=60, blank=True, help_text=_("Empty: the whole alert type."))
    urgency = _score_field(_("urgency"))
    advice_sensitivity = _score_field(_("advice-sensitivity"))
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, related_name="+", on_delete=models.SET_NULL, null=True, blank=True
    )
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("placement")
        verbose_name_plural = _("placements")
        ordering = ["alert_type", "segment"]
        constraints = [
            models.UniqueConstraint(fields=["alert_type", "segment"], name="canvas_one_placement_per_card"),
            models.CheckConstraint(
                condition=_scores_valid(),
                name="canvas_placement_scores",
                violation_error_message=_("Give both scores (0 to 100), or neither for the tray."),
            ),
        ]

    def __str__(self):
        card = f"{self.alert_type} · {self.segment}" if self.segment else str(self.alert_type)
        if not self.is_placed:
            return f"{card} (tray)"
        return f"{card} ({self.urgency}, {self.advice_sensitivity})"

    @property
    def is_placed(self) -> bool:
        return self.urgency is not None and self.advice_sensitivity is not None

    @property
    def priority(self) -> int:
        return priority_for(self.urgency, self.advice_sensitivity) if self.is_placed else 0

    @property
    def quadrant(self) -> str:
        return quadrant_for(self.urgency, self.advice_sensitivity)


class PlacementChange(models.Model):
    """One move of a card: who, when, from where to where (empty = the tray), how many alerts followed.

    A change of an alert type's granulation is recorded here too (with `split`), on the card of the
    whole type, which keeps its place: so the history is one list, and a version stays the set of
    placements after a change.
    """

    alert_type = models.ForeignKey(AlertType, verbose_name=_("alert type"), related_name="+", on_delete=models.CASCADE)
    segment = models.CharField(_("segment"), max_length=60, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        related_name="+",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    at = models.DateTimeField(_("when"), default=timezone.now)
    from_urgency = _score_field(_("urgency before"))
    from_advice_sensitivity = _score_field(_("advice-sensitivity before"))
    to_urgency = _score_field(_("urgency after"))
    to_advice_sensitivity = _score_field(_("advice-sensitivity after"))
    alerts_updated = models.PositiveIntegerField(_("alerts re-prioritised"), default=0)
    undoes = models.OneToOneField(
        "self",
        verbose_name=_("undoes"),
        related_name="undone_by",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
    )
    # Set when the change re-cut the alert type into segments instead of moving a card:
    # {"attribute": "days", "bounds": [14, 183]}, or {"attribute": ""} for the framework's granules.
    split = models.JSONField(_("granulation"), null=True, blank=True)

    class Meta:
        verbose_name = _("canvas change")
        verbose_name_plural = _("canvas history")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=_scores_valid("from_"), name="canvas_change_from_scores"),
            models.CheckConstraint(condition=_scores_valid("to_"), name="canvas_change_to_scores"),
        ]
        indexes = [
            # placement_undo: the user's latest change.
            models.Index(fields=["user", "-id"], name="canvas_change_user_idx"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.alert_type_id}/{self.segment}"

    @property
    def was_placed(self) -> bool:
        return self.from_urgency is not None

    @property
    def is_placed(self) -> bool:
        return self.to_urgency is not None

    @property
    def from_quadrant(self) -> str:
        return quadrant_for(self.from_urgency, self.from_advice_sensitivity)

    @property
    def to_quadrant(self) -> str:
        return quadrant_for(self.to_urgency, self.to_advice_sensitivity)

    @property
    def to_quadrant_label(self) -> str:
        return Quadrant(self.to_quadrant).label
