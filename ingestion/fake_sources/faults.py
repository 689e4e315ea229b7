"""Fault scripts: a seeded plan of everything that goes wrong while a fake source serves one sync.

    script = FaultScript(seed=7)
    script.at_page(3, Fault.status_code(429, retry_after=2))       # the 3rd page request is refused
    script.after_page(5, lambda server: os.kill(pid, SIGKILL))     # kill the worker once page 5 went out
    script.mutate_pages(PageMutator(seed=7).mutate)                # every page's records mutated
    script.attach(fake)                                              # returns the script

A *page* is a request for records (HubSpot's list and search, the advisory tool's list): the fault
script counts those, not every request, so "after page k" means the same thing whatever else the
client asks in between. Everything is deterministic for a seed, so a failing scenario replays.
"""

from __future__ import annotations

import copy
import math
import random
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from .server import FakeServer, Fault, FaultScriptHooks, RecordedRequest, Response

PAGE_PATHS = ("/crm/v3/objects/contacts", "/crm/v3/objects/contacts/search", "/api/v2/relaties")

# The transport faults a sync must survive with nothing lost (each is retried by the HTTP layer).
TRANSIENT_FAULTS: tuple[Fault, ...] = (
    Fault.status_code(429, retry_after="1"),
    Fault.status_code(429),
    Fault.status_code(500),
    Fault.status_code(502),
    Fault.status_code(503),
    Fault.status_code(503, retry_after="1"),
    Fault.slow(0.3),
    Fault.truncated_body(),
    Fault.html(),
    Fault.malformed_json(),
    Fault.disconnect(),
)


class FaultScript(FaultScriptHooks):
    """Faults by page number, actions after a page was served, and page body transforms."""

    def __init__(self, *, seed: int = 0, page_paths: Iterable[str] = PAGE_PATHS) -> None:
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311 - test data, not cryptography
        self.page_paths = tuple(page_paths)
        self.pages_requested = 0
        self.pages_served = 0
        # (page number, fault, request number, Retry-After) of every fault injected, in order.
        self.faults_injected: list[tuple[int, str, int, str | None]] = []
        self._faults: dict[int, list[Fault]] = defaultdict(list)
        self._after: dict[int, list[Callable[[FakeServer], None]]] = defaultdict(list)
        self._before: dict[int, list[Callable[[], Fault | None]]] = defaultdict(list)
        self._transforms: list[Callable[[int, dict], dict]] = []
        self._lock = threading.Lock()

    # -- building the script --

    def attach(self, server: FakeServer) -> FaultScript:
        server.script = self
        return self

    def at_page(self, number: int, *faults: Fault) -> FaultScript:
        """The `number`-th page request (1-based) is answered with these faults, one per attempt."""
        self._faults[number].extend(faults)
        return self

    def after_page(self, number: int, action: Callable[[FakeServer], None]) -> FaultScript:
        """Run `action(server)` right after the `number`-th page was served in full."""
        self._after[number].append(action)
        return self

    def before_page(self, number: int, action: Callable[[], Fault | None]) -> FaultScript:
        """Run `action()` when the `number`-th page request arrives, before it is handled.

        If it returns a fault, that is the answer (`Fault.disconnect()`: the request never got in).
        """
        self._before[number].append(action)
        return self

    def transform_pages(self, transform: Callable[[int, dict], dict]) -> FaultScript:
        """Rewrite the JSON body of every page served: `transform(page_number, body) -> body`."""
        self._transforms.append(transform)
        return self

    def sprinkle(self, *, count: int, within_pages: int, faults: Iterable[Fault] = TRANSIENT_FAULTS) -> FaultScript:
        """`count` transient faults on seeded page requests among the first `within_pages`."""
        faults = list(faults)
        for number in self.rng.sample(range(1, within_pages + 1), min(count, within_pages)):
            self.at_page(number, self.rng.choice(faults))
        return self

    # -- what the server asks --

    def is_page(self, request: RecordedRequest) -> bool:
        return request.path in self.page_paths

    def fault_for(self, request: RecordedRequest) -> Fault | None:
        if not self.is_page(request):
            return None
        with self._lock:
            self.pages_requested += 1
            # A faulted request is retried by the client: the fault stays on the same page number.
            number = self.pages_served + 1
            before = self._before.pop(self.pages_requested, [])
            queued = self._faults.get(number)
        injected = None
        for action in before:
            injected = action() or injected
        with self._lock:
            if injected is None and not queued:
                return None
            fault = injected or queued.pop(0)
            kind = fault.kind if fault.kind != "status" else str(fault.status)
            self.faults_injected.append((number, kind, request.number, fault.retry_after))
            return fault

    def transform(self, request: RecordedRequest, response: Response) -> Response:
        if not self._transforms or not self.is_page(request) or response.status != 200:
            return response
        if not isinstance(response.body, dict):
            return response
        body = response.body
        for transform in self._transforms:
            body = transform(self.pages_served + 1, body)
        return Response(response.status, body, response.headers, response.content_type)

    def serving(self, request: RecordedRequest, response: Response) -> int | None:
        # Counted before the page goes out: once the client has it, it asks for the next page, and
        # that request must already see this one counted, or its number (and its faults) is skipped.
        if not self.is_page(request) or response.status != 200:
            return None
        with self._lock:
            self.pages_served += 1
            return self.pages_served

    def served(self, server: FakeServer, request: RecordedRequest, response: Response, number: int | None) -> None:
        if number is None:
            return
        with self._lock:
            actions = self._after.pop(number, [])
        for action in actions:
            action(server)


# --- Page transforms ------------------------------------------------------------------------------


def duplicate_records(*, every: int = 3) -> Callable[[int, dict], dict]:
    """Every `every`-th page repeats its first record at its end (sources do, across retries)."""

    def transform(number: int, body: dict) -> dict:
        results = body.get("results")
        if number % every or not isinstance(results, list) or not results:
            return body
        return {**body, "results": [*results, copy.deepcopy(results[0])]}

    return transform


def contacts_sharing_timestamps(contacts: list[dict], *, group_size: int, seed: int = 0) -> list[dict]:
    """Give runs of `group_size` consecutive contacts the very same `lastmodifieddate` (bulk imports).

    The incremental cursor is a timestamp; a page boundary inside a group sharing it is where a
    naive `GT` cursor skips records and a naive `GTE` one repeats them.
    """
    rng = random.Random(seed)  # noqa: S311
    shared = list(contacts)
    for start in range(0, len(shared), group_size):
        if rng.random() < 0.5:
            continue
        stamp = shared[start]["lastmodifieddate"]
        for index in range(start, min(start + group_size, len(shared))):
            shared[index] = {**shared[index], "lastmodifieddate": stamp}
    return shared


class PageMutator:
    """Seeded mutations of HubSpot contact objects: what a source with bad data sends.

    Each record of a page is mutated with probability `rate`, by one of the mutations below; the
    reason is kept per record id (`expected`), so a test can check what should be quarantined.
    """

    MUTATIONS = (
        "wrong_type",
        "null",
        "giant_string",
        "deep_nesting",
        "bad_date",
        "invalid_unicode",
        "huge_number",
        "negative_amount",
        "properties_not_object",
        "missing_id",
        "bad_updated_at",
    )

    def __init__(self, *, seed: int = 0, rate: float = 0.3) -> None:
        self.rng = random.Random(seed)  # noqa: S311
        self.rate = rate
        self.applied: dict[str, str] = {}  # record id -> mutation
        self._lock = threading.Lock()

    def __call__(self, number: int, body: dict) -> dict:
        results = body.get("results")
        if not isinstance(results, list):
            return body
        with self._lock:
            return {**body, "results": [self._maybe_mutate(copy.deepcopy(obj)) for obj in results]}

    def _maybe_mutate(self, obj: Any) -> Any:
        if not isinstance(obj, dict) or self.rng.random() >= self.rate:
            return obj
        mutation = self.rng.choice(self.MUTATIONS)
        self.applied[str(obj.get("id"))] = mutation
        props = obj.setdefault("properties", {})
        field = self.rng.choice(["firstname", "lastname", "email", "zip", "date_of_birth", "annual_income", "phone"])
        if mutation == "wrong_type":
            props[field] = self.rng.choice([12345, 3.5, True, ["a", "b"], {"nested": "x"}])
        elif mutation == "null":
            props[field] = None
        elif mutation == "giant_string":
            props[field] = "x" * self.rng.choice([1_000, 100_000, 1_000_000])
        elif mutation == "deep_nesting":
            nested: Any = "bottom"
            for _ in range(self.rng.choice([50, 500])):
                nested = {"level": nested}
            props[field] = nested
        elif mutation == "bad_date":
            props["date_of_birth"] = self.rng.choice(["31-02-1980", "1980-13-45", "gisteren", "", "0000-00-00", "9999"])
        elif mutation == "invalid_unicode":
            props[field] = self.rng.choice(["\ud800broken", "na\udfffme", "nul\x00byte", "\ufffe\uffff"])
        elif mutation == "huge_number":
            props["annual_income"] = self.rng.choice([str(2**63), str(2**64 + 7), 2**70, "1e400", math.inf])
        elif mutation == "negative_amount":
            props["annual_income"] = self.rng.choice(["-1", "-52000.00", -1e9])
        elif mutation == "properties_not_object":
            obj["properties"] = self.rng.choice([None, "text", [1, 2]])
        elif mutation == "missing_id":
            obj.pop("id", None)
        elif mutation == "bad_updated_at":
            obj["updatedAt"] = self.rng.choice(["gisteren", "2025-01-01T10:00:00", 1735725600, None])
        return obj
