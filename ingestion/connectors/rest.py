"""A REST/JSON connector configured by a dict, for advisory tools without a connector of their own.

The config is data (stored with the source, validated when saved by constructing
`RestConfig.parse`), and names where things are rather than what they mean: which path holds the
records, the id, the change time and its format. Values in `data` stay raw; turning "245.000,00"
into a Decimal is field mapping's job, not transport's.

Example:

    {
        "base_url": "https://api.adviestool.nl",
        "endpoint": "/api/v2/relaties",
        "auth": {"type": "api_key", "header": "X-Api-Key"},          # credentials: api_key
        "pagination": {"type": "page_number", "page_param": "page",
                       "page_size_param": "per_page", "page_size": 50},
        "records_path": "data.items",            # or JSONPath: "$.data.items[*]"
        "record_id_path": "relatienummer",
        "changed_at_path": "gewijzigd_op",
        "changed_at_format": "%d-%m-%Y %H:%M:%S",  # or iso8601 | epoch_ms | epoch_s
        "source_timezone": "Europe/Amsterdam",    # for timestamps without an offset
        "archived_path": "status", "archived_values": ["gearchiveerd"],
        "modified_since_param": "gewijzigd_sinds",
        "modified_since_format": "%d-%m-%Y %H:%M:%S",
        "detail_path": "/api/v2/relaties/{id}", "detail_record_path": "data",
    }

Auth types: `api_key` (credentials `api_key`), `basic` (`username`, `password`),
`oauth2_client_credentials` (config `token_url`, optional `scope`; credentials `client_id`,
`client_secret`), `none`. Pagination types: `cursor` (`cursor_path`, `cursor_param`),
`page_number` (`page_param`, `start`, optional `total_pages_path`), `offset` (`offset_param`,
`limit_param`), `link_header` (RFC 8288 `Link: <...>; rel="next"`); all take `page_size` and,
except offset, an optional `page_size_param`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext import parse as parse_jsonpath

from .base import (
    ConfigurationError,
    Connector,
    Page,
    PermanentSourceError,
    RecordInvalid,
    RejectedRecord,
    SourceRecord,
    require_aware,
)
from .http import (
    ApiKeyHeader,
    BasicAuth,
    HttpClient,
    JsonResponse,
    OAuth2ClientCredentials,
    SecretAuth,
    http_settings,
)

PAGINATION_TYPES = ("cursor", "page_number", "offset", "link_header")
AUTH_TYPES = ("api_key", "basic", "oauth2_client_credentials", "none")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


Getter = Callable[[Any], Any]


def compile_path(path: str) -> Getter:
    """A getter for a dotted path (`data.items`, `adres.0.postcode`) or JSONPath (`$...`).

    The getter raises KeyError when nothing is there, so callers tell "absent" from "null".
    """
    if not isinstance(path, str) or not path.strip():
        raise ConfigurationError("a path must be a non-empty string")
    if path.startswith("$"):
        try:
            expression = parse_jsonpath(path)
        except (JsonPathParserError, Exception) as exc:  # the lexer raises its own, unrelated kind
            raise ConfigurationError(f"not a JSONPath: {path!r} ({type(exc).__name__})") from None

        def get_jsonpath(document: Any) -> Any:
            matches = [match.value for match in expression.find(document)]
            if not matches:
                raise KeyError(path)
            if len(matches) == 1 and not path.endswith("[*]"):
                return matches[0]
            return matches

        return get_jsonpath

    steps = path.split(".")

    def get_dotted(document: Any) -> Any:
        current = document
        for step in steps:
            if isinstance(current, dict) and step in current:
                current = current[step]
            elif isinstance(current, list) and step.lstrip("-").isdigit() and -len(current) <= int(step) < len(current):
                current = current[int(step)]
            else:
                raise KeyError(path)
        return current

    return get_dotted


@dataclass(frozen=True)
class Pagination:
    type: str
    page_size: int
    page_size_param: str | None = None
    cursor_path: Getter | None = None
    cursor_param: str = "cursor"
    page_param: str = "page"
    start: int = 1
    total_pages_path: Getter | None = None
    offset_param: str = "offset"
    limit_param: str = "limit"


@dataclass(frozen=True)
class RestConfig:
    """A validated REST connector config; `parse` lists every problem at once."""

    base_url: str
    endpoint: str
    auth: Mapping[str, Any]
    pagination: Pagination
    records: Getter
    record_id: Getter
    changed_at: Getter
    changed_at_format: str
    source_timezone: ZoneInfo
    archived: Getter | None = None
    archived_values: tuple[Any, ...] = ()
    modified_since_param: str | None = None
    modified_since_format: str = "iso8601"
    extra_params: Mapping[str, Any] = field(default_factory=dict)
    detail_path: str | None = None
    detail_record: Getter | None = None

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> RestConfig:
        problems: list[str] = []

        def need(key: str) -> Any:
            value = config.get(key)
            if value in (None, ""):
                problems.append(f"'{key}' is required")
            return value

        def path(key: str, *, required: bool = True) -> Getter | None:
            value = need(key) if required else config.get(key)
            if value in (None, ""):
                return None
            try:
                return compile_path(value)
            except ConfigurationError as exc:
                problems.append(f"'{key}': {exc}")
                return None

        base_url = need("base_url") or ""
        if base_url and urlsplit(base_url).scheme not in ("http", "https"):
            problems.append("'base_url' must be an http(s) URL")
        endpoint = need("endpoint") or ""
        auth = config.get("auth") or {"type": "none"}
        if not isinstance(auth, Mapping) or auth.get("type") not in AUTH_TYPES:
            problems.append(f"'auth.type' must be one of {', '.join(AUTH_TYPES)}")
            auth = {"type": "none"}
        elif auth["type"] == "api_key" and not auth.get("header"):
            problems.append("'auth.header' names the API-key header")
        elif auth["type"] == "oauth2_client_credentials" and not auth.get("token_url"):
            problems.append("'auth.token_url' is required for OAuth2")

        pagination = _parse_pagination(config.get("pagination") or {}, problems)
        records = path("records_path")
        record_id = path("record_id_path")
        changed_at = path("changed_at_path")
        changed_at_format = config.get("changed_at_format", "iso8601")
        since_format = config.get("modified_since_format", "iso8601")
        for key, value in (("changed_at_format", changed_at_format), ("modified_since_format", since_format)):
            if not isinstance(value, str) or not (value in _NAMED_FORMATS or "%" in value):
                problems.append(f"'{key}' must be iso8601, epoch_ms, epoch_s or a strftime pattern")
        try:
            tz = ZoneInfo(config.get("source_timezone", "Europe/Amsterdam"))
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            problems.append("'source_timezone' is not a known time zone")
            tz = ZoneInfo("UTC")
        archived = path("archived_path", required=False)
        archived_values = tuple(config.get("archived_values") or ())
        detail_path = config.get("detail_path")
        if detail_path is not None and "{id}" not in detail_path:
            problems.append("'detail_path' must contain {id}")
        extra_params = config.get("extra_params") or {}
        if not isinstance(extra_params, Mapping):
            problems.append("'extra_params' must be an object")
        if problems:
            raise ConfigurationError("REST connector config: " + "; ".join(problems))
        return cls(
            base_url=base_url,
            endpoint=endpoint,
            auth=auth,
            pagination=pagination,
            records=records,  # type: ignore[arg-type]
            record_id=record_id,  # type: ignore[arg-type]
            changed_at=changed_at,  # type: ignore[arg-type]
            changed_at_format=changed_at_format,
            source_timezone=tz,
            archived=archived,
            archived_values=archived_values,
            modified_since_param=config.get("modified_since_param") or None,
            modified_since_format=since_format,
            extra_params=dict(extra_params),
            detail_path=detail_path,
            detail_record=path("detail_record_path", required=False),
        )


def _parse_pagination(spec: Mapping[str, Any], problems: list[str]) -> Pagination:
    kind = spec.get("type")
    if kind not in PAGINATION_TYPES:
        problems.append(f"'pagination.type' must be one of {', '.join(PAGINATION_TYPES)}")
        return Pagination(type="link_header", page_size=1)
    try:
        page_size = int(spec.get("page_size", 100))
        start = int(spec.get("start", 1))
    except (TypeError, ValueError):
        page_size, start = 0, 1
    if page_size < 1:
        problems.append("'pagination.page_size' and 'pagination.start' must be integers, page_size positive")
    cursor_path = None
    if kind == "cursor":
        if not spec.get("cursor_path"):
            problems.append("'pagination.cursor_path' is required for cursor pagination")
        else:
            try:
                cursor_path = compile_path(spec["cursor_path"])
            except ConfigurationError as exc:
                problems.append(f"'pagination.cursor_path': {exc}")
    total_pages_path = None
    if spec.get("total_pages_path"):
        try:
            total_pages_path = compile_path(spec["total_pages_path"])
        except ConfigurationError as exc:
            problems.append(f"'pagination.total_pages_path': {exc}")
    return Pagination(
        type=kind,
        page_size=max(page_size, 1),
        page_size_param=spec.get("page_size_param"),
        cursor_path=cursor_path,
        cursor_param=spec.get("cursor_param", "cursor"),
        page_param=spec.get("page_param", "page"),
        start=start,
        total_pages_path=total_pages_path,
        offset_param=spec.get("offset_param", "offset"),
        limit_param=spec.get("limit_param", "limit"),
    )


class RestConnector(Connector):
    """Any JSON API that lists records with a modified-since filter; see the module docstring."""

    kind = "rest"

    def __init__(self, config: Mapping[str, Any], credentials: Mapping[str, Any], **options: Any) -> None:
        transport: httpx.BaseTransport | None = options.pop("transport", None)
        super().__init__(config, credentials, **options)
        self.config = RestConfig.parse(config)
        self.auth = self._auth(self.config, credentials)
        self.http = HttpClient(
            base_url=self.config.base_url,
            auth=self.auth,
            sleep=self.sleep,
            clock=self.clock,
            now=self.now,
            transport=transport,
            **http_settings(config),
        )
        self._origin = _origin(self.config.base_url)

    def close(self) -> None:
        self.http.close()

    def _auth(self, config: RestConfig, credentials: Mapping[str, Any]) -> SecretAuth | None:
        kind = config.auth["type"]

        def credential(name: str) -> str:
            value = credentials.get(name)
            if not isinstance(value, str) or not value:
                raise ConfigurationError(f"{kind} auth needs credentials['{name}']")
            return value

        if kind == "api_key":
            return ApiKeyHeader(config.auth["header"], credential("api_key"))
        if kind == "basic":
            return BasicAuth(credential("username"), credential("password"))
        if kind == "oauth2_client_credentials":
            token_url = config.auth["token_url"]
            if not token_url.startswith(("http://", "https://")):
                token_url = config.base_url.rstrip("/") + "/" + token_url.lstrip("/")
            return OAuth2ClientCredentials(
                token_url=token_url,
                client_id=credential("client_id"),
                client_secret=credential("client_secret"),
                scope=config.auth.get("scope"),
                clock=self.clock,
            )
        return None

    # -- the contract --

    def fetch_page(self, cursor: str | None, modified_since: datetime | None) -> Page:
        if cursor is None:
            since = None
            if modified_since is not None:
                if not self.config.modified_since_param:
                    raise ConfigurationError("this source has no 'modified_since_param'; run a full sync")
                since = require_aware(modified_since, "modified_since").isoformat()
            state: dict[str, Any] = {"since": since}
        else:
            state = _decode_cursor(cursor)
        response = self._request_page(state)
        raw_items = self._items(response.data)
        records, rejected = self._read(raw_items)
        next_state = self._next_state(state, response, len(raw_items))
        return Page(records=records, next_cursor=_encode_cursor(next_state), rejected=rejected)

    def fetch_records(self, ids: list[str]) -> Page:
        if not self.config.detail_path:
            raise ConfigurationError("fetch_records needs 'detail_path' (e.g. /clients/{id})")
        records: list[SourceRecord] = []
        rejected: list[RejectedRecord] = []
        for record_id in dict.fromkeys(str(i) for i in ids if str(i).strip()):
            # One request per id: tools of this kind rarely offer a batch read. Webhook batches
            # are small; bulk work goes through fetch_page.
            path = self.config.detail_path.replace("{id}", quote(record_id, safe=""))
            try:
                body = self.http.request_json("GET", path).data
            except PermanentSourceError as exc:
                if exc.status_code in (404, 410):
                    continue  # gone from the source: the caller treats it as deleted
                raise
            raw = body
            if self.config.detail_record is not None:
                try:
                    raw = self.config.detail_record(body)
                except KeyError:
                    rejected.append(RejectedRecord(record_id, body, "detail response has no record"))
                    continue
            found, problems = self._read([raw])
            records.extend(found)
            rejected.extend(problems)
        return Page(records=records, next_cursor=None, rejected=rejected)

    def list_all_ids(self) -> Iterator[str]:
        cursor: str | None = None
        while True:
            page = self.fetch_page(cursor, None)
            for record in page.records:
                if not record.archived:
                    yield record.record_id
            for problem in page.rejected:
                if problem.record_id:
                    yield problem.record_id  # unreadable, but it exists: do not reconcile it away
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # -- requests --

    def _request_page(self, state: dict[str, Any]) -> JsonResponse:
        if "url" in state:
            return self.http.request_json("GET", state["url"])
        pagination = self.config.pagination
        params: dict[str, Any] = dict(self.config.extra_params)
        if state.get("since"):
            since = datetime.fromisoformat(state["since"])
            params[self.config.modified_since_param] = _format_time(  # type: ignore[index]
                since, self.config.modified_since_format, self.config.source_timezone
            )
        if pagination.type == "offset":
            params[pagination.offset_param] = state.get("offset", 0)
            params[pagination.limit_param] = pagination.page_size
        else:
            if pagination.page_size_param:
                params[pagination.page_size_param] = pagination.page_size
            if pagination.type == "page_number":
                params[pagination.page_param] = state.get("page", pagination.start)
            elif pagination.type == "cursor" and state.get("cursor"):
                params[pagination.cursor_param] = state["cursor"]
        return self.http.request_json("GET", self.config.endpoint, params=params)

    def _next_state(self, state: dict[str, Any], response: JsonResponse, item_count: int) -> dict[str, Any] | None:
        pagination = self.config.pagination
        full_page = item_count >= pagination.page_size
        if pagination.type == "link_header":
            if not response.next_link:
                return None
            if _origin(response.next_link) != self._origin:
                # Following it would send our credentials to another host.
                raise PermanentSourceError("the source's next link points to another host; refusing to follow it")
            return {"since": state.get("since"), "url": response.next_link}
        if pagination.type == "cursor":
            try:
                next_cursor = pagination.cursor_path(response.data)  # type: ignore[misc]
            except KeyError:
                next_cursor = None
            if next_cursor in (None, "") or item_count == 0:
                return None
            return {"since": state.get("since"), "cursor": str(next_cursor)}
        if pagination.type == "page_number":
            page = state.get("page", pagination.start)
            if item_count == 0:
                return None
            if pagination.total_pages_path is not None:
                try:
                    total_pages = int(pagination.total_pages_path(response.data))
                except (KeyError, TypeError, ValueError):
                    raise PermanentSourceError("page-number response has no readable total pages") from None
                more = page - pagination.start + 1 < total_pages
            else:
                more = full_page
            return {"since": state.get("since"), "page": page + 1} if more else None
        # offset
        return {"since": state.get("since"), "offset": state.get("offset", 0) + item_count} if full_page else None

    # -- records --

    def _items(self, body: Any) -> list[Any]:
        try:
            items = self.config.records(body)
        except KeyError:
            raise PermanentSourceError("the response has nothing at 'records_path'") from None
        if items is None:
            return []
        if not isinstance(items, list):
            raise PermanentSourceError("'records_path' does not point at a list")
        return items

    def _read(self, raw_items: list[Any]) -> tuple[list[SourceRecord], list[RejectedRecord]]:
        records: list[SourceRecord] = []
        rejected: list[RejectedRecord] = []
        for raw in raw_items:
            try:
                records.append(self._record(raw))
            except RecordInvalid as exc:
                rejected.append(RejectedRecord(record_id=exc.record_id, raw=raw, reason=exc.reason))
        return records, rejected

    def _record(self, raw: Any) -> SourceRecord:
        config = self.config
        if not isinstance(raw, dict):
            raise RecordInvalid(f"expected an object, got {type(raw).__name__}")
        try:
            raw_id = config.record_id(raw)
        except KeyError:
            raise RecordInvalid("no record id") from None
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)) or str(raw_id).strip() == "":
            raise RecordInvalid("record id is empty or not a string/number")
        record_id = str(raw_id)
        try:
            changed_raw = config.changed_at(raw)
        except KeyError:
            raise RecordInvalid("no change timestamp", record_id) from None
        try:
            changed_at = _parse_time(changed_raw, config.changed_at_format, config.source_timezone)
        except RecordInvalid as exc:
            raise RecordInvalid(exc.reason, record_id) from None
        archived = False
        if config.archived is not None:
            try:
                value = config.archived(raw)
            except KeyError:
                value = None
            archived = _is_archived(value, config.archived_values, record_id)
        return SourceRecord(record_id=record_id, changed_at=changed_at, archived=archived, data=raw)


# --- time formats -------------------------------------------------------------------------------

_NAMED_FORMATS = ("iso8601", "epoch_ms", "epoch_s")


def _parse_time(value: Any, fmt: str, tz: ZoneInfo) -> datetime:
    """A change timestamp in the configured format, in UTC; values without an offset are in `tz`.

    UTC because a local time in the hour repeated when summer time ends never compares equal to
    another zone's datetime (PEP 495), even for the same instant; the engine compares these.
    """
    if fmt in ("epoch_ms", "epoch_s"):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise RecordInvalid(f"expected an epoch number, got {type(value).__name__}")
        try:
            number = float(value)
            return EPOCH + (timedelta(milliseconds=number) if fmt == "epoch_ms" else timedelta(seconds=number))
        except (ValueError, OverflowError):
            raise RecordInvalid(f"not an epoch timestamp: {str(value)[:40]!r}") from None
    if not isinstance(value, str) or not value.strip():
        raise RecordInvalid(f"expected a timestamp string, got {type(value).__name__}")
    if fmt == "iso8601":
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise RecordInvalid(f"not an ISO 8601 timestamp: {value[:40]!r}") from None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)).astimezone(UTC)
    try:
        parsed = datetime.strptime(value.strip(), fmt)  # noqa: DTZ007 - zone attached below
    except ValueError:
        raise RecordInvalid(f"timestamp {value[:40]!r} does not match {fmt!r}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)).astimezone(UTC)


def _format_time(moment: datetime, fmt: str, tz: ZoneInfo) -> str:
    if fmt == "epoch_ms":
        return str((moment - EPOCH) // timedelta(milliseconds=1))
    if fmt == "epoch_s":
        return str((moment - EPOCH) // timedelta(seconds=1))
    local = moment.astimezone(tz)
    return local.isoformat() if fmt == "iso8601" else local.strftime(fmt)


_TRUE = {"true", "1", "yes", "ja"}
_FALSE = {"false", "0", "no", "nee", ""}


def _is_archived(value: Any, archived_values: tuple[Any, ...], record_id: str) -> bool:
    if archived_values:
        return value in archived_values
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise RecordInvalid(f"archived flag {str(value)[:20]!r} is not a boolean", record_id)


# --- cursors ------------------------------------------------------------------------------------


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def _encode_cursor(state: dict[str, Any] | None) -> str | None:
    return None if state is None else json.dumps(state, separators=(",", ":"))


def _decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        state = json.loads(cursor)
    except ValueError:
        raise ConfigurationError("not a REST connector cursor") from None
    if not isinstance(state, dict):
        raise ConfigurationError("not a REST connector cursor")
    return state
