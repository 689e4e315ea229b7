"""Is this source record a client Steward already knows? Pure scoring over plain values.

Linking goes from certain to uncertain: a known source id, then a deterministic key (email), then
a fuzzy score over name, birth date and postcode. Above `LINK_THRESHOLD` the record is linked; in
the grey zone down to `REVIEW_THRESHOLD` a person decides; below it the record is a new client.
Nothing is ever merged silently below the threshold.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, lru_cache

from rapidfuzz import fuzz, process

from clients.search import normalise_search_text

LINK_THRESHOLD = 90
REVIEW_THRESHOLD = 70
# With the same email, a looser likeness suffices (a typo, a missing birth date), but not another
# person sharing the family's address.
EMAIL_LINK_THRESHOLD = 60
# ...or, when a source knows nothing but name and email, a name this alike (a shared family
# address has other first names).
EMAIL_NAME_SIMILARITY = 85


_normalised_cached = lru_cache(maxsize=32_768)(normalise_search_text)


def normalised_name(text: str) -> str:
    """`normalise_search_text`, fast: matching and the recompute normalise every name they meet.

    For ASCII text the result is simply lower case with single spaces: NFKD leaves ASCII as it
    is, ASCII has no combining marks, and casefold() is lower() there. Other text is normalised
    in full, and remembered (names repeat).
    """
    if text.isascii():
        return " ".join(text.lower().split())
    return _normalised_cached(text)


@dataclass(frozen=True)
class Person:
    """What matching looks at, from a source record or a client."""

    first_name: str = ""
    last_name_prefix: str = ""
    last_name: str = ""
    birth_date: date | None = None
    postcode: str = ""
    email: str = ""

    @cached_property
    def name(self) -> str:
        # Cached: a record is compared with every candidate of its block, and normalising is the
        # costly part of a comparison.
        return normalised_name(f"{self.first_name} {self.last_name_prefix} {self.last_name}")

    @classmethod
    def from_values(cls, values: dict) -> "Person":
        birth = values.get("client.birth_date")
        return cls(
            first_name=values.get("client.first_name", ""),
            last_name_prefix=values.get("client.last_name_prefix", ""),
            last_name=values.get("client.last_name", ""),
            birth_date=date.fromisoformat(birth) if birth else None,
            postcode=values.get("client.postcode", ""),
            email=(values.get("client.email") or "").lower(),
        )

    @classmethod
    def from_client(cls, client) -> "Person":
        return cls(
            first_name=client.first_name,
            last_name_prefix=client.last_name_prefix,
            last_name=client.last_name,
            birth_date=client.birth_date,
            postcode=client.postcode,
            email=(client.email or "").lower(),
        )


@dataclass(frozen=True)
class MatchScore:
    score: float
    reasons: list[str] = field(default_factory=list)


def score_match(record: Person, client: Person) -> MatchScore:
    """0–100: name similarity weighs half, an equal birth date 30, an equal postcode 20."""
    reasons = []
    name_similarity = fuzz.token_sort_ratio(record.name, client.name) if record.name and client.name else 0.0
    score = name_similarity * 0.5
    reasons.append(f"name {name_similarity:.0f}% alike")
    if record.birth_date and client.birth_date:
        if record.birth_date == client.birth_date:
            score += 30
            reasons.append("same birth date")
        elif (record.birth_date.day, record.birth_date.month) == (
            client.birth_date.month,
            client.birth_date.day,
        ):
            score += 15  # day and month swapped: a common typing error
            reasons.append("birth date with day and month swapped")
        else:
            reasons.append("different birth date")
    if record.postcode and client.postcode:
        if record.postcode.replace(" ", "") == client.postcode.replace(" ", ""):
            score += 20
            reasons.append("same postcode")
        else:
            reasons.append("different postcode")
    return MatchScore(score=round(min(score, 100.0), 1), reasons=reasons)


def name_similarity(record: Person, client) -> float:
    """0–100: how alike the record's name is to the client's, word order and case aside."""
    other = Person.from_client(client)
    if not record.name or not other.name:
        return 0.0
    return fuzz.token_sort_ratio(record.name, other.name)


def best_match(record: Person, clients: list) -> tuple[object, MatchScore] | None:
    """The client that scores highest against the record, with its score (None without clients)."""
    return best_match_among(record, [(client, Person.from_client(client)) for client in clients])


def best_match_among(
    record: Person, candidates: Iterable[tuple[object, Person]], *, floor: float | None = None
) -> tuple[object, MatchScore] | None:
    """`best_match` over clients whose `Person` is known already, skipping those that cannot score `floor`.

    A candidate's person may be anything with the `birth_date`, `postcode` and `name` a Person
    would have. With a floor, None also means "nobody reaches the floor"; whoever does is found
    exactly as `best_match` finds them (the same scores, the lower id winning a tie).
    """
    best, best_key = None, None
    for client, person in candidates:
        score = _score(record, person, floor)
        if score is None:
            continue
        key = (score, -client.pk)
        if best_key is None or key > best_key:
            best, best_key = (client, person), key
    if best is None:
        return None
    return best[0], score_match(record, best[1])


# A candidate sharing the birth date but not the postcode scores half its name's likeness plus 30:
# below a likeness of 80 it cannot reach REVIEW_THRESHOLD (70). A little lower, so that no float
# rounding at the edge can lose one; whoever passes is scored exactly by `_score`.
BIRTH_DATE_ONLY_LIKENESS = 2 * (REVIEW_THRESHOLD - 30) - 0.5


class BirthDateBlock:
    """The stored clients of one birth date, their names side by side for rapidfuzz to scan in C.

    In a book of a million clients a record shares its birth date with about 40, and scoring each
    in Python was a quarter of matching's time. `alike` gives the positions of only those that can
    still reach the review threshold: every one sharing the postcode too (then the name needs
    less), and of the others those whose name is at least BIRTH_DATE_ONLY_LIKENESS alike. The items
    are whatever the caller keeps per client (the sync: the row as read, turned into facts only
    when it is alike).
    """

    __slots__ = ("by_postcode", "items", "names")

    def __init__(self):
        self.items: list = []
        self.names: list[str] = []  # normalised, as `Person.name`
        self.by_postcode: dict[str, list[int]] = {}

    def add(self, item, name: str, postcode: str) -> None:
        if postcode:
            self.by_postcode.setdefault(postcode.replace(" ", ""), []).append(len(self.items))
        self.items.append(item)
        self.names.append(name)

    def alike(self, record: Person) -> list[int]:
        positions = list(self.by_postcode.get(record.postcode.replace(" ", ""), ())) if record.postcode else []
        if record.name:
            hits = process.extract(
                record.name,
                self.names,
                scorer=fuzz.token_sort_ratio,
                processor=None,
                score_cutoff=BIRTH_DATE_ONLY_LIKENESS,
                limit=None,
            )
            positions += [position for _name, _likeness, position in hits]
        return positions


def _score(record: Person, client: Person, floor: float | None) -> float | None:
    """`score_match(...).score` without its reasons; None when it cannot reach `floor`."""
    points = 0
    if record.birth_date and client.birth_date:
        if record.birth_date == client.birth_date:
            points += 30
        elif (record.birth_date.day, record.birth_date.month) == (client.birth_date.month, client.birth_date.day):
            points += 15
    if record.postcode and client.postcode and record.postcode.replace(" ", "") == client.postcode.replace(" ", ""):
        points += 20
    # The name adds at most 50, and rounding never decreases: below this bound, skip the fuzzy part.
    if floor is not None and round(min(50 + points, 100.0), 1) < floor:
        return None
    similarity = fuzz.token_sort_ratio(record.name, client.name) if record.name and client.name else 0.0
    # The same arithmetic in the same order as score_match, so the floats agree to the last bit.
    score = similarity * 0.5
    if record.birth_date and client.birth_date:
        if record.birth_date == client.birth_date:
            score += 30
        elif (record.birth_date.day, record.birth_date.month) == (client.birth_date.month, client.birth_date.day):
            score += 15
    if record.postcode and client.postcode and record.postcode.replace(" ", "") == client.postcode.replace(" ", ""):
        score += 20
    return round(min(score, 100.0), 1)
