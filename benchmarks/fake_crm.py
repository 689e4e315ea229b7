"""The fake HubSpot of the benchmarks, in a process of its own.

In its own process because the engine is measured, not the fake: sharing the engine's interpreter,
the fake's JSON encoding would compete for the GIL, and its contacts would count in the engine's
memory. `FastFakeHubSpot` answers exactly like `FakeHubSpot` (whose list endpoint bisects an id
order cached until the next write), but serves each contact's JSON encoded once, with orjson: the
fake's own encoding is then no part of a sync's measured time.

Run alone: `python -m benchmarks.fake_crm --contacts 100000` prints its base URL and serves until
stopped. From Python: `with fake_crm_process(contacts=..., seed=...) as base_url: ...`.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import orjson

from ingestion.fake_sources.generator import dutch_contacts
from ingestion.fake_sources.hubspot import LIST_DEFAULTS, FakeHubSpot, _error, _int, _property_list
from ingestion.fake_sources.server import RecordedRequest, Response

CONTACTS_SEED = 2026


class FastFakeHubSpot(FakeHubSpot):
    """`FakeHubSpot` whose list pages are built from contacts serialised once.

    The list endpoint answers exactly what `FakeHubSpot` answers (the same objects, the same
    paging), but each contact's JSON is encoded once per property list (with orjson) and a page is
    those bytes joined: the fake's own JSON encoding is then no part of what a sync's time measures.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._encoded: dict[tuple, tuple[int, dict[str, bytes]]] = {}

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
            encoded = self._encoded_for(tuple(properties))
            results = []
            for contact_id in page:
                data = encoded.get(contact_id)
                if data is None:
                    obj = self._object(contact_id, self._contacts[contact_id], properties, list_defaults=True)
                    data = encoded[contact_id] = orjson.dumps(obj)
                results.append(data)
            next_after = ids[start + limit] if start + limit < len(ids) else None
        body = b'{"results":[' + b",".join(results) + b"]"
        if next_after is not None:
            paging = {"next": {"after": next_after, "link": f"?after={next_after}"}}
            body += b',"paging":' + orjson.dumps(paging)
        return Response(200, body + b"}")

    def _encoded_for(self, properties: tuple) -> dict[str, bytes]:
        cached = self._encoded.get(properties)
        if cached is None or cached[0] != self._version:
            cached = self._encoded[properties] = (self._version, {})
        return cached[1]


@contextlib.contextmanager
def fake_crm_process(*, contacts: int, seed: int = CONTACTS_SEED) -> Iterator[str]:
    """Serve `contacts` generated HubSpot contacts from a child process; yields its base URL."""
    process = subprocess.Popen(  # noqa: S603 - our own module, with our own interpreter
        [sys.executable, "-m", "benchmarks.fake_crm", "--contacts", str(contacts), "--seed", str(seed)],
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = process.stdout.readline().strip()
        if not line.startswith("http://"):
            raise RuntimeError(f"the fake CRM did not start: {line!r}")
        yield line
    finally:
        process.stdin.close()  # the fake stops when its stdin closes
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fake_crm", description=__doc__)
    parser.add_argument("--contacts", type=int, required=True)
    parser.add_argument("--seed", type=int, default=CONTACTS_SEED)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = FastFakeHubSpot(dutch_contacts(args.contacts, seed=args.seed), port=args.port)
    base_url = server.start()
    print(base_url, flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
