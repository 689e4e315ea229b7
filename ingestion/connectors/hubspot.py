"""HubSpot CRM v3 contacts (shapes from HubSpot's published OpenAPI description).

Three ways in:
- full sync: GET /crm/v3/objects/contacts, `after` paging, first live then archived contacts;
- incremental: POST /crm/v3/objects/contacts/search, `lastmodifieddate GTE since`, ascending;
- targeted (webhooks): POST /crm/v3/objects/contacts/batch/read, live then archived.

Why incremental pages by timestamp rather than by `after`: search's `after` is an offset into a
live index. A contact modified mid-run jumps to the end of the ascending order and shifts every
later one a place back, so offset paging silently skips an *unmodified* contact, one the next
run's `modified_since` will not catch either. Each page is therefore a new query from the newest
`lastmodifieddate` seen so far, skipping the ids already returned at exactly that timestamp. This
also keeps every query far from HubSpot's cap of 10,000 results per search. `after` is used only
inside a group of more than a page of contacts sharing one millisecond (bulk imports); past the
cap such a group cannot be read through search at all, and the connector says so.

Watermark: start the next run from when this run *started*, minus a minute for HubSpot's search
indexing lag; contacts modified during the run are then fetched again, never missed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from .base import (
    ConfigurationError,
    Connector,
    Page,
    PermanentSourceError,
    QuotaExhausted,
    RecordInvalid,
    RejectedRecord,
    SourceError,
    SourceRecord,
    parse_iso_datetime,
    require_aware,
)
from .http import BearerToken, HttpClient, http_settings

logger = logging.getLogger(__name__)

CONTACTS = "/crm/v3/objects/contacts"
SEARCH = f"{CONTACTS}/search"
BATCH_READ = f"{CONTACTS}/batch/read"

# What Steward reads by default; a firm's config may add its own custom properties.
DEFAULT_PROPERTIES = (
    "firstname",
    "lastname",
    "email",
    "phone",
    "mobilephone",
    "date_of_birth",
    "address",
    "zip",
    "city",
    "country",
    "hs_object_id",
    "createdate",
    "lastmodifieddate",
    "annual_income",
    "mortgage_fixed_rate_end_date",
)
LIST_PAGE_MAX = 100  # GET list and batch/read take at most 100
SEARCH_RESULT_CAP = 10_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class HubSpotConnector(Connector):
    """Contacts from one HubSpot account, with a private-app token.

    config: `properties` (list), `page_size` (≤100), `include_archived` (a full sync ends with the
    archived contacts, marked archived, so it sees deletions too; default True),
    `account_timezone` (when the daily quota resets; default Europe/Amsterdam),
    `base_url`, `search_result_cap` (HubSpot's 10,000; lower only in tests),
    and the transport knobs of `http_settings` (`timeout_seconds`, `max_attempts`,
    `backoff_base_seconds`, `backoff_max_seconds`, `max_retry_after_seconds`).
    credentials: `access_token` (a private-app token).
    """

    kind = "hubspot"

    def __init__(self, config: Mapping[str, Any], credentials: Mapping[str, Any], **options: Any) -> None:
        transport: httpx.BaseTransport | None = options.pop("transport", None)
        super().__init__(config, credentials, **options)
        token = credentials.get("access_token")
        if not isinstance(token, str) or not token:
            raise ConfigurationError("HubSpot needs credentials['access_token'] (a private-app token)")
        properties = config.get("properties") or DEFAULT_PROPERTIES
        if isinstance(properties, str) or not all(isinstance(p, str) and p for p in properties):
            raise ConfigurationError("HubSpot 'properties' must be a list of property names")
        # Paging and incremental sync depend on these three; always ask for them.
        self.properties = list(dict.fromkeys([*properties, "hs_object_id", "createdate", "lastmodifieddate"]))
        self.page_size = int(config.get("page_size", LIST_PAGE_MAX))
        if not 1 <= self.page_size <= LIST_PAGE_MAX:
            raise ConfigurationError(f"HubSpot page_size must be between 1 and {LIST_PAGE_MAX}")
        self.include_archived = bool(config.get("include_archived", True))
        self.search_result_cap = int(config.get("search_result_cap", SEARCH_RESULT_CAP))
        if self.search_result_cap < self.page_size:
            raise ConfigurationError("search_result_cap must be at least page_size")
        try:
            self.account_timezone = ZoneInfo(config.get("account_timezone", "Europe/Amsterdam"))
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ConfigurationError("HubSpot account_timezone is not a known time zone") from None
        self.http = HttpClient(
            base_url=config.get("base_url", "https://api.hubapi.com"),
            auth=BearerToken(token),
            classify=self._classify,
            sleep=self.sleep,
            clock=self.clock,
            now=self.now,
            transport=transport,
            **http_settings(config),
        )

    def close(self) -> None:
        self.http.close()

    # -- the contract --

    def fetch_page(self, cursor: str | None, modified_since: datetime | None) -> Page:
        if cursor is None:
            if modified_since is None:
                state: dict[str, Any] = {"mode": "list", "archived": False, "after": None}
            else:
                since = require_aware(modified_since, "modified_since")
                state = {"mode": "search", "since": _to_ms(since), "after": None, "skip": []}
        else:
            state = _decode_cursor(cursor)
        if state["mode"] == "list":
            return self._list_page(state)
        return self._search_page(state)

    def fetch_records(self, ids: list[str]) -> Page:
        wanted = list(dict.fromkeys(str(i) for i in ids if str(i).strip()))
        records: list[SourceRecord] = []
        rejected: list[RejectedRecord] = []
        for chunk in _chunks(wanted, LIST_PAGE_MAX):
            found = self._batch_read(chunk, archived=False, records=records, rejected=rejected)
            missing = [record_id for record_id in chunk if record_id not in found]
            if missing:
                # Deleted contacts are archived first; batch/read returns them only when asked.
                self._batch_read(missing, archived=True, records=records, rejected=rejected)
        return Page(records=records, next_cursor=None, rejected=rejected)

    def list_all_ids(self) -> Iterator[str]:
        after: str | None = None
        while True:
            params = {
                "limit": LIST_PAGE_MAX,
                "archived": "false",
                "properties": "hs_object_id",
                "after": after,
            }
            body = self.http.request_json("GET", CONTACTS, params=params).data
            results, after = _results_and_after(body)
            for obj in results:
                record_id = obj.get("id") if isinstance(obj, dict) else None
                if record_id is None or str(record_id) == "":
                    logger.warning("HubSpot listed a contact without an id; skipped")
                    continue
                yield str(record_id)
            if not after:
                return

    def partition_cursors(self, parts: int) -> list[str] | None:
        """Split a full sync by ranges of contact id: the list endpoint pages in id order, and
        `after` is the id the next page starts from. The live contacts' lowest and highest ids
        (two requests) bound the ranges; the last range also reads the archived contacts."""
        if parts < 2:
            return None
        first = self.http.request_json(
            "GET", CONTACTS, params={"limit": 1, "archived": "false", "properties": "hs_object_id"}
        ).data
        last = self.http.request_json(
            "POST",
            SEARCH,
            json_body={
                "sorts": [{"propertyName": "hs_object_id", "direction": "DESCENDING"}],
                "properties": ["hs_object_id"],
                "limit": 1,
            },
        ).data
        lowest, highest = _first_numeric_id(first), _first_numeric_id(last)
        if lowest is None or highest is None or highest - lowest < parts:
            return None
        step = (highest + 1 - lowest) // parts
        bounds = [lowest + step * index for index in range(parts)]
        cursors = []
        for index, start in enumerate(bounds):
            state: dict[str, Any] = {"mode": "list", "archived": False, "after": str(start)}
            if index + 1 < parts:
                state["before"] = bounds[index + 1]  # ids from here on belong to the next range
            cursors.append(_encode_cursor(state))
        return cursors

    # -- full sync --

    def _list_page(self, state: dict[str, Any]) -> Page:
        params = {
            "limit": self.page_size,
            "properties": ",".join(self.properties),
            "archived": "true" if state["archived"] else "false",
            "after": state["after"],
        }
        body = self.http.request_json("GET", CONTACTS, params=params).data
        results, after = _results_and_after(body)
        records, rejected = _read_objects(results)
        before = state.get("before")
        if before is not None:
            # A range of a partitioned sync (see partition_cursors) ends where the next one starts.
            records = [record for record in records if _id_below(record.record_id, before)]
            rejected = [item for item in rejected if _id_below(item.record_id, before)]
            if after and not _id_below(after, before):
                after = None
            if after is None:
                return Page(records=records, next_cursor=None, rejected=rejected)
        if after:
            next_state: dict[str, Any] | None = {**state, "after": after}
        elif not state["archived"] and self.include_archived:
            next_state = {"mode": "list", "archived": True, "after": None}
        else:
            next_state = None
        return Page(records=records, next_cursor=_encode_cursor(next_state), rejected=rejected)

    # -- incremental --

    def _search_page(self, state: dict[str, Any]) -> Page:
        since_ms: int = state["since"]
        after: str | None = state.get("after")
        skip = set(state.get("skip", []))
        request = {
            "filterGroups": [
                {"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(since_ms)}]}
            ],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": self.properties,
            "limit": self.page_size,
        }
        if after is not None:
            request["after"] = after
        body = self.http.request_json("POST", SEARCH, json_body=request).data
        results, next_after = _results_and_after(body)
        records, rejected = _read_objects(results)

        kept: list[SourceRecord] = []
        newest_ms: int | None = None
        newest_ids: list[str] = []
        for record in records:
            modified_ms = _modified_ms(record)
            if modified_ms <= since_ms and record.record_id in skip:
                continue  # returned by an earlier page
            kept.append(record)
            if newest_ms is None or modified_ms > newest_ms:
                newest_ms, newest_ids = modified_ms, [record.record_id]
            elif modified_ms == newest_ms:
                newest_ids.append(record.record_id)
        total = body.get("total") if isinstance(body.get("total"), int) else None
        if not next_after:
            return Page(records=kept, next_cursor=None, rejected=rejected, total=total)

        if newest_ms is not None and newest_ms > since_ms:
            # The usual case: the next page is a new query from the newest timestamp on this one.
            next_state: dict[str, Any] = {"mode": "search", "since": newest_ms, "skip": newest_ids}
        else:
            # The whole page shares the query's timestamp: page inside it with `after`, up to the
            # per-query cap HubSpot enforces.
            next_offset = _offset(next_after, fallback=_offset(after, 0) + len(results))
            if next_offset + self.page_size > self.search_result_cap:
                raise PermanentSourceError(
                    f"more than {self.search_result_cap} HubSpot contacts share lastmodifieddate "
                    f"{since_ms}; the search API cannot page past them"
                )
            next_state = {
                "mode": "search",
                "since": since_ms,
                "skip": sorted(skip | {r.record_id for r in kept}),
                "after": next_after,
            }
        return Page(records=kept, next_cursor=_encode_cursor(next_state), rejected=rejected, total=total)

    # -- targeted --

    def _batch_read(
        self,
        ids: list[str],
        *,
        archived: bool,
        records: list[SourceRecord],
        rejected: list[RejectedRecord],
    ) -> set[str]:
        body = self.http.request_json(
            "POST",
            BATCH_READ,
            params={"archived": "true" if archived else "false"},
            json_body={
                "inputs": [{"id": record_id} for record_id in ids],
                "properties": self.properties,
                "propertiesWithHistory": [],
            },
        ).data
        # 207 lists the ids it could not find under `errors`; those are simply absent from results.
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise PermanentSourceError("HubSpot batch/read answered without a results list")
        found, problems = _read_objects(results)
        records.extend(found)
        rejected.extend(problems)
        return {record.record_id for record in found} | {p.record_id for p in problems if p.record_id}

    # -- errors --

    def _classify(self, response: httpx.Response) -> SourceError | None:
        """HubSpot's daily limit is a 429 too, but waiting seconds will not help: stop until reset."""
        if response.status_code != 429:
            return None
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        policy = payload.get("policyName") if isinstance(payload, dict) else None
        if policy == "DAILY" or response.headers.get("X-HubSpot-RateLimit-Daily-Remaining") == "0":
            return QuotaExhausted("HubSpot daily API limit reached", reset_at=self._next_midnight())
        return None

    def _next_midnight(self) -> datetime:
        # HubSpot resets the daily limit at midnight in the account's time zone.
        local_now = self.now().astimezone(self.account_timezone)
        return datetime.combine(local_now.date() + timedelta(days=1), time(0), tzinfo=self.account_timezone)


# --- reading objects ----------------------------------------------------------------------------


def _read_objects(results: list[Any]) -> tuple[list[SourceRecord], list[RejectedRecord]]:
    records: list[SourceRecord] = []
    rejected: list[RejectedRecord] = []
    for obj in results:
        try:
            records.append(read_contact(obj))
        except RecordInvalid as exc:
            rejected.append(RejectedRecord(record_id=exc.record_id, raw=obj, reason=exc.reason))
    return records, rejected


def read_contact(obj: Any) -> SourceRecord:
    """A `SimplePublicObject` as a SourceRecord; raises RecordInvalid with the reason."""
    if not isinstance(obj, dict):
        raise RecordInvalid(f"expected an object, got {type(obj).__name__}")
    raw_id = obj.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or str(raw_id).strip() == "":
        raise RecordInvalid("missing 'id'")
    record_id = str(raw_id)
    properties = obj.get("properties")
    if not isinstance(properties, dict):
        raise RecordInvalid("'properties' is not an object", record_id)
    archived = obj.get("archived", False)
    if not isinstance(archived, bool):
        raise RecordInvalid("'archived' is not a boolean", record_id)
    try:
        changed_at = parse_iso_datetime(obj.get("updatedAt"))
        if archived and obj.get("archivedAt"):
            changed_at = max(changed_at, parse_iso_datetime(obj["archivedAt"]))
        if properties.get("lastmodifieddate"):
            parse_iso_datetime(properties["lastmodifieddate"])  # search pages by it: must be readable
    except RecordInvalid as exc:
        raise RecordInvalid(exc.reason, record_id) from None
    return SourceRecord(record_id=record_id, changed_at=changed_at, archived=archived, data=dict(properties))


def _modified_ms(record: SourceRecord) -> int:
    value = record.data.get("lastmodifieddate")
    return _to_ms(parse_iso_datetime(value)) if value else _to_ms(record.changed_at)


def _results_and_after(body: Any) -> tuple[list[Any], str | None]:
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise PermanentSourceError("HubSpot answered without a results list")
    paging = body.get("paging")
    after = None
    if isinstance(paging, dict) and isinstance(paging.get("next"), dict):
        after = paging["next"].get("after")
    return body["results"], (str(after) if after not in (None, "") else None)


def _first_numeric_id(body: Any) -> int | None:
    results, _ = _results_and_after(body)
    try:
        return int(results[0]["id"]) if results else None
    except (KeyError, TypeError, ValueError):
        return None


def _id_below(record_id: str | None, bound: int) -> bool:
    """Whether a contact id falls before a range's end; an id that is no number stays in the range
    that read it (HubSpot's ids are numbers; nothing is ever dropped for not being one)."""
    try:
        return int(record_id) < bound
    except (TypeError, ValueError):
        return True


def _offset(after: str | None, fallback: int) -> int:
    # Search's `after` is an offset in practice; if HubSpot ever makes it opaque, count ourselves.
    try:
        return int(after) if after is not None else fallback
    except ValueError:
        return fallback


def _to_ms(moment: datetime) -> int:
    # Integer arithmetic: float timestamps round 10:00:00.123 down to .122 now and then.
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _encode_cursor(state: dict[str, Any] | None) -> str | None:
    return None if state is None else json.dumps(state, separators=(",", ":"))


def _decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        state = json.loads(cursor)
    except ValueError:
        raise ConfigurationError("not a HubSpot cursor") from None
    if not isinstance(state, dict) or state.get("mode") not in ("list", "search"):
        raise ConfigurationError("not a HubSpot cursor")
    return state
