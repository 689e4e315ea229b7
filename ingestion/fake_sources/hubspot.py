"""A local HubSpot CRM v3 contacts API with the shapes of HubSpot's OpenAPI description.

Implements list (GET), search (POST .../search, with its 10,000-result paging cap), batch read
and single read, Bearer auth, the per-10-seconds limit and the daily limit (429 with HubSpot's
`policyName`), plus the faults of `FakeServer`. Contacts are HubSpot property dicts, e.g. from
`dutch_contacts()`; mutate them through `update_contact` / `archive_contact` / `add_contact` so
`lastmodifieddate` moves as it does in HubSpot.
"""

from __future__ import annotations

import bisect
import functools
import json
import operator
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from .generator import hubspot_timestamp
from .server import FakeServer, Fault, RateLimit, RecordedRequest, Response

CONTACTS = "/crm/v3/objects/contacts"
ALWAYS_RETURNED = ("createdate", "hs_object_id", "lastmodifieddate")
LIST_DEFAULTS = ("firstname", "lastname", "email")
SEARCH_DEFAULTS = ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname")
_SINGLE = re.compile(rf"^{CONTACTS}/(?P<id>[^/]+)$")
TEST_TOKEN = "pat-eu1-fake-0000-test"  # noqa: S105 - the fake's default, not a real credential


class FakeHubSpot(FakeServer):
    """HubSpot contacts, 100 per page, over real HTTP on 127.0.0.1."""

    def __init__(
        self,
        contacts: Iterable[Mapping[str, str]] = (),
        *,
        token: str = TEST_TOKEN,
        search_result_cap: int = 10_000,
        ten_second_limit: RateLimit | None = None,
        daily_limit: int | None = None,
        faults: Mapping[int, Fault] | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port, rate_limit=ten_second_limit, faults=faults, clock=clock)
        self.token = token
        self.search_result_cap = search_result_cap
        self.daily_limit = daily_limit
        self.now = now or (lambda: datetime.now(UTC))
        self._data_lock = threading.Lock()
        self._contacts: dict[str, dict[str, Any]] = {}
        self._overrides: dict[str, dict[str, Any]] = {}
        self._version = 0  # bumped by every write; search results are cached per version
        self._search_cache: dict[str, tuple[int, list[tuple[str, dict[str, Any]]]]] = {}
        self._sort_keys: dict[str, list[tuple[int, Any]]] = {}
        self._list_order: dict[bool, tuple[int, list[int], list[str]]] = {}
        self._daily_count = 0
        for properties in contacts:
            self._store(dict(properties))

    # -- test and demo API --

    def add_contact(self, properties: Mapping[str, str]) -> str:
        props = dict(properties)
        stamp = hubspot_timestamp(self.now())
        props.setdefault("createdate", stamp)
        props.setdefault("lastmodifieddate", stamp)
        if "hs_object_id" not in props:
            with self._data_lock:
                props["hs_object_id"] = str(max((int(i) for i in self._contacts), default=1000) + 1)
        return self._store(props)

    def update_contact(self, contact_id: str, *, modified_at: datetime | None = None, **properties: str) -> None:
        with self._data_lock:
            contact = self._contacts[str(contact_id)]
            contact["properties"].update(properties)
            contact["properties"]["lastmodifieddate"] = hubspot_timestamp(modified_at or self.now())
            self._version += 1

    def archive_contact(self, contact_id: str, *, archived_at: datetime | None = None) -> None:
        with self._data_lock:
            contact = self._contacts[str(contact_id)]
            contact["archived"] = True
            contact["archivedAt"] = hubspot_timestamp(archived_at or self.now())
            self._version += 1

    def purge_contact(self, contact_id: str) -> None:
        """A GDPR delete: gone everywhere, archived list included."""
        with self._data_lock:
            self._contacts.pop(str(contact_id), None)
            self._version += 1

    def override_object(self, contact_id: str, **fields: Any) -> None:
        """Corrupt the JSON object sent for a contact (e.g. `updatedAt="gisteren"`) to test rejection."""
        with self._data_lock:
            self._overrides[str(contact_id)] = fields

    def contact_ids(self, *, archived: bool = False) -> list[str]:
        with self._data_lock:
            return [i for i, c in self._sorted_by_id() if c["archived"] == archived]

    # -- HTTP --

    def handle(self, request: RecordedRequest) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return Response(
                401,
                {
                    "status": "error",
                    "message": "Authentication credentials not found.",
                    "correlationId": str(uuid.uuid4()),
                    "category": "INVALID_AUTHENTICATION",
                },
            )
        with self._data_lock:
            self._daily_count += 1
            over_daily = self.daily_limit is not None and self._daily_count > self.daily_limit
        if over_daily:
            return Response(
                429,
                {
                    "status": "error",
                    "message": "You have reached your daily limit.",
                    "errorType": "RATE_LIMIT",
                    "correlationId": str(uuid.uuid4()),
                    "policyName": "DAILY",
                },
                {
                    "X-HubSpot-RateLimit-Daily": str(self.daily_limit),
                    "X-HubSpot-RateLimit-Daily-Remaining": "0",
                },
            )
        if request.method == "GET" and request.path == CONTACTS:
            response = self._list(request)
        elif request.method == "POST" and request.path == f"{CONTACTS}/search":
            response = self._search(request)
        elif request.method == "POST" and request.path == f"{CONTACTS}/batch/read":
            response = self._batch_read(request)
        elif request.method == "GET" and (match := _SINGLE.match(request.path)):
            response = self._get_one(request, match["id"])
        else:
            response = _error(404, "Unknown endpoint", "OBJECT_NOT_FOUND")
        if self.daily_limit is not None:
            response.headers.setdefault("X-HubSpot-RateLimit-Daily", str(self.daily_limit))
            response.headers.setdefault(
                "X-HubSpot-RateLimit-Daily-Remaining", str(max(0, self.daily_limit - self._daily_count))
            )
        return response

    def rate_limited(self, retry_after: str | None) -> Response:
        headers = {"Retry-After": retry_after} if retry_after else {}
        return Response(
            429,
            {
                "status": "error",
                "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": "TEN_SECONDLY_ROLLING",
            },
            headers,
        )

    def error_body(self, status: int) -> Any:
        return {
            "status": "error",
            "message": "internal error" if status >= 500 else f"request failed ({status})",
            "correlationId": str(uuid.uuid4()),
            "category": "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR",
        }

    # -- endpoints --

    def _list(self, request: RecordedRequest) -> Response:
        limit = _int(request.query.get("limit", ["10"])[0], 10)
        if not 1 <= limit <= 100:
            return _error(400, "limit must be between 1 and 100", "VALIDATION_ERROR")
        archived = request.query.get("archived", ["false"])[0].lower() == "true"
        properties = _property_list(request.query.get("properties", [])) or list(LIST_DEFAULTS)
        after = request.query.get("after", [None])[0]
        with self._data_lock:
            numbers, ids = self._ids_in_order(archived)
            # Like HubSpot, `after` is the id of the first contact of the next page.
            start = bisect.bisect_left(numbers, _int(after, 0)) if after is not None else 0
            page = ids[start : start + limit]
            results = [self._object(i, self._contacts[i], properties, list_defaults=True) for i in page]
            next_after = ids[start + limit] if start + limit < len(ids) else None
        body: dict[str, Any] = {"results": results}
        if next_after is not None:
            body["paging"] = {"next": {"after": next_after, "link": f"?after={next_after}"}}
        return Response(200, body)

    def _ids_in_order(self, archived: bool) -> tuple[list[int], list[str]]:
        """The ids of live (or archived) contacts in id order, as numbers and as text.

        Cached until the next write: sorting every contact on every page request cost more, at
        100,000 contacts, than the sync engine spends on the page (the benchmarks serve this fake).
        """
        cached = self._list_order.get(archived)
        if cached is None or cached[0] != self._version:
            ids = [i for i, c in self._sorted_by_id() if c["archived"] == archived]
            cached = self._list_order[archived] = (self._version, [int(i) for i in ids], ids)
        return cached[1], cached[2]

    def _search(self, request: RecordedRequest) -> Response:
        try:
            query = request.json()
        except ValueError:
            return _error(400, "Invalid input JSON", "VALIDATION_ERROR")
        limit = _int(query.get("limit", 10), 10)
        if not 1 <= limit <= 200:
            return _error(400, "limit must be between 1 and 200", "VALIDATION_ERROR")
        offset = _int(query.get("after", 0) or 0, 0)
        if offset + limit > self.search_result_cap:
            # HubSpot refuses to page past the cap of a single search.
            return _error(400, f"Search results are limited to {self.search_result_cap}", "VALIDATION_ERROR")
        properties = query.get("properties") or list(SEARCH_DEFAULTS)
        with self._data_lock:
            matching = self._search_results(query.get("filterGroups") or [], query.get("sorts") or [])
            page = matching[offset : offset + limit]
            results = [self._object(i, c, properties, list_defaults=False) for i, c in page]
        body: dict[str, Any] = {"total": len(matching), "results": results}
        if offset + limit < len(matching):
            body["paging"] = {"next": {"after": str(offset + limit), "link": f"?after={offset + limit}"}}
        return Response(200, body)

    def _batch_read(self, request: RecordedRequest) -> Response:
        try:
            query = request.json()
            inputs = [str(item["id"]) for item in query["inputs"]]
        except (ValueError, KeyError, TypeError):
            return _error(400, "Invalid input JSON", "VALIDATION_ERROR")
        if len(inputs) > 100:
            return _error(400, "Batch read accepts at most 100 inputs", "VALIDATION_ERROR")
        archived = request.query.get("archived", ["false"])[0].lower() == "true"
        properties = query.get("properties") or list(LIST_DEFAULTS)
        started = hubspot_timestamp(self.now())
        with self._data_lock:
            results = []
            missing = []
            for contact_id in dict.fromkeys(inputs):
                contact = self._contacts.get(contact_id)
                if contact is None or contact["archived"] != archived:
                    missing.append(contact_id)
                else:
                    results.append(self._object(contact_id, contact, properties, list_defaults=True))
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": hubspot_timestamp(self.now()),
        }
        if not missing:
            return Response(200, body)
        body["numErrors"] = 1
        body["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "Could not get some CONTACT objects, they may be deleted or not exist.",
                "context": {"ids": missing},
                "errors": [],
                "links": {},
            }
        ]
        return Response(207, body)

    def _get_one(self, request: RecordedRequest, contact_id: str) -> Response:
        archived = request.query.get("archived", ["false"])[0].lower() == "true"
        properties = _property_list(request.query.get("properties", [])) or list(LIST_DEFAULTS)
        with self._data_lock:
            contact = self._contacts.get(contact_id)
            if contact is None or contact["archived"] != archived:
                return _error(404, "Object not found", "OBJECT_NOT_FOUND")
            return Response(200, self._object(contact_id, contact, properties, list_defaults=True))

    # -- internals --

    def _search_results(self, groups: list[Any], sorts: list[Any]) -> list[tuple[str, dict[str, Any]]]:
        # The sorted order is cached until the next write (a 10,000-contact test would otherwise
        # sort on every request); every write re-sorts, so a contact modified mid-paging moves to
        # its new place, as in HubSpot.
        key = json.dumps(sorts, sort_keys=True)
        cached = self._search_cache.get(key)
        if cached is not None and cached[0] == self._version:
            ordered = cached[1]
        else:
            ordered = [(i, c) for i, c in self._sorted_by_id() if not c["archived"]]
            for sort in reversed(sorts):
                name, descending = _sort_spec(sort)
                ordered.sort(key=lambda item, name=name: _sort_key(item[1], name), reverse=descending)
            self._search_cache = {key: (self._version, ordered)}
            self._sort_keys = {}
        if not groups:
            return ordered
        lower = _ascending_lower_bound(groups, sorts)
        if lower is not None:
            # The incremental sync's own query (`prop GTE x`, sorted by prop ascending): bisect.
            name, value, inclusive = lower
            keys = self._sort_keys.get(name)
            if keys is None or len(keys) != len(ordered):
                keys = self._sort_keys[name] = [_sort_key(c, name) for _, c in ordered]
            find = bisect.bisect_left if inclusive else bisect.bisect_right
            return ordered[find(keys, (0, _comparable(name, value))) :]
        return [(i, c) for i, c in ordered if any(_matches(c, g.get("filters", [])) for g in groups)]

    def _store(self, properties: dict[str, Any]) -> str:
        contact_id = str(properties["hs_object_id"])
        with self._data_lock:
            self._contacts[contact_id] = {"properties": properties, "archived": False, "archivedAt": None}
            self._version += 1
        return contact_id

    def _sorted_by_id(self) -> list[tuple[str, dict[str, Any]]]:
        return sorted(self._contacts.items(), key=lambda item: int(item[0]))

    def _object(self, contact_id: str, contact: dict[str, Any], properties: list[str], *, list_defaults: bool) -> dict:
        stored = contact["properties"]
        names = dict.fromkeys([*properties, *ALWAYS_RETURNED])
        obj: dict[str, Any] = {
            "id": contact_id,
            "properties": {name: stored.get(name) for name in names},
            "createdAt": stored.get("createdate"),
            "updatedAt": stored.get("lastmodifieddate"),
            "archived": contact["archived"],
        }
        if contact["archived"]:
            obj["archivedAt"] = contact["archivedAt"]
        obj.update(self._overrides.get(contact_id, {}))
        return obj


_OPERATORS = {
    "EQ": operator.eq,
    "NEQ": operator.ne,
    "GT": operator.gt,
    "GTE": operator.ge,
    "LT": operator.lt,
    "LTE": operator.le,
}


def _matches(contact: dict[str, Any], filters: list[dict[str, Any]]) -> bool:
    for flt in filters:
        name = flt.get("propertyName")
        op = flt.get("operator")
        actual = _comparable(name, contact["properties"].get(name))
        if op == "HAS_PROPERTY":
            ok = actual is not None
        elif op == "NOT_HAS_PROPERTY":
            ok = actual is None
        elif actual is None:
            ok = False
        else:
            compare = _OPERATORS.get(op)
            ok = compare is not None and compare(actual, _comparable(name, flt.get("value")))
        if not ok:
            return False
    return True


def _comparable(name: str | None, value: Any) -> Any:
    """Datetime properties compare as epoch milliseconds (HubSpot accepts ms or ISO in filters)."""
    if value is None or value == "":
        return None
    if name in ("lastmodifieddate", "createdate"):
        text = str(value)
        if text.lstrip("-").isdigit():
            return int(text)
        return _iso_ms(text)
    if name == "hs_object_id":
        return int(value)
    return str(value)


@functools.lru_cache(maxsize=65_536)
def _iso_ms(text: str) -> int:
    # Cached: a search over 10,000 contacts would otherwise parse every timestamp per request.
    return (datetime.fromisoformat(text) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def _ascending_lower_bound(groups: list[Any], sorts: list[Any]) -> tuple[str, Any, bool] | None:
    if len(groups) != 1 or len(sorts) != 1 or len(groups[0].get("filters", [])) != 1:
        return None
    flt = groups[0]["filters"][0]
    name, descending = _sort_spec(sorts[0])
    if descending or flt.get("propertyName") != name or flt.get("operator") not in ("GT", "GTE"):
        return None
    return name, flt.get("value"), flt["operator"] == "GTE"


def _sort_spec(sort: Any) -> tuple[str, bool]:
    if isinstance(sort, dict):
        return sort.get("propertyName", "hs_object_id"), sort.get("direction", "ASCENDING") == "DESCENDING"
    text = str(sort)
    return text.lstrip("-"), text.startswith("-")


def _sort_key(contact: dict[str, Any], name: str) -> tuple[int, Any]:
    value = _comparable(name, contact["properties"].get(name))
    return (1, 0) if value is None else (0, value)


def _property_list(values: list[str]) -> list[str]:
    return [name for value in values for name in value.split(",") if name]


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _error(status: int, message: str, category: str) -> Response:
    return Response(
        status,
        {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category},
    )
