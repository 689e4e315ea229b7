"""Enrichment providers: each derives some `ClientFacts` fields for many clients at once.

A provider is one module in this package that defines `provider = Provider(...)`: its key, the
inputs it reads, the facts it writes (`outputs`, ClientFacts field names), how old its facts may get
before they are stale (`max_staleness`), and `compute(batch) -> Derived`. Adding a provider is adding
a module: `registry()` finds every module here, checks the declarations and orders the providers so
that one reading another's facts (an input "facts.<field>") runs after it.

`compute` works on a whole batch of clients (up to 10,000): a few queries with the batch's client
filter, then pandas over the frames. It never issues a query per client. For each output it returns
either a value or, where it cannot tell, the reason (never zero, never a guess): see `Derived`.
"""

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache

import pandas as pd
from django.db.models import Q

# Reasons are stored in English and translated where they are shown; they are message ids.
from django.utils.translation import gettext_noop


@dataclass(frozen=True)
class Provider:
    key: str
    label: str
    inputs: tuple[str, ...]  # "Model.field", "facts.<field>" or "reference.<table>"
    outputs: tuple[str, ...]  # ClientFacts fields
    max_staleness: timedelta
    compute: Callable[["Batch"], "Derived"]

    @property
    def fact_inputs(self) -> set[str]:
        return {name.split(".", 1)[1] for name in self.inputs if name.startswith("facts.")}


@dataclass
class Batch:
    """The clients one provider run covers, and the facts earlier providers derived for them."""

    client_ids: list[int]  # sorted, unique
    today: date
    now: datetime
    # With `by_range`, related rows are filtered by the id range (index-friendly for the nightly run
    # over the whole book); rows of clients outside `client_ids` are dropped by `reindex`.
    by_range: bool = False
    # Facts earlier providers derived for these clients, and the reasons where they could not.
    facts: pd.DataFrame = field(default=None)  # type: ignore[assignment]
    reasons: pd.DataFrame = field(default=None)  # type: ignore[assignment]
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.facts is None:
            self.facts = pd.DataFrame(index=self.index)
        if self.reasons is None:
            self.reasons = pd.DataFrame(index=self.index)

    @property
    def index(self) -> pd.Index:
        return pd.Index(self.client_ids, name="client_id")

    def clients(self, lookup: str = "client_id") -> Q:
        """A filter on `lookup` (a path to the client id) that selects this batch's clients."""
        if self.by_range:
            # (Relations support gte/lte but not range.)
            return Q(**{f"{lookup}__gte": self.client_ids[0], f"{lookup}__lte": self.client_ids[-1]})
        return Q(**{f"{lookup}__in": self.client_ids})

    def cached(self, name: str, load: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """A frame shared by the providers of this batch (e.g. the clients' own columns), loaded once."""
        if name not in self._cache:
            self._cache[name] = load()
        return self._cache[name]

    def subset(self, client_ids: list[int]) -> "Batch":
        return Batch(
            client_ids=client_ids,
            today=self.today,
            now=self.now,
            by_range=False,
            facts=self.facts.loc[client_ids],
            reasons=self.reasons.loc[client_ids],
        )

    def reindex(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` (indexed by client id) with exactly this batch's clients, missing ones as NaN."""
        return frame.reindex(self.index)


NOT_COMPUTED = gettext_noop("not computed")
PROVIDER_FAILED = gettext_noop("the provider failed for this client (see the log)")


class Derived:
    """What a provider derived for a batch: per client and output a value, or the reason there is none.

    Also an optional note per value (provenance detail such as "provisional"), stored with the fact's
    provenance as a message id and its parameters.
    """

    def __init__(self, index: pd.Index, outputs: Iterable[str]):
        self.outputs = tuple(outputs)
        self.values = pd.DataFrame({name: pd.Series(None, index=index, dtype=object) for name in self.outputs})
        self.reasons = pd.DataFrame({name: pd.Series(NOT_COMPUTED, index=index, dtype=object) for name in self.outputs})
        self.notes = pd.DataFrame({name: pd.Series(None, index=index, dtype=object) for name in self.outputs})

    def set(self, output: str, values: pd.Series) -> None:
        """Set the values present in `values` (indexed by client id); NaN/None entries are left alone."""
        values = values[values.notna()]
        values = values[values.index.isin(self.values.index)]
        if values.empty:
            return
        self.values.loc[values.index, output] = values.astype(object)
        self.reasons.loc[values.index, output] = None

    def unknown(self, output: str, reason: str, where: pd.Series | pd.Index) -> None:
        """No value for the clients selected by `where` (a boolean Series or an index), because `reason`."""
        index = where[where.fillna(False).astype(bool)].index if isinstance(where, pd.Series) else where
        index = index[index.isin(self.values.index)]
        if len(index) == 0:
            return
        self.values.loc[index, output] = None
        self.reasons.loc[index, output] = reason

    def note(self, output: str, message: str, where: pd.Series | pd.Index, params: pd.Series | None = None) -> None:
        """A note on the values selected by `where`: a message id, with per-client %-parameters."""
        index = where[where.fillna(False).astype(bool)].index if isinstance(where, pd.Series) else where
        index = index[index.isin(self.values.index)]
        if len(index) == 0:
            return
        if params is None:
            entries = [{"note": message}] * len(index)
        else:
            entries = [{"note": message, "params": value} for value in params.reindex(index)]
        self.notes.loc[index, output] = pd.Series(entries, index=index, dtype=object)

    def fail(self, reason: str = PROVIDER_FAILED) -> "Derived":
        for output in self.outputs:
            self.values[output] = None
            self.reasons[output] = reason
            self.notes[output] = None
        return self

    @classmethod
    def concat(cls, parts: list["Derived"]) -> "Derived":
        joined = cls(pd.Index([], name="client_id"), parts[0].outputs)
        joined.values = pd.concat([part.values for part in parts])
        joined.reasons = pd.concat([part.reasons for part in parts])
        joined.notes = pd.concat([part.notes for part in parts])
        return joined


def frame(rows, columns: list[str], index: str | None = "client_id") -> pd.DataFrame:
    """A DataFrame from `values_list` rows (one query)."""
    data = pd.DataFrame.from_records(list(rows), columns=columns)
    return data.set_index(index) if index else data


class RegistryError(Exception):
    pass


@cache
def registry() -> tuple[Provider, ...]:
    """Every provider module of this package, checked and in dependency order."""
    providers = []
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        if isinstance(getattr(module, "provider", None), Provider):
            providers.append(module.provider)
    return order_providers(providers)


def order_providers(providers: list[Provider]) -> tuple[Provider, ...]:
    """Check the declarations and order the providers so each runs after those whose facts it reads."""
    from ..models import ClientFacts

    fact_fields = {f.name for f in ClientFacts._meta.get_fields() if f.concrete} - {
        "client",
        "unknown",
        "provenance",
        "computed_at",
    }
    producer: dict[str, str] = {}
    keys = set()
    for provider in providers:
        if provider.key in keys:
            raise RegistryError(f"two providers are called {provider.key!r}")
        keys.add(provider.key)
        for output in provider.outputs:
            if output not in fact_fields:
                raise RegistryError(f"{provider.key}: {output!r} is not a ClientFacts field")
            if output in producer:
                raise RegistryError(f"{output!r} is derived by both {producer[output]!r} and {provider.key!r}")
            producer[output] = provider.key
    for provider in providers:
        for needed in provider.fact_inputs:
            if needed not in producer:
                raise RegistryError(f"{provider.key}: no provider derives facts.{needed}")
    ordered: list[Provider] = []
    remaining = list(providers)
    while remaining:
        ready = [p for p in remaining if all(producer[n] in {o.key for o in ordered} for n in p.fact_inputs)]
        if not ready:
            raise RegistryError("providers depend on each other in a cycle: " + ", ".join(p.key for p in remaining))
        ordered.extend(ready)
        remaining = [p for p in remaining if p not in ready]
    return tuple(ordered)


def provider_for_fact(fact: str) -> Provider | None:
    return next((provider for provider in registry() if fact in provider.outputs), None)


def provider_by_key(key: str) -> Provider | None:
    return next((provider for provider in registry() if provider.key == key), None)
