"""Where a value comes from and how old it is.

Every row of the unified client view records the source record it was last written from
(`source`, `source_record_id`, `source_changed_at`, `fetched_at`). A field whose value came from
somewhere else (another source won it, an advisor corrected it, a provider derived it) has an
entry of its own in the row's `provenance` JSON. So the provenance of any value on a page is read
with the row itself: no extra query per field, and no entity-attribute-value table.
"""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

# Sources that are not external systems. Connected systems are named by their source key.
MANUAL = "manual"  # an advisor's correction in Steward
CLIENT = "client"  # the client confirmed or corrected it through a confirmation link
DERIVED = "derived"  # computed by an enrichment provider
GENERATED = "generated"  # synthetic demo or benchmark data

SOURCE_LABELS = {
    MANUAL: _("Manual correction"),
    CLIENT: _("Client"),
    DERIVED: _("Derived"),
    GENERATED: _("Demo data"),
}


def source_label(source: str) -> str:
    """A readable name for a source key; connected systems register theirs in SOURCE_LABELS."""
    if not source:
        return str(_("Unknown"))
    return str(SOURCE_LABELS.get(source, source))


@dataclass(frozen=True)
class Provenance:
    """The origin of one value."""

    source: str
    record_id: str = ""
    fetched_at: datetime | None = None
    changed_at: datetime | None = None
    derived_by: str = ""

    @property
    def source_label(self) -> str:
        return source_label(self.source)

    @property
    def as_of(self) -> datetime | None:
        """When the value was last known to be true: its change in the source, else its fetch."""
        return self.changed_at or self.fetched_at

    def age_days(self, now: datetime | None = None) -> int | None:
        if self.as_of is None:
            return None
        return ((now or timezone.now()) - self.as_of).days

    def to_json(self) -> dict:
        entry = {"source": self.source}
        if self.record_id:
            entry["record"] = self.record_id
        if self.fetched_at:
            entry["fetched"] = self.fetched_at.isoformat()
        if self.changed_at:
            entry["changed"] = self.changed_at.isoformat()
        if self.derived_by:
            entry["by"] = self.derived_by
        return entry

    @classmethod
    def from_json(cls, entry: dict) -> "Provenance":
        return cls(
            source=entry.get("source", ""),
            record_id=entry.get("record", ""),
            fetched_at=_parse(entry.get("fetched")),
            changed_at=_parse(entry.get("changed")),
            derived_by=entry.get("by", ""),
        )


def _parse(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None
