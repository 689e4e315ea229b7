"""The connector contract: what every source hands the sync engine, and how it fails.

A connector is pure transport. It knows how to page through one external system and turn each
raw record into a `SourceRecord` (id, change time, archived flag, raw properties); it knows
nothing about Steward's models, field mapping or precedence. The sync engine stores the opaque
`next_cursor` between calls, so a sync can stop after any page and resume later.

Failures are typed so the caller can decide without parsing messages: wait and retry
(`RateLimited`, `TransientSourceError`), stop until tomorrow (`QuotaExhausted`), or alert a human
(`AuthenticationFailed`, `PermanentSourceError`, `ConfigurationError`). A single malformed record
never fails its page: it comes back in `Page.rejected` so the caller can quarantine it.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record as the source holds it; `data` is raw (strings stay strings)."""

    record_id: str
    changed_at: datetime
    archived: bool
    data: dict[str, Any]

    def __post_init__(self) -> None:
        if not isinstance(self.record_id, str) or not self.record_id:
            raise ValueError("record_id must be a non-empty string")
        if self.changed_at.tzinfo is None or self.changed_at.utcoffset() is None:
            raise ValueError("changed_at must be timezone-aware")


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """A record the connector could not read; the caller quarantines it, the page still lands."""

    record_id: str | None
    raw: Any
    reason: str


@dataclass(frozen=True, slots=True)
class Page:
    """A batch of records; `next_cursor` is None when there is nothing more to fetch.

    `total`, when the source tells, is how many records the query matches from this page on
    (for a progress bar; it shrinks as an incremental run advances).
    """

    records: list[SourceRecord]
    next_cursor: str | None
    rejected: list[RejectedRecord] = field(default_factory=list)
    total: int | None = None


class RecordInvalid(ValueError):
    """Raised while reading one raw record; becomes a `RejectedRecord`, never escapes a page."""

    def __init__(self, reason: str, record_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.record_id = record_id


# --- Errors -------------------------------------------------------------------------------------


class SourceError(Exception):
    """Base of every failure a connector raises; `retryable` tells the caller whether to try later."""

    retryable: ClassVar[bool] = False


class TransientSourceError(SourceError):
    """5xx, timeouts, dropped connections, bodies that are not the JSON promised. Try again later."""

    retryable = True

    def __init__(self, message: str, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class RateLimited(TransientSourceError):
    """HTTP 429: the source asked us to slow down for `retry_after_seconds` (None if it did not say)."""


class QuotaExhausted(SourceError):
    """A daily (or longer) quota is used up; nothing will succeed before `reset_at`."""

    def __init__(self, message: str, reset_at: datetime | None) -> None:
        super().__init__(message)
        self.reset_at = reset_at


class AuthenticationFailed(SourceError):
    """401/403: the credentials are wrong, expired or lack a scope. Retrying cannot fix it."""


class PermanentSourceError(SourceError):
    """Any other refusal (400, 404, 422...): our request is wrong for this source; retrying won't help."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ConfigurationError(SourceError, ValueError):
    """The connector's config dict or credentials are incomplete or contradictory."""


# --- The contract -------------------------------------------------------------------------------


class Connector(ABC):
    """Reads one source. Construct from plain dicts so configs can live in the database.

    `sleep`, `clock` (monotonic seconds) and `now` (aware wall time) are injectable so tests run
    fast while still asserting every wait; `transport` lets a test route httpx elsewhere.
    """

    kind: ClassVar[str]

    def __init__(
        self,
        config: Mapping[str, Any],
        credentials: Mapping[str, Any],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.sleep = sleep
        self.clock = clock
        self.now = now or utc_now

    @abstractmethod
    def fetch_page(self, cursor: str | None, modified_since: datetime | None) -> Page:
        """The next page. Pass `cursor=None` to start; `modified_since` is only read then.

        With `modified_since=None` the connector pages through everything (a full sync).
        """

    @abstractmethod
    def fetch_records(self, ids: list[str]) -> Page:
        """The current state of these records (for webhook-driven syncs).

        Ids the source no longer knows at all are absent from the result: the caller treats
        them as deleted. `next_cursor` is always None.
        """

    @abstractmethod
    def list_all_ids(self) -> Iterator[str]:
        """Every live (not archived) record id, for periodic deletion reconciliation."""

    def partition_cursors(self, parts: int) -> list[str] | None:
        """Start cursors that split a full sync into `parts` ranges read side by side, or None.

        Each range's pages end where the next range starts (its last page has no next cursor),
        so the ranges together read exactly what one full sync from `cursor=None` reads. None:
        this source cannot be split (the sync then runs as one range).
        """
        return None

    def iter_pages(self, modified_since: datetime | None = None) -> Iterator[Page]:
        """Every page of one sync run, for callers that do not need to stop between pages."""
        cursor: str | None = None
        while True:
            page = self.fetch_page(cursor, modified_since if cursor is None else None)
            yield page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def close(self) -> None:  # noqa: B027 - optional hook; connectors without pools need nothing
        """Release pooled connections."""

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        # Never show config or credentials: reprs end up in logs and error reports.
        return f"<{type(self).__name__}>"


def utc_now() -> datetime:
    return datetime.now(UTC)


def require_aware(value: datetime, name: str) -> datetime:
    """Refuse naive datetimes at the boundary instead of guessing their zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value


def parse_iso_datetime(value: Any) -> datetime:
    """An ISO 8601 timestamp with an offset (`2024-05-01T10:00:00.123Z`), in UTC; naive is invalid."""
    if not isinstance(value, str) or not value:
        raise RecordInvalid(f"expected an ISO 8601 timestamp, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RecordInvalid(f"not an ISO 8601 timestamp: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise RecordInvalid(f"timestamp has no UTC offset: {value[:40]!r}")
    return parsed.astimezone(UTC)
