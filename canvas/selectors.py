"""Reads of the canvas: which alerts a card stands for, the board with its counts, history and versions.

The placements and splits in force are read once into a `CanvasRules`; from it come the query
conditions that select a card's live alerts and the CASE expressions that give many alerts their
priority in one statement. The services use the same functions, so what the board counts is what a
move re-prioritises.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from django.db.models import Case, CharField, Count, F, IntegerField, Max, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from alerts.models import Alert, AlertType, Quadrant
from framework.models import DecisionRow, Rule
from framework.selectors import framework_version_active

from .models import Placement, PlacementChange, Split, priority_for, quadrant_for
from .segments import WHOLE_TYPE, Attribute, band_condition, band_label, band_matches, is_band_key, split_keys

# --- The rules in force ---------------------------------------------------------------------------


@dataclass
class CanvasRules:
    """The placements and splits in force, keyed for lookups; `today` dates the deadline bands."""

    placements: dict[tuple[int, str], Placement]
    splits: dict[int, Split]
    today: date
    _placed_segments: dict[int, list[str]] = field(default_factory=dict, repr=False)

    def placement(self, alert_type_id: int, segment: str) -> Placement | None:
        placement = self.placements.get((alert_type_id, segment))
        return placement if placement is not None and placement.is_placed else None

    def segment_condition(self, alert_type_id: int, segment: str) -> Q | None:
        """The alerts of one segment of the type (not the whole-type card), or None if it is not a segment now."""
        split = self.splits.get(alert_type_id)
        if split is not None:
            return band_condition(segment, today=self.today) if segment in split.keys else None
        if segment == WHOLE_TYPE or is_band_key(segment):
            return None
        return Q(segment=segment)

    def placed_segments(self, alert_type_id: int) -> list[str]:
        """The type's segments that have a place of their own; the rest of its alerts follow the type's card."""
        return sorted(
            segment
            for (type_id, segment), placement in self.placements.items()
            if type_id == alert_type_id
            and placement.is_placed
            and self.segment_condition(alert_type_id, segment) is not None
        )

    def place_of(self, *, alert_type_id: int, segment: str, granulation: dict, due_date) -> Placement | None:
        """The placement that governs one alert, in Python: what `priority_expressions` gives it in SQL."""
        split = self.splits.get(alert_type_id)
        placed_segments = self._placed_segments.get(alert_type_id)
        if placed_segments is None:  # asked once per alert of a whole book: remembered per type
            placed_segments = self._placed_segments[alert_type_id] = self.placed_segments(alert_type_id)
        for placed in placed_segments:
            if split is not None:
                hit = band_matches(placed, granulation=granulation, due_date=due_date, today=self.today)
            else:
                hit = placed == segment
            if hit:
                return self.placement(alert_type_id, placed)
        return self.placement(alert_type_id, WHOLE_TYPE)

    def segment_expression(self, alert_type_id: int):
        """The segment key of each alert of this type, as an SQL expression ("" when in no band of a split)."""
        split = self.splits.get(alert_type_id)
        if split is None:
            return F("segment")
        return Case(
            *(When(band_condition(key, today=self.today), then=Value(key)) for key in split.keys),
            default=Value(WHOLE_TYPE),
            output_field=CharField(),
        )


def canvas_rules(*, today: date | None = None) -> CanvasRules:
    """Two small queries: every placement and every split (a canvas has tens of cards, not thousands)."""
    return CanvasRules(
        placements={(p.alert_type_id, p.segment): p for p in Placement.objects.all()},
        splits={split.alert_type_id: split for split in Split.objects.all()},
        today=today or timezone.localdate(),
    )


def card_alerts(rules: CanvasRules, *, alert_type_id: int, segment: str) -> QuerySet[Alert]:
    """The live alerts a card governs: its segment's, or for the whole-type card every alert of
    the type whose segment has no place of its own."""
    live = Alert.objects.filter(alert_type_id=alert_type_id, status__in=Alert.LIVE_STATUSES)
    if segment != WHOLE_TYPE:
        condition = rules.segment_condition(alert_type_id, segment)
        return live.filter(condition) if condition is not None else live.none()
    placed = rules.placed_segments(alert_type_id)
    if not placed:
        return live
    if alert_type_id not in rules.splits:
        return live.exclude(segment__in=placed)
    # Through the CASE (which says "" for an alert in no band) rather than NOT (band or band): a band
    # condition on a missing JSON attribute is NULL, and NOT NULL would drop that alert.
    return live.alias(canvas_segment=rules.segment_expression(alert_type_id)).exclude(canvas_segment__in=placed)


def governing_placement(rules: CanvasRules, *, alert_type_id: int, segment: str) -> Placement | None:
    """The placement that gives a card's alerts their priority: its own, else (for a segment) the type's."""
    own = rules.placement(alert_type_id, segment)
    if own is not None or segment == WHOLE_TYPE:
        return own
    return rules.placement(alert_type_id, WHOLE_TYPE)


def priority_expressions(rules: CanvasRules, *, alert_type_ids: set[int] | None = None) -> dict:
    """`priority` and `quadrant` for `QuerySet.update`: one CASE each over every placement in force.

    Segments come first and the whole type after, so an alert takes its segment's place when the
    segment has one (the first WHEN that holds wins) and its type's otherwise; an alert of an
    unplaced card gets priority 0 and the quadrant "unplaced".
    """
    segment_whens, type_whens = [], []
    for (type_id, segment), placement in sorted(rules.placements.items()):
        if not placement.is_placed or (alert_type_ids is not None and type_id not in alert_type_ids):
            continue
        if segment == WHOLE_TYPE:
            type_whens.append((Q(alert_type_id=type_id), placement))
        elif (condition := rules.segment_condition(type_id, segment)) is not None:
            segment_whens.append((Q(alert_type_id=type_id) & condition, placement))
    whens = segment_whens + type_whens
    return {
        "priority": Case(
            *(When(condition, then=Value(placement.priority)) for condition, placement in whens),
            default=Value(0),
            output_field=IntegerField(),
        ),
        "quadrant": Case(
            *(When(condition, then=Value(placement.quadrant)) for condition, placement in whens),
            default=Value(Quadrant.UNPLACED),
            output_field=CharField(),
        ),
    }


# --- The board ------------------------------------------------------------------------------------


@dataclass
class Card:
    """One card of the board: an alert type or a segment of one, its place and its live alerts."""

    alert_type: AlertType
    segment: str
    label: str
    open_count: int
    urgency: int | None = None
    advice_sensitivity: int | None = None
    has_segments: bool = False  # for a whole-type card: the type is split, this card takes the rest

    @property
    def key(self) -> str:
        """Unique on the board and safe in HTML attributes and form values."""
        return f"{self.alert_type.key}|{self.segment}"

    @property
    def is_placed(self) -> bool:
        return self.urgency is not None and self.advice_sensitivity is not None

    @property
    def priority(self) -> int:
        return priority_for(self.urgency, self.advice_sensitivity) if self.is_placed else 0

    @property
    def quadrant(self) -> str:
        return quadrant_for(self.urgency, self.advice_sensitivity)

    @property
    def quadrant_label(self) -> str:
        return Quadrant(self.quadrant).label

    @property
    def type_name(self) -> str:
        return self.alert_type.name

    def as_dict(self) -> dict:
        return {
            "key": self.key,
            "alert_type": self.alert_type.key,
            "segment": self.segment,
            "label": self.label,
            "type_name": self.type_name,
            "open_alerts": self.open_count,
            "urgency": self.urgency,
            "advice_sensitivity": self.advice_sensitivity,
            "priority": self.priority,
            "quadrant": self.quadrant,
        }


@dataclass
class Board:
    cards: list[Card]
    splits: dict[int, Split] = field(default_factory=dict)

    @property
    def placed(self) -> list[Card]:
        return [card for card in self.cards if card.is_placed]

    @property
    def tray(self) -> list[Card]:
        return [card for card in self.cards if not card.is_placed]


def framework_granule_labels() -> dict[str, dict[str, str]]:
    """Per alert type key, the active framework's granules and what they mean (the rule's name, or
    the decision-table row's note, which says it better: "30 and over")."""
    version = framework_version_active()
    labels: dict[str, dict[str, str]] = defaultdict(dict)
    if version is None:
        return labels
    rules = {
        pk: (alert_type, granule or alert_type, name)
        for pk, alert_type, granule, name in Rule.objects.filter(version=version, enabled=True).values_list(
            "pk", "alert_type", "granule", "name"
        )
    }
    for alert_type, granule, name in rules.values():
        labels[alert_type].setdefault(granule, name)
    for rule_id, granule, note in DecisionRow.objects.filter(rule__in=list(rules)).values_list(
        "rule_id", "granule", "note"
    ):
        alert_type, rule_granule, name = rules[rule_id]
        labels[alert_type][granule or rule_granule] = note or name
    return labels


def segment_label(alert_type: AlertType, segment: str, granule_labels: dict[str, dict[str, str]]) -> str:
    if segment == WHOLE_TYPE:
        return alert_type.name
    if is_band_key(segment):
        return band_label(segment)
    label = granule_labels.get(alert_type.key, {}).get(segment) or segment.replace("_", " ").capitalize()
    # "Fixed-interest period ends within 14 days" on the card of "Fixed-interest period ends": "within 14 days".
    if label.lower().startswith(alert_type.name.lower()) and (rest := label[len(alert_type.name) :].strip(" :·-–")):
        return rest
    return label


def card_counts(rules: CanvasRules) -> dict[tuple[int, str], int]:
    """Live alerts per alert type and segment key, in one GROUP BY query."""
    segment = Case(
        *(When(alert_type_id=type_id, then=rules.segment_expression(type_id)) for type_id in sorted(rules.splits)),
        default=F("segment"),
        output_field=CharField(),
    )
    rows = (
        Alert.objects.filter(status__in=Alert.LIVE_STATUSES)
        .annotate(canvas_segment=segment)
        .values("alert_type_id", "canvas_segment")
        .annotate(count=Count("pk"))
        .order_by()
    )
    return {(row["alert_type_id"], row["canvas_segment"]): row["count"] for row in rows}


def canvas_board(*, version: int | None = None, rules: CanvasRules | None = None) -> Board:
    """Every alert type and every segment of a split type, each with its live alerts and its place.

    With `version`, the places are those after that change of the history (the counts are today's).
    """
    rules = rules or canvas_rules()
    counts = card_counts(rules)
    granule_labels = framework_granule_labels()
    positions = placements_at(version=version) if version is not None else None
    cards = []
    for alert_type in AlertType.objects.order_by("name"):
        segments = _segments_of(rules, alert_type, counts, granule_labels)
        placed = set(rules.placed_segments(alert_type.pk))
        cards.append(
            Card(
                alert_type=alert_type,
                segment=WHOLE_TYPE,
                label=alert_type.name,
                open_count=sum(
                    count for (type_id, key), count in counts.items() if type_id == alert_type.pk and key not in placed
                ),
                has_segments=bool(segments),
            )
        )
        cards += [
            Card(
                alert_type=alert_type,
                segment=segment,
                label=segment_label(alert_type, segment, granule_labels),
                open_count=counts.get((alert_type.pk, segment), 0),
            )
            for segment in segments
        ]
    for card in cards:
        if positions is not None:
            card.urgency, card.advice_sensitivity = positions.get((card.alert_type.pk, card.segment)) or (None, None)
        elif (placement := rules.placement(card.alert_type.pk, card.segment)) is not None:
            card.urgency, card.advice_sensitivity = placement.urgency, placement.advice_sensitivity
    return Board(cards=cards, splits=rules.splits)


def _segments_of(rules: CanvasRules, alert_type: AlertType, counts, granule_labels) -> list[str]:
    """The segment cards of a type: its split's bands, or the framework's granules of it (those the
    active framework raises, those live alerts have, those placed). One granule is no split."""
    split = rules.splits.get(alert_type.pk)
    if split is not None:
        return split.keys
    granules = set(granule_labels.get(alert_type.key, {}))
    granules |= {key for (type_id, key), _count in counts.items() if type_id == alert_type.pk}
    granules |= {key for (type_id, key), p in rules.placements.items() if type_id == alert_type.pk and p.is_placed}
    granules = {key for key in granules if key != WHOLE_TYPE and not is_band_key(key)}
    if len(granules) <= 1 and not rules.placed_segments(alert_type.pk):
        return []  # the whole type is one card
    return sorted(granules)


# --- History and versions -------------------------------------------------------------------------


def placement_history(*, limit: int | None = 50) -> list[PlacementChange]:
    """The latest changes, newest first, each with `card_label` (what moved) and `split_label`
    (how the type was split, for a granulation change)."""
    changes = PlacementChange.objects.select_related("alert_type", "user", "undoes", "undone_by").order_by("-id")
    changes = list(changes[:limit] if limit else changes)
    granule_labels = framework_granule_labels()
    for change in changes:
        change.card_label = segment_label(change.alert_type, change.segment, granule_labels)
        change.split_label = _split_label(change.split) if change.split is not None else ""
    return changes


def _split_label(split: dict) -> str:
    attribute = split.get("attribute", "")
    if attribute not in Attribute.values:
        return _("split by the framework's granules")
    keys = split_keys(attribute, split.get("bounds") or [])
    return _("split by %(attribute)s: %(bands)s") % {
        "attribute": Attribute(attribute).label.lower(),
        "bands": ", ".join(band_label(key) for key in keys),
    }


def placements_at(*, version: int) -> dict[tuple[int, str], tuple[int, int] | None]:
    """The canvas as it was right after change `version`: each card's scores (None = in the tray).

    Two queries: the last change of each card up to that version, then those changes.
    """
    last = (
        PlacementChange.objects.filter(pk__lte=version)
        .values("alert_type_id", "segment")
        .annotate(last_id=Max("pk"))
        .order_by()
        .values_list("last_id", flat=True)
    )
    return {
        (change.alert_type_id, change.segment): (
            (change.to_urgency, change.to_advice_sensitivity) if change.is_placed else None
        )
        for change in PlacementChange.objects.filter(pk__in=list(last))
    }


@dataclass(frozen=True)
class Difference:
    alert_type: AlertType
    segment: str
    label: str
    before: tuple[int, int] | None
    after: tuple[int, int] | None

    @property
    def before_quadrant(self) -> str:
        return quadrant_for(*(self.before or (None, None)))

    @property
    def after_quadrant(self) -> str:
        return quadrant_for(*(self.after or (None, None)))

    @property
    def before_quadrant_label(self) -> str:
        return Quadrant(self.before_quadrant).label

    @property
    def after_quadrant_label(self) -> str:
        return Quadrant(self.after_quadrant).label

    @property
    def before_priority(self) -> int | None:
        return priority_for(*self.before) if self.before else None

    @property
    def after_priority(self) -> int | None:
        return priority_for(*self.after) if self.after else None


def canvas_compare(*, version_a: int, version_b: int) -> list[Difference]:
    """The cards whose place differs between two versions, with both places."""
    before, after = placements_at(version=version_a), placements_at(version=version_b)
    keys = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    types = AlertType.objects.in_bulk({type_id for type_id, _segment in keys})
    granule_labels = framework_granule_labels()
    differences = [
        Difference(
            alert_type=types[type_id],
            segment=segment,
            label=segment_label(types[type_id], segment, granule_labels),
            before=before.get((type_id, segment)),
            after=after.get((type_id, segment)),
        )
        for type_id, segment in keys
    ]
    return sorted(differences, key=lambda difference: (difference.alert_type.name, difference.segment))


def canvas_versions(*, limit: int = 200) -> list[tuple[int, str]]:
    """The versions to choose from (newest first): each change, as (id, a short description)."""
    return [
        (change.pk, _version_label(change))
        for change in PlacementChange.objects.select_related("alert_type", "user").order_by("-id")[:limit]
    ]


def _version_label(change: PlacementChange) -> str:
    who = (change.user.get_full_name() or change.user.username) if change.user else _("Steward")
    when = timezone.localtime(change.at).strftime("%Y-%m-%d %H:%M")
    return f"#{change.pk} · {when} · {who} · {change.alert_type.name}"


def latest_version() -> int | None:
    return PlacementChange.objects.aggregate(latest=Max("pk"))["latest"]
