"""A local Dutch advisory tool API: a different shape from HubSpot, on purpose.

`GET /api/v2/relaties` answers `{"data": {"items": [...]}, "meta": {...}}` with Dutch field names,
decimal commas ("245.000,00") and dd-mm-yyyy dates; `GET /api/v2/relaties/{nummer}` answers
`{"data": {...}}`. The auth mode (API key, Basic, OAuth2 client credentials with a token endpoint
at `/oauth/token`) and the pagination style (page number, cursor, offset, Link header) are chosen
per instance, so one fake exercises every option of the generic REST connector.
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from .generator import AMSTERDAM, dutch_timestamp
from .server import FakeServer, Fault, RateLimit, RecordedRequest, Response

RELATIONS = "/api/v2/relaties"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a URL path, not a password
TIMESTAMP_FORMAT = "%d-%m-%Y %H:%M:%S"
_SINGLE = re.compile(rf"^{RELATIONS}/(?P<id>[^/]+)$")
TEST_API_KEY = "ak_test_7f3e9c1d2b"
TEST_USERNAME = "steward"
TEST_PASSWORD = "wachtwoord-test-123"  # noqa: S105 - the fake's default, not a real credential
TEST_CLIENT_ID = "steward-client"
TEST_CLIENT_SECRET = "cs_test_0a1b2c3d4e"  # noqa: S105 - the fake's default, not a real credential


class FakeAdvisoryTool(FakeServer):
    """Advisory-tool relations over real HTTP; see the module docstring."""

    AUTH_MODES = ("api_key", "basic", "oauth2")
    PAGINATIONS = ("page_number", "cursor", "offset", "link")

    def __init__(
        self,
        relations: Iterable[Mapping[str, Any]] = (),
        *,
        auth: str = "api_key",
        pagination: str = "page_number",
        page_size: int = 50,
        api_key: str = TEST_API_KEY,
        username: str = TEST_USERNAME,
        password: str = TEST_PASSWORD,
        client_id: str = TEST_CLIENT_ID,
        client_secret: str = TEST_CLIENT_SECRET,
        token_lifetime_seconds: int = 3600,
        rate_limit: RateLimit | None = None,
        faults: Mapping[int, Fault] | None = None,
        clock: Callable[[], float] = time.monotonic,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if auth not in self.AUTH_MODES:
            raise ValueError(f"auth must be one of {self.AUTH_MODES}")
        if pagination not in self.PAGINATIONS:
            raise ValueError(f"pagination must be one of {self.PAGINATIONS}")
        super().__init__(host=host, port=port, rate_limit=rate_limit, faults=faults, clock=clock)
        self.auth = auth
        self.pagination = pagination
        self.page_size = page_size
        self.api_key = api_key
        self.username = username
        self.password = password
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime_seconds = token_lifetime_seconds
        self._data_lock = threading.Lock()
        self._relations: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, float] = {}  # access token -> expiry on self.clock
        self._cursors: dict[str, int] = {}  # opaque cursor -> offset
        for relation in relations:
            self._relations[str(relation["relatienummer"])] = dict(relation)

    # -- test and demo API --

    def update_relation(self, number: str, *, modified_at: datetime, **fields: Any) -> None:
        with self._data_lock:
            relation = self._relations[number]
            relation.update(fields)
            relation["gewijzigd_op"] = dutch_timestamp(modified_at)

    def put_raw(self, relation: Mapping[str, Any]) -> None:
        """Store a relation exactly as given (also broken ones, to test rejection)."""
        with self._data_lock:
            self._relations[str(relation.get("relatienummer", f"broken-{len(self._relations)}"))] = dict(relation)

    def revoke_tokens(self) -> None:
        """Invalidate every OAuth2 access token, as a key rotation on the tool's side would."""
        with self._data_lock:
            self._tokens.clear()

    @property
    def tokens_issued(self) -> int:
        return len(self.requests_to(TOKEN_PATH))

    # -- HTTP --

    def handle(self, request: RecordedRequest) -> Response:
        if request.path == TOKEN_PATH and request.method == "POST":
            return self._token(request)
        if not self._authorised(request):
            return Response(401, {"fout": "niet geautoriseerd", "message": "Unauthorized"})
        if request.method == "GET" and request.path == RELATIONS:
            return self._list(request)
        if request.method == "GET" and (match := _SINGLE.match(request.path)):
            with self._data_lock:
                relation = self._relations.get(match["id"])
            if relation is None:
                return Response(404, {"fout": "relatie niet gevonden", "message": "Not found"})
            return Response(200, {"data": relation})
        return Response(404, {"fout": "onbekend endpoint", "message": "Not found"})

    def _authorised(self, request: RecordedRequest) -> bool:
        header = request.headers.get("Authorization", "")
        if self.auth == "api_key":
            return secrets.compare_digest(request.headers.get("X-Api-Key", ""), self.api_key)
        if self.auth == "basic":
            expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return secrets.compare_digest(header, f"Basic {expected}")
        token = header.removeprefix("Bearer ")
        with self._data_lock:
            expiry = self._tokens.get(token)
        return header.startswith("Bearer ") and expiry is not None and self.clock() < expiry

    def _token(self, request: RecordedRequest) -> Response:
        form = {key: values[0] for key, values in parse_qs(request.body.decode()).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                client_id, _, client_secret = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                client_id = client_secret = None
        if form.get("grant_type") != "client_credentials":
            return Response(400, {"error": "unsupported_grant_type"})
        if client_id != self.client_id or client_secret != self.client_secret:
            return Response(401, {"error": "invalid_client"})
        token = f"at_{secrets.token_urlsafe(16)}"
        with self._data_lock:
            self._tokens[token] = self.clock() + self.token_lifetime_seconds
        return Response(200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime_seconds})

    def _list(self, request: RecordedRequest) -> Response:
        query = {key: values[0] for key, values in request.query.items()}
        with self._data_lock:
            relations = sorted(self._relations.values(), key=lambda r: str(r.get("relatienummer")))
        since = query.get("gewijzigd_sinds")
        if since:
            try:
                threshold = datetime.strptime(since, TIMESTAMP_FORMAT).replace(tzinfo=AMSTERDAM)
            except ValueError:
                return Response(400, {"fout": "gewijzigd_sinds heeft niet het formaat dd-mm-jjjj uu:mm:ss"})
            relations = [r for r in relations if _changed(r) is None or _changed(r) >= threshold]
        size = int(query.get("per_page") or query.get("limit") or self.page_size)
        if self.pagination == "page_number":
            page = int(query.get("page", 1))
            offset = (page - 1) * size
            total_pages = max(1, -(-len(relations) // size))
            meta = {
                "pagina": page,
                "per_pagina": size,
                "totaal_paginas": total_pages,
                "totaal": len(relations),
            }
            return Response(200, {"data": {"items": relations[offset : offset + size]}, "meta": meta})
        if self.pagination == "offset":
            offset = int(query.get("offset", 0))
            meta = {"offset": offset, "limit": size, "totaal": len(relations)}
            return Response(200, {"data": {"items": relations[offset : offset + size]}, "meta": meta})
        if self.pagination == "cursor":
            cursor = query.get("cursor")
            with self._data_lock:
                offset = self._cursors.get(cursor, 0) if cursor else 0
                next_cursor = None
                if offset + size < len(relations):
                    next_cursor = secrets.token_hex(8)
                    self._cursors[next_cursor] = offset + size
            meta = {"volgende_cursor": next_cursor}
            return Response(200, {"data": {"items": relations[offset : offset + size]}, "meta": meta})
        # RFC 8288 Link header, relative like many APIs send it.
        offset = int(query.get("start", 0))
        headers = {}
        if offset + size < len(relations):
            params = {k: v for k, v in query.items() if k != "start"}
            params["start"] = str(offset + size)
            headers["Link"] = f'<{RELATIONS}?{urlencode(params)}>; rel="next"'
        return Response(200, {"data": {"items": relations[offset : offset + size]}, "meta": {}}, headers)


def _changed(relation: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.strptime(str(relation.get("gewijzigd_op")), TIMESTAMP_FORMAT).replace(tzinfo=AMSTERDAM)
    except ValueError:
        return None
