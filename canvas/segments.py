"""Granulation: how an alert type is split into segments, each placed on the canvas on its own.

By default an alert type's segments are the framework's granules: the rule (or decision-table row)
that raised the alert names its granule, and the framework stores it on the alert (`Alert.segment`),
e.g. `fixed_rate_within_14_days` and `fixed_rate_within_6_months`.

Back office can instead split a type by one attribute of the client or the alert (a `Split`): age
band, household situation, days to the deadline, or number of discrepancies in the client's file.
A split's segments are bands with a key that says what they are ("days:0-14", "age:30+"), so a key
can be read back into a label even after the split has changed, and it never collides with a
framework granule (those are identifiers, without ":").

Which segment an alert is in is never stored: it is a condition on the alert's row (its `segment`,
its `granulation` attributes or its `due_date`), so a move re-prioritises a segment in one UPDATE
and the alert's segment follows its data by itself. Days to the deadline are counted from today,
from the due date, so a nightly re-application moves alerts into the next band as time passes.

Everything here is pure: keys, labels and query conditions, no database access.
"""

import re
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from enrichment.models import HouseholdType
from framework.selectors import AGE_BANDS

WHOLE_TYPE = ""  # the segment key of the card that stands for the whole alert type


class Attribute(models.TextChoices):
    AGE = "age", gettext_lazy("Age band")
    HOUSEHOLD = "household", gettext_lazy("Household situation")
    DAYS = "days", gettext_lazy("Days to the deadline")
    DISCREPANCIES = "discrepancies", gettext_lazy("Number of discrepancies in the client's file")


# The framework only stores the client's age band (framework.selectors.AGE_BANDS), so an age split
# can cut only where a band starts.
AGE_BOUNDS = tuple(low for low, _high, _band in AGE_BANDS if low is not None)
MAX_BOUNDS = 5
BAND_KEY = re.compile(r"^(?P<attribute>age|days|discrepancies):(?P<low>\d+)(?:-(?P<high>\d+)|\+)$")


@dataclass(frozen=True)
class Band:
    """One segment of a split: the key the canvas places, and the label people read."""

    key: str
    label: str


def bounds_parse(attribute: str, text: str) -> list[int]:
    """The bounds typed on the canvas ("14, 183") as a sorted list; raises ValidationError if unusable."""
    if attribute == Attribute.HOUSEHOLD:
        return []
    try:
        bounds = sorted({int(part) for part in re.split(r"[\s,;]+", text.strip()) if part})
    except ValueError as error:
        raise ValidationError(_("Type whole numbers separated by commas, e.g. 14, 183.")) from error
    bounds_validate(attribute, bounds)
    return bounds


def bounds_validate(attribute: str, bounds: list[int]) -> None:
    if attribute not in Attribute.values:
        raise ValidationError(_("Choose what to split the alert type by."))
    if attribute == Attribute.HOUSEHOLD:
        return
    if not bounds:
        raise ValidationError(_("Give at least one boundary, e.g. 14 for within 14 days and later."))
    if len(bounds) > MAX_BOUNDS:
        raise ValidationError(_("At most %(count)s boundaries.") % {"count": MAX_BOUNDS})
    if bounds != sorted(set(bounds)) or bounds[0] < 1:
        raise ValidationError(_("Boundaries are different whole numbers from 1 upwards."))
    if attribute == Attribute.AGE and not set(bounds) <= set(AGE_BOUNDS):
        raise ValidationError(
            _("An age split can start a band at %(ages)s only (the framework's age bands).")
            % {"ages": ", ".join(str(age) for age in AGE_BOUNDS)}
        )


def split_keys(attribute: str, bounds: list[int]) -> list[str]:
    """The segment keys of a split, in order: e.g. days with bounds [14, 183] gives
    days:0-14, days:15-183 and days:184+; age with [30] gives age:0-29 and age:30+."""
    if attribute == Attribute.HOUSEHOLD:
        return [f"household:{value}" for value in HouseholdType.values]
    if attribute == Attribute.AGE:
        # An age bound starts a band (30 = "30 and over"); the other attributes' bounds end one (14 = "within 14").
        edges = [0, *bounds]
        return [f"age:{low}-{high - 1}" for low, high in pairwise(edges)] + [f"age:{bounds[-1]}+"]
    first = 1 if attribute == Attribute.DISCREPANCIES else 0
    edges = [first - 1, *bounds]
    keys = [f"{attribute}:{low + 1}-{high}" for low, high in pairwise(edges)]
    return [*keys, f"{attribute}:{bounds[-1] + 1}+"]


def _parse(key: str) -> tuple[str, int, int | None] | None:
    match = BAND_KEY.match(key)
    if not match:
        return None
    high = match["high"]
    return match["attribute"], int(match["low"]), int(high) if high is not None else None


def is_band_key(key: str) -> bool:
    return ":" in key


def band_label(key: str) -> str:
    """What a split's segment key means, in words ("within 14 days", "30 and over")."""
    if key.startswith("household:"):
        value = key.removeprefix("household:")
        return str(HouseholdType(value).label) if value in HouseholdType.values else value
    parsed = _parse(key)
    if parsed is None:
        return key
    attribute, low, high = parsed
    if attribute == "age":
        if high is None:
            return _("%(low)s and over") % {"low": low}
        if low == 0:
            return _("under %(age)s") % {"age": high + 1}
        return _("%(low)s to %(high)s years") % {"low": low, "high": high}
    if attribute == "days":
        if high is None:
            return _("more than %(days)s days away") % {"days": low - 1}
        if low == 0:
            return _("within %(days)s days") % {"days": high}
        return _("in %(low)s to %(high)s days") % {"low": low, "high": high}
    if high is None:
        return ngettext("%(count)s or more discrepancy", "%(count)s or more discrepancies", low) % {"count": low}
    if low == high:
        return ngettext("%(count)s discrepancy", "%(count)s discrepancies", low) % {"count": low}
    return _("%(low)s to %(high)s discrepancies") % {"low": low, "high": high}


def band_condition(key: str, *, today: date) -> Q:
    """The alerts in this segment, as a condition on the alert's row.

    An alert whose attribute is unknown (no due date, an unknown age band, no count) is in no band:
    it falls back to the card of the whole type.
    """
    if key.startswith("household:"):
        return Q(granulation__household_type=key.removeprefix("household:"))
    parsed = _parse(key)
    if parsed is None:
        return Q(pk__in=[])
    attribute, low, high = parsed
    if attribute == "age":
        bands = [
            band
            for band_low, band_high, band in AGE_BANDS
            if (band_low or 0) >= low and (high is None or (band_high is not None and band_high - 1 <= high))
        ]
        return Q(granulation__age_band__in=bands)
    if attribute == "days":
        # Counted from today and the due date: the stored days_to_deadline is as old as the alert's last change.
        condition = Q(due_date__isnull=False)
        if low > 0:
            condition &= Q(due_date__gte=today + timedelta(days=low))
        if high is not None:
            condition &= Q(due_date__lte=today + timedelta(days=high))
        return condition
    # Both ends always: on PostgreSQL a JSON null sorts below every number, so an open end would take it in.
    condition = Q(granulation__discrepancy_count__gte=low)
    return condition & Q(granulation__discrepancy_count__lte=high if high is not None else 1_000_000)


def band_matches(key: str, *, granulation: dict, due_date: date | None, today: date) -> bool:
    """`band_condition` in Python, for an alert not written yet (its place is set before the INSERT).

    Kept next to the query condition it mirrors; a test checks the two agree.
    """
    if key.startswith("household:"):
        return granulation.get("household_type") == key.removeprefix("household:")
    parsed = _parse(key)
    if parsed is None:
        return False
    attribute, low, high = parsed
    if attribute == "age":
        bands = [
            band
            for band_low, band_high, band in AGE_BANDS
            if (band_low or 0) >= low and (high is None or (band_high is not None and band_high - 1 <= high))
        ]
        return granulation.get("age_band") in bands
    if attribute == "days":
        if due_date is None:
            return False
        if low > 0 and due_date < today + timedelta(days=low):
            return False
        return high is None or due_date <= today + timedelta(days=high)
    count = granulation.get("discrepancy_count")
    if not isinstance(count, int) or isinstance(count, bool):
        return False
    return low <= count <= (high if high is not None else 1_000_000)
