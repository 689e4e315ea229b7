"""Writes of the canvas: moving cards (with undo), granulating alert types, and giving alerts their priority.

Every write re-prioritises the live alerts it concerns set-based: a move is one UPDATE of the
card's alerts to the card's new priority and quadrant, whatever their number. Newly raised alerts
get theirs from `alerts_place`, which the alerts step calls after opening alerts (it is named in
settings.STEWARD_AFTER_ALERTS_OPENED, so that earlier step never imports this one).
"""

from collections.abc import Iterable
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts.models import Alert, AlertType, Quadrant
from alerts.services import alert_counts_invalidate
from framework.models import IDENTIFIER

from .models import SCORE_MAX, Placement, PlacementChange, Split
from .segments import WHOLE_TYPE, Attribute, bounds_validate, is_band_key
from .selectors import CanvasRules, canvas_rules, card_alerts, governing_placement, priority_expressions


def _scores_validate(urgency: int | None, advice_sensitivity: int | None) -> None:
    if (urgency is None) != (advice_sensitivity is None):
        raise ValidationError(_("Give both scores, or neither to put the card back in the tray."))
    for score in (urgency, advice_sensitivity):
        if score is not None and (not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= SCORE_MAX):
            raise ValidationError(_("A score is a whole number from 0 to %(max)s.") % {"max": SCORE_MAX})


def _segment_validate(alert_type: AlertType, segment: str) -> None:
    """A card of the board: the whole type, a band of its split, or (unsplit) a framework granule."""
    if segment == WHOLE_TYPE:
        return
    split = Split.objects.filter(alert_type=alert_type).first()
    if split is not None:
        if segment not in split.keys:
            raise ValidationError(_("“%(segment)s” is not a segment of this alert type.") % {"segment": segment})
        return
    if is_band_key(segment):
        raise ValidationError(_("This alert type is not split by an attribute."))
    IDENTIFIER(segment)


_UNPLACED = {"priority": 0, "quadrant": Quadrant.UNPLACED}
PLACE_BATCH = 10_000


def _apply(rules: CanvasRules, *, alert_type_id: int, segment: str) -> int:
    """One UPDATE: the live alerts this card governs take the priority and quadrant of their placement."""
    placement = governing_placement(rules, alert_type_id=alert_type_id, segment=segment)
    values = {"priority": placement.priority, "quadrant": placement.quadrant} if placement else _UNPLACED
    # Rows that already have these values are not rewritten: every rewritten row costs an entry in
    # each of the alert table's indexes (priority is in the dashboard's), so skip what does not change.
    return card_alerts(rules, alert_type_id=alert_type_id, segment=segment).exclude(**values).update(**values)


def _move(
    *, alert_type: AlertType, segment: str, urgency: int | None, advice_sensitivity: int | None, user, **change
) -> PlacementChange:
    now = timezone.now()
    # Locked, so two people moving the same card are applied one after the other and the history
    # records each "from" as it really was.
    placement, _created = Placement.objects.select_for_update().get_or_create(alert_type=alert_type, segment=segment)
    before = (placement.urgency, placement.advice_sensitivity)
    placement.urgency, placement.advice_sensitivity = urgency, advice_sensitivity
    placement.updated_by, placement.updated_at = user, now
    placement.save()
    rules = canvas_rules()
    updated = _apply(rules, alert_type_id=alert_type.pk, segment=segment)
    if updated:  # the dashboards' quadrant counts, cached, are out of date once this commits
        transaction.on_commit(alert_counts_invalidate)
    return PlacementChange.objects.create(
        alert_type=alert_type,
        segment=segment,
        user=user,
        at=now,
        from_urgency=before[0],
        from_advice_sensitivity=before[1],
        to_urgency=urgency,
        to_advice_sensitivity=advice_sensitivity,
        alerts_updated=updated,
        **change,
    )


@transaction.atomic
def placement_move(
    *, alert_type: AlertType, segment: str = WHOLE_TYPE, urgency: int | None, sensitivity: int | None, user
) -> PlacementChange:
    """Place a card at (urgency, advice-sensitivity), each 0–100, or back in the tray (both None).

    Re-prioritises every live alert of the card in one UPDATE (closed alerts keep the priority they
    had) and records the move in the history. `segment` "" is the card of the whole alert type: it
    governs the type's alerts whose segment has no place of its own. Returns the change.
    """
    _scores_validate(urgency, sensitivity)
    _segment_validate(alert_type, segment)
    return _move(alert_type=alert_type, segment=segment, urgency=urgency, advice_sensitivity=sensitivity, user=user)


@transaction.atomic
def placement_undo(*, user) -> PlacementChange:
    """Undo the user's latest move that is not undone yet: the card goes back where it was.

    Refuses (ValidationError) when there is nothing to undo, or when someone has moved the card
    since: undoing then would silently throw away their move.
    """
    # Not locked itself: the placement's lock below serialises undos, and `undoes` is unique.
    last = (
        PlacementChange.objects.filter(user=user, undoes__isnull=True, undone_by__isnull=True, split__isnull=True)
        .select_related("alert_type")
        .order_by("-id")
        .first()
    )
    if last is None:
        raise ValidationError(_("There is no move of yours to undo."))
    placement = Placement.objects.select_for_update().get(alert_type=last.alert_type, segment=last.segment)
    if (placement.urgency, placement.advice_sensitivity) != (last.to_urgency, last.to_advice_sensitivity):
        raise ValidationError(_("This card has been moved by someone else since; move it back by hand."))
    return _move(
        alert_type=last.alert_type,
        segment=last.segment,
        urgency=last.from_urgency,
        advice_sensitivity=last.from_advice_sensitivity,
        user=user,
        undoes=last,
    )


@transaction.atomic
def granulation_set(*, alert_type: AlertType, attribute: str, bounds: list[int], user) -> int:
    """Split an alert type by one attribute (`segments.Attribute`), or back to the framework's
    granules (attribute ""). The segments start in the tray; the type's live alerts follow at once
    (one UPDATE). Returns how many live alerts were re-prioritised.
    """
    if attribute:
        bounds_validate(attribute, bounds)
        Split.objects.update_or_create(
            alert_type=alert_type,
            defaults={
                "attribute": attribute,
                "bounds": [] if attribute == Attribute.HOUSEHOLD else bounds,
                "updated_by": user,
                "updated_at": timezone.now(),
            },
        )
    else:
        Split.objects.filter(alert_type=alert_type).delete()
    rules = canvas_rules()
    values = priority_expressions(rules, alert_type_ids={alert_type.pk})
    live = Alert.objects.filter(alert_type=alert_type, status__in=Alert.LIVE_STATUSES)
    updated = live.exclude(**values).update(**values)
    if updated:
        transaction.on_commit(alert_counts_invalidate)
    # The whole-type card keeps its place (from = to); the record says who re-cut the type, and when.
    whole_type = rules.placements.get((alert_type.pk, WHOLE_TYPE))
    position = (whole_type.urgency, whole_type.advice_sensitivity) if whole_type else (None, None)
    PlacementChange.objects.create(
        alert_type=alert_type,
        segment=WHOLE_TYPE,
        user=user,
        from_urgency=position[0],
        from_advice_sensitivity=position[1],
        to_urgency=position[0],
        to_advice_sensitivity=position[1],
        alerts_updated=updated,
        split={"attribute": attribute, "bounds": bounds if attribute and attribute != Attribute.HOUSEHOLD else []},
    )
    return updated


def alerts_place(*, alert_ids: Iterable[int]) -> int:
    """Give these alerts the priority and quadrant of their card, set-based.

    Called by the alerts step right after it opens alerts (settings.STEWARD_AFTER_ALERTS_OPENED),
    inside its transaction; it serves as well for alerts whose segment or attributes changed. One
    UPDATE per 10,000 alerts. Returns how many alerts changed place.
    """
    alert_ids = list(alert_ids)
    if not alert_ids:
        return 0
    values = priority_expressions(canvas_rules())
    # In batches: SQLite takes at most 32,766 parameters a statement and PostgreSQL 65,535, and a
    # first evaluation of a chunk of 10,000 clients can open more alerts than that.
    return sum(
        Alert.objects.filter(pk__in=alert_ids[start : start + PLACE_BATCH]).exclude(**values).update(**values)
        for start in range(0, len(alert_ids), PLACE_BATCH)
    )


def alerts_place_new(*, rows: list[dict]) -> None:
    """Give alerts about to be opened (rows of `alerts_reconcile`) the priority and quadrant of their card.

    Named in settings.STEWARD_ALERTS_PLACE_NEW. In Python, before the INSERT: priority is in the
    dashboard's indexes, so an UPDATE after it would write every new alert (and its index entries)
    a second time. `CanvasRules.place_of` is the Python twin of `priority_expressions`.
    """
    rules = canvas_rules()
    for row in rows:
        placement = rules.place_of(
            alert_type_id=row["alert_type_id"],
            segment=row["segment"],
            granulation=row["granulation"],
            due_date=row["due_date"],
        )
        row["priority"] = placement.priority if placement is not None else 0
        row["quadrant"] = placement.quadrant if placement is not None else Quadrant.UNPLACED


@transaction.atomic
def placements_reapply(*, today: date | None = None) -> int:
    """Every live alert takes the place of its card again: one UPDATE of those whose place changed.

    Nightly, because a card can depend on the date (a split by days to the deadline: as the
    deadline comes closer the alert moves into the next band by itself), and as a safety net for
    alerts whose segment the framework changed after they were opened. Returns the number updated.
    """
    values = priority_expressions(canvas_rules(today=today))
    # Only the alerts whose place changed are rewritten: on most nights a few, not the whole book.
    updated = Alert.objects.filter(status__in=Alert.LIVE_STATUSES).exclude(**values).update(**values)
    if updated:
        transaction.on_commit(alert_counts_invalidate)
    return updated
