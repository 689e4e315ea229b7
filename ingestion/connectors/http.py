"""One HTTP layer for every connector: timeouts, bounded retries, Retry-After, no leaked secrets.

Why a small loop instead of tenacity: the rules are few but specific (honour Retry-After exactly,
refuse to block a worker for longer than `max_retry_after`, remember a server's "not before"
across calls), and a loop states them in one screen.

Secrets: headers are never logged; URLs are logged with sensitive query values masked; every
message we build (logs and exception text) is scrubbed of every secret value the auth knows,
including OAuth2 access tokens fetched at runtime.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import orjson

from .base import (
    AuthenticationFailed,
    ConfigurationError,
    PermanentSourceError,
    RateLimited,
    SourceError,
    TransientSourceError,
    utc_now,
)

logger = logging.getLogger(__name__)

REDACTED = "[REDACTED]"
# Query parameters whose values are credentials in some API or other (HubSpot's legacy `hapikey`).
SENSITIVE_PARAM_HINTS = ("key", "token", "secret", "password", "signature", "auth", "code")
RETRY_AFTER_STATUSES = {429, 503}


# --- Retry-After --------------------------------------------------------------------------------


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (RFC 9110: delay-seconds or an HTTP-date).

    None when absent or unreadable, so the caller falls back to its own backoff. A date in the
    past means "now" (0). Never raises: a header is untrusted input.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # Not RFC-conformant but common ("1.5"); accept finite, non-negative values only.
        return seconds if 0 <= seconds < float("inf") else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    reference = now or utc_now()
    return max(0.0, (when - reference).total_seconds())


# --- Auth ---------------------------------------------------------------------------------------


class SecretAuth(httpx.Auth):
    """An httpx auth that can list its secret values, so the client can scrub them from text."""

    def secrets(self) -> Iterable[str]:
        return ()

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class BearerToken(SecretAuth):
    """`Authorization: Bearer <token>` (HubSpot private-app tokens)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def secrets(self) -> Iterable[str]:
        return (self._token,)


class ApiKeyHeader(SecretAuth):
    """An API key in a named header (`X-Api-Key: ...`)."""

    def __init__(self, header: str, value: str) -> None:
        self._header = header
        self._value = value

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers[self._header] = self._value
        yield request

    def secrets(self) -> Iterable[str]:
        return (self._value,)


class BasicAuth(SecretAuth):
    """HTTP Basic; the encoded header value is a secret too."""

    def __init__(self, username: str, password: str) -> None:
        self._password = password
        self._header = _basic_header(username, password)

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        request.headers["Authorization"] = self._header
        yield request

    def secrets(self) -> Iterable[str]:
        return (self._password, self._header.removeprefix("Basic "))


class OAuth2ClientCredentials(SecretAuth):
    """OAuth2 client-credentials grant: fetch a token once, reuse it until shortly before expiry.

    A 401 with a cached token usually means the token was revoked or the server's clock disagrees
    with ours: fetch a fresh token and resend once. A 401 with a token fetched for this very
    request is a real authentication failure and is returned as is.
    """

    requires_response_body = True
    # Refresh this long before the advertised expiry, so a token never expires in flight.
    EXPIRY_MARGIN_SECONDS = 30.0

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._old_tokens: list[str] = []
        self.tokens_fetched = 0

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        token = self._cached_token()
        fetched_now = token is None
        if token is None:
            token = yield from self._fetch_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401 and not fetched_now:
            self._invalidate(token)
            token = yield from self._fetch_token()
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def _cached_token(self) -> str | None:
        with self._lock:
            if self._token and self._clock() < self._expires_at:
                return self._token
            return None

    def _invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:  # another thread may have refreshed already
                self._token = None

    def _fetch_token(self) -> Iterator[httpx.Request]:
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        token_request = httpx.Request(
            "POST",
            self._token_url,
            data=form,
            headers={
                "Authorization": _basic_header(self._client_id, self._client_secret),
                "Accept": "application/json",
            },
        )
        response = yield token_request
        status = response.status_code
        if status in (400, 401, 403):
            # RFC 6749 §5.2: invalid_client / unauthorized_client come back as 400 or 401.
            raise AuthenticationFailed(f"OAuth2 token endpoint refused the client credentials ({status})")
        if status == 429:
            raise RateLimited(
                "OAuth2 token endpoint rate limited us",
                parse_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 300:
            raise TransientSourceError(f"OAuth2 token endpoint answered {status}")
        try:
            payload = response.json()
            token = payload["access_token"]
            expires_in = float(payload.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError):
            raise TransientSourceError("OAuth2 token endpoint returned no usable access_token") from None
        if not isinstance(token, str) or not token:
            raise TransientSourceError("OAuth2 token endpoint returned no usable access_token")
        with self._lock:
            if self._token:
                self._old_tokens.append(self._token)
                del self._old_tokens[:-5]
            self._token = token
            self._expires_at = self._clock() + max(0.0, expires_in - self.EXPIRY_MARGIN_SECONDS)
            self.tokens_fetched += 1
        return token

    def secrets(self) -> Iterable[str]:
        with self._lock:
            current = [self._token] if self._token else []
            return [self._client_secret, *current, *self._old_tokens]


def _basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


# --- Responses ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JsonResponse:
    """A successful response whose body parsed as JSON."""

    status_code: int
    url: str
    headers: httpx.Headers
    data: Any
    next_link: str | None  # the absolute URL of an RFC 8288 `Link: <...>; rel="next"`, if any


# A hook that recognises source-specific failures (e.g. HubSpot's daily quota) before the generic
# status handling; it returns an exception to raise or retry, or None to carry on.
ResponseClassifier = Callable[[httpx.Response], SourceError | None]


class HttpClient:
    """JSON over HTTP with bounded retries; shared by every connector.

    Retries 429, 5xx, timeouts, dropped connections and bodies that are not JSON, at most
    `max_attempts` requests in all, waiting exponential backoff with jitter, or exactly the
    server's Retry-After (plus jitter, never less). A Retry-After beyond `max_retry_after` is not
    slept through: `RateLimited` is raised at once so the task queue can reschedule, and this
    client refuses to send anything to the source before that moment passes.
    """

    def __init__(
        self,
        *,
        base_url: str,
        auth: SecretAuth | None = None,
        timeout: float = 30.0,
        max_attempts: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        max_retry_after: float = 120.0,
        headers: Mapping[str, str] | None = None,
        classify: ResponseClassifier | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utc_now,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self._auth = auth
        self._classify = classify
        self._sleep = sleep
        self._clock = clock
        self._now = now
        # Jitter only spreads retries out; it needs no cryptographic strength.
        self._rng = rng or random.Random()  # noqa: S311
        self._not_before = 0.0
        self._not_before_lock = threading.Lock()
        self._client = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"Accept": "application/json", "User-Agent": "Steward-ingestion/1", **(headers or {})},
            follow_redirects=False,  # a redirect could carry our Authorization header elsewhere
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<HttpClient {self.base_url}>"

    # -- public --

    def request_json(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> JsonResponse:
        """Send one logical request (with retries) and return its parsed JSON body."""
        target = self.describe(method, url, params)
        for attempt in range(1, self.max_attempts + 1):
            self._wait_until_allowed(target)
            try:
                response = self._client.request(method, url, params=params, json=json_body)
                error = self._error_for(response, target)
                if error is None:
                    return self._parse(response, target)
            except httpx.TimeoutException as exc:
                error = TransientSourceError(f"{target}: timed out ({type(exc).__name__})")
                error.__cause__ = exc
            except httpx.TransportError as exc:
                # Refused or dropped connections, truncated bodies, protocol violations.
                error = TransientSourceError(f"{target}: {type(exc).__name__}: {self.scrub(str(exc))}")
                error.__cause__ = exc
            except TransientSourceError as exc:  # from an auth flow (token endpoint) or _parse
                error = exc
            if not error.retryable:
                raise error
            wait = self._wait_for(error, attempt)
            retry_after = getattr(error, "retry_after_seconds", None)
            if retry_after is not None and retry_after > self.max_retry_after:
                self._hold_until(retry_after)
                raise error
            if attempt == self.max_attempts:
                if retry_after is not None:
                    self._hold_until(retry_after)
                raise error
            # Every error message starts with the (redacted) request, so it is not repeated here.
            logger.warning(
                "%s; attempt %d/%d, retrying in %.2fs",
                self.scrub(str(error)),
                attempt,
                self.max_attempts,
                wait,
            )
            self._hold_until(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def scrub(self, text: str) -> str:
        """Remove every secret value the auth knows from `text`."""
        if self._auth is None:
            return text
        for secret in sorted(self._auth.secrets(), key=len, reverse=True):
            if secret and len(secret) >= 4:
                text = text.replace(secret, REDACTED)
        return text

    def describe(self, method: str, url: str, params: Mapping[str, Any] | None = None) -> str:
        """`METHOD url` for logs and errors, with sensitive query values masked."""
        full = url if url.startswith(("http://", "https://")) else f"{self.base_url}{url}"
        if params:
            joiner = "&" if "?" in full else "?"
            full = f"{full}{joiner}{urlencode({k: v for k, v in params.items() if v is not None})}"
        return f"{method} {self.scrub(redact_url(full))}"

    # -- internals --

    def _wait_until_allowed(self, target: str) -> None:
        with self._not_before_lock:
            not_before = self._not_before
            remaining = not_before - self._clock()
        if remaining <= 0:
            return
        if remaining > self.max_retry_after:
            raise RateLimited(f"{target}: the source asked us to wait {remaining:.0f}s more", remaining)
        self._sleep(remaining)
        with self._not_before_lock:
            # The wait is served; an injected sleep in tests does not move the clock.
            if self._not_before == not_before:
                self._not_before = 0.0

    def _hold_until(self, seconds: float) -> None:
        with self._not_before_lock:
            self._not_before = max(self._not_before, self._clock() + seconds)

    def _wait_for(self, error: SourceError, attempt: int) -> float:
        retry_after = getattr(error, "retry_after_seconds", None)
        if retry_after is not None:
            # Jitter only ever adds, so we never come back before the server said we may.
            return retry_after + self._rng.uniform(0, min(1.0, retry_after * 0.1))
        exponential = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return exponential / 2 + self._rng.uniform(0, exponential / 2)

    def _error_for(self, response: httpx.Response, target: str) -> SourceError | None:
        if self._classify is not None:
            custom = self._classify(response)
            if custom is not None:
                return custom
        status = response.status_code
        if 200 <= status < 300:
            return None
        detail = f"{target} answered {status}{self._detail(response)}"
        retry_after = None
        if status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), now=self._now())
        if status in (401, 403):
            return AuthenticationFailed(detail)
        if status == 429:
            return RateLimited(detail, retry_after)
        if status >= 500 or status == 408:
            return TransientSourceError(detail, retry_after)
        return PermanentSourceError(detail, status_code=status)

    def _detail(self, response: httpx.Response) -> str:
        """A short, scrubbed hint from an error body (its `message` when JSON)."""
        text = response.text[:2000]
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            for key in ("message", "error_description", "error", "detail", "title"):
                if isinstance(payload.get(key), str):
                    text = payload[key]
                    break
        text = " ".join(text.split())[:200]
        return f": {self.scrub(text)}" if text else ""

    def _parse(self, response: httpx.Response, target: str) -> JsonResponse:
        # A 200 with an HTML maintenance page or a cut-off body is a source hiccup, not data.
        content_type = response.headers.get("Content-Type", "")
        if response.status_code == 204 or not response.content:
            data: Any = None
        else:
            if "json" not in content_type.lower():
                shown = content_type or "no content type"
                raise TransientSourceError(f"{target} answered {response.status_code} with {shown}, not JSON")
            try:
                # orjson: a sync parses every record it reads, and the standard library's parser
                # cost the engine more than the HTTP round trip. JSON is UTF-8 (RFC 8259); anything
                # else falls back to httpx's own decoding, as before.
                data = orjson.loads(response.content)
            except ValueError:
                try:
                    data = response.json()
                except ValueError:
                    raise TransientSourceError(
                        f"{target} answered {response.status_code} with malformed JSON"
                    ) from None
        next_link = None
        link = response.links.get("next")
        if link and link.get("url"):
            next_link = str(response.request.url.join(link["url"]))
        return JsonResponse(
            status_code=response.status_code,
            url=str(response.request.url),
            headers=response.headers,
            data=data,
            next_link=next_link,
        )


def redact_url(url: str) -> str:
    """Mask values of query parameters that look like credentials, and any userinfo."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = [
            (key, REDACTED if any(hint in key.lower() for hint in SENSITIVE_PARAM_HINTS) else value)
            for key, value in parse_qsl(query, keep_blank_values=True)
        ]
        query = urlencode(pairs, safe="[]")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class _RedactQueryFilter(logging.Filter):
    """httpx logs every request URL at INFO; mask credential-like query values in them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(arg, httpx.URL) for arg in record.args):
            record.args = tuple(redact_url(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args)
        return True


logging.getLogger("httpx").addFilter(_RedactQueryFilter())


def http_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The transport knobs every connector config may carry, with defaults that suit production."""
    settings = {
        "timeout": float(config.get("timeout_seconds", 30.0)),
        "max_attempts": int(config.get("max_attempts", 5)),
        "backoff_base": float(config.get("backoff_base_seconds", 1.0)),
        "backoff_max": float(config.get("backoff_max_seconds", 60.0)),
        "max_retry_after": float(config.get("max_retry_after_seconds", 120.0)),
    }
    if settings["timeout"] <= 0 or settings["max_attempts"] < 1:
        raise ConfigurationError("timeout_seconds must be positive and max_attempts at least 1")
    return settings
