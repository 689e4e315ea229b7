"""What a benchmark scenario is, and the registry `python -m benchmarks` runs.

A scenario measures one thing Steward does at scale. It has a name, an optional `setup` (build
what every run needs, untimed), a `run` (one timed run: seconds and how many records or rows it
handled), an optional `baseline` (the same work done the naive way, usually on a sample and
extrapolated) and an optional `teardown`. A scenario may handle fewer records than the book has
clients, to stay within the time budget; `cap_note` says why.

Register one with the decorator, in a module of `benchmarks.scenarios`:

    @scenario(name="dashboard", description="...", unit="clients", needs_clients=True)
    def dashboard(context, state) -> Measurement:
        started = time.perf_counter()
        ...
        return Measurement(seconds=time.perf_counter() - started, count=context.size)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Measurement:
    """One timed run: its duration and how many records (rows, clients...) it handled."""

    seconds: float
    count: int
    extra: dict = field(default_factory=dict)  # scenario-specific figures, printed and kept in the JSON
    # When the work ran in processes of its own (memory_sync's probes): their peak, reported instead
    # of the peak of the scenario's process.
    peak_rss_mb: float | None = None


@dataclass(frozen=True)
class Baseline:
    """The naive way, measured on `sample_count` items and extrapolated to the scenario's count."""

    seconds: float  # extrapolated
    sample_count: int
    sample_seconds: float
    method: str  # in words, for the report


@dataclass
class Context:
    """What a scenario knows about the run it is part of."""

    size: int  # clients in the book (`--size`)
    runs: int
    log: Callable[[str], None] = print
    # True when the scenario runs in a process of its own against a committed database, so it may
    # start further processes that use the database; False in the test suite.
    isolated: bool = False
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    unit: str
    run: Callable[[Context, Any], Measurement]
    setup: Callable[[Context], Any] | None = None
    teardown: Callable[[Context, Any], None] | None = None
    baseline: Callable[[Context, Any], Baseline] | None = None
    needs_clients: bool = False  # the book of `size` generated clients must exist
    cap_note: str = ""  # why a run may handle fewer records than the book has clients


SCENARIOS: dict[str, Scenario] = {}


def scenario(
    *,
    name: str,
    description: str,
    unit: str,
    setup: Callable[[Context], Any] | None = None,
    teardown: Callable[[Context, Any], None] | None = None,
    baseline: Callable[[Context, Any], Baseline] | None = None,
    needs_clients: bool = False,
    cap_note: str = "",
):
    """Register the decorated function as the `run` of a scenario."""

    def register(run: Callable[[Context, Any], Measurement]) -> Callable[[Context, Any], Measurement]:
        if name in SCENARIOS:
            raise ValueError(f"a scenario named {name!r} is registered already")
        SCENARIOS[name] = Scenario(
            name=name,
            description=description,
            unit=unit,
            run=run,
            setup=setup,
            teardown=teardown,
            baseline=baseline,
            needs_clients=needs_clients,
            cap_note=cap_note,
        )
        return run

    return register


def scenarios_load() -> dict[str, Scenario]:
    """Every registered scenario (importing benchmarks.scenarios registers them)."""
    from . import scenarios  # noqa: F401 - registers on import

    return SCENARIOS
