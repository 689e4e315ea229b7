"""Which source's value wins a field: pure functions over the candidates.

Per target the admin declares an ordered list of sources, or "most recently changed wins"
(`FieldPrecedence`). The most specific declaration applies: the field ('client.email'), then its
entity ('client.*'), then everything ('*'). Without any declaration an advisor's manual correction
wins, then the client's own answer, then the most recent change, so a sync never silently
overwrites what a person entered.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clients.provenance import CLIENT, MANUAL

ORDERED = "ordered"
MOST_RECENT = "most_recent"
DEFAULT_RULE = (ORDERED, (MANUAL, CLIENT))


@dataclass(frozen=True)
class Candidate:
    """One source's value for one field."""

    source: str
    value: Any
    changed_at: datetime
    fetched_at: datetime
    record_id: str


@dataclass(frozen=True)
class Resolution:
    winner: Candidate
    losers: list[Candidate]  # candidates holding a different value


class PrecedenceRules:
    """The declared rules, looked up from most to least specific target."""

    def __init__(self, declared: dict[str, tuple[str, tuple[str, ...]]]):
        self.declared = declared
        # Per target: its strategy and each listed source's rank. A sync resolves the same few
        # dozen targets for thousands of clients; looking the rule up once per target is enough.
        self._ranks: dict[str, tuple[str, dict[str, int], int]] = {}

    @classmethod
    def from_models(cls, precedences) -> "PrecedenceRules":
        return cls({item.target: (item.strategy, tuple(item.ordered_sources)) for item in precedences})

    def rule_for(self, target: str) -> tuple[str, tuple[str, ...]]:
        entity = target.split(".", 1)[0]
        for key in (target, f"{entity}.*", "*"):
            if key in self.declared:
                return self.declared[key]
        return DEFAULT_RULE

    def resolve(self, target: str, candidates: list[Candidate]) -> Resolution | None:
        """The winner among candidates (None when there are none), and those that disagree with it."""
        if not candidates:
            return None
        ranked = self._ranks.get(target)
        if ranked is None:
            strategy, order = self.rule_for(target)
            ranked = (strategy, {source: index for index, source in enumerate(order)}, len(order))
            self._ranks[target] = ranked
        strategy, rank, unlisted = ranked

        def ordered_key(candidate: Candidate):
            # Listed sources in their order; the rest after them, most recent first.
            return (rank.get(candidate.source, unlisted), -candidate.changed_at.timestamp(), candidate.source)

        def recent_key(candidate: Candidate):
            return (-candidate.changed_at.timestamp(), rank.get(candidate.source, unlisted), candidate.source)

        winner = min(candidates, key=recent_key if strategy == MOST_RECENT else ordered_key)
        losers = [candidate for candidate in candidates if candidate.value != winner.value]
        return Resolution(winner=winner, losers=losers)
