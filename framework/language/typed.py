"""The typed tree: what a checked expression means, independent of how it is evaluated.

Both evaluators (in memory over a snapshot, and compiled to SQL) walk these nodes and nothing else.
Every node knows its type and where it came from in the text.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from .schema import Type

Scalar = Decimal | date | str | bool | None


@dataclass(frozen=True, kw_only=True)
class Node:
    type: Type
    line: int = 1
    column: int = 1


@dataclass(frozen=True, kw_only=True)
class Const(Node):
    value: Scalar


@dataclass(frozen=True, kw_only=True)
class Param(Node):
    name: str
    value: Scalar


@dataclass(frozen=True, kw_only=True)
class Today(Node):
    pass


@dataclass(frozen=True, kw_only=True)
class FieldRef(Node):
    """A value of the client (`scope` client, facts, property) or of the current row (`scope` row)."""

    scope: str
    name: str
    collection: str = ""  # for scope "row": the collection the row belongs to


@dataclass(frozen=True, kw_only=True)
class Arith(Node):
    op: str  # + - * /
    left: Node
    right: Node


@dataclass(frozen=True, kw_only=True)
class Neg(Node):
    operand: Node


@dataclass(frozen=True, kw_only=True)
class Shift(Node):
    """A date moved by a whole number of days or months (`today + 14 days`)."""

    operand: Node
    days: int = 0
    months: int = 0


@dataclass(frozen=True, kw_only=True)
class Compare(Node):
    op: str  # = != < <= > >=
    left: Node
    right: Node


@dataclass(frozen=True, kw_only=True)
class And(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, kw_only=True)
class Or(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, kw_only=True)
class Not(Node):
    operand: Node


@dataclass(frozen=True, kw_only=True)
class IsNull(Node):
    operand: Node


@dataclass(frozen=True, kw_only=True)
class IsTrue(Node):
    """`x is true` (`value` True) or `x is false`: never null."""

    operand: Node
    value: bool = True


@dataclass(frozen=True, kw_only=True)
class InList(Node):
    operand: Node
    options: tuple[Node, ...]


@dataclass(frozen=True, kw_only=True)
class Contains(Node):
    """`"income" in facts.stale_field_groups`."""

    container: Node
    item: Node


@dataclass(frozen=True, kw_only=True)
class Call(Node):
    """A scalar function: coalesce, abs, days_between, months_between, years_between."""

    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, kw_only=True)
class Aggregate(Node):
    """count/sum/min/max/any/all over a client's rows, after `where` (kept when definitely true)."""

    name: str
    collection: str
    where: Node | None = None
    field: str = ""  # sum, min, max: the field aggregated
    predicate: Node | None = None  # any(rows, p), all(rows, p)


def walk(node: Node):
    """Every node below and including `node` (the tree is shallow: its depth is bounded)."""
    yield node
    for value in vars(node).values():
        if isinstance(value, Node):
            yield from walk(value)
        elif isinstance(value, tuple):
            for item in value:
                if isinstance(item, Node):
                    yield from walk(item)
