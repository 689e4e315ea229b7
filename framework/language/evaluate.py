"""The in-memory evaluator: a typed tree over one client's facts snapshot.

Null logic (three-valued, as in SQL, so that this evaluator and the compiled query agree):

- A value that is unknown is null. Arithmetic and comparisons with a null are null; so is a
  division by zero and a date out of range.
- `and` is false if any side is false, else null if any side is null; `or` is true if any side is
  true, else null if any is null; `not null` is null.
- `x is null`, `x is true` and `x is false` are never null: they are how a rule speaks about
  unknowns on purpose.
- `coll[cond]` keeps the rows where `cond` is definitely true. `count` counts rows. `sum` of no
  rows is 0; `min`/`max` of no rows is null; an aggregate over values of which one is null is null
  (a total with a gap in it is unknown, not smaller).
- `any(coll, p)` is true if p is true for some row, else null if p is null for some row, else
  false; `all(coll, p)` is false if p is false for some row, else null if null for some, else true.

A rule fires only when its condition is definitely true: unknown facts never raise an alert by
accident ("fails closed"); the explanation then says which value was missing.

Bounded work: the parser bounds an expression's size and depth, and aggregates do not nest, so a
rule visits each row of a client a bounded number of times. On top of that, every evaluation has a
budget of steps (a node visited, a row read: MAX_EVALUATION_STEPS); a client file so large that one
evaluation would exceed it makes the value unknown (null: fails closed) instead of running on.
"""

import decimal
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from . import dates
from . import typed as t

# About a second of work at most; the largest real rule over a large client file needs a few thousand.
MAX_EVALUATION_STEPS = 1_000_000

_CONTEXT = decimal.Context(prec=28, Emax=10**6, Emin=-(10**6), traps=[decimal.InvalidOperation, decimal.Overflow])


@dataclass(frozen=True)
class Read:
    """One value the evaluation looked at: ('facts', None, 'age') or ('policies', 12, 'insured_amount')."""

    scope: str
    row_id: int | None
    field: str
    value: object

    @property
    def name(self) -> str:
        """The value as a rule names it; a collection's row also by its id."""
        if self.scope in ("client", "facts", "property"):
            return f"{self.scope}.{self.field}"
        return f"{self.scope}[{self.row_id}].{self.field}"


@dataclass
class Evaluation:
    snapshot: dict
    today: date
    reads: dict = field(default_factory=dict)  # (scope, row id, field) -> Read, in reading order
    max_steps: int = MAX_EVALUATION_STEPS  # for all the evaluations that share this object
    steps: int = 0
    exhausted: bool = False  # the budget ran out: a value evaluated with this object is unknown

    def step(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > self.max_steps:
            self.exhausted = True
            raise _OutOfSteps

    def record(self, scope: str, row_id, name: str, value) -> None:
        key = (scope, row_id, name)
        if key not in self.reads:
            self.reads[key] = Read(scope, row_id, name, value)


class _OutOfSteps(Exception):
    """The evaluation's step budget ran out (caught in `evaluate`)."""


def evaluate(node: t.Node, snapshot: dict, *, today: date, evaluation: Evaluation | None = None):
    """The value of `node` for the client in `snapshot`: Decimal, date, str, bool, list or None.

    None also when the evaluation's step budget runs out (`evaluation.exhausted` then says so).
    """
    evaluation = evaluation or Evaluation(snapshot=snapshot, today=today)
    if evaluation.exhausted:
        return None
    try:
        return _eval(node, evaluation, None)
    except _OutOfSteps:
        return None


def _number(value):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def _read(node: t.FieldRef, evaluation: Evaluation, row):
    if node.scope == "row":
        value = row.get(node.name)
        evaluation.record(node.collection, row.get("id"), node.name, value)
        return _number(value)
    values = evaluation.snapshot.get(node.scope)
    value = values.get(node.name) if values else None
    row_id = values.get("id") if node.scope == "property" and values else None
    evaluation.record(node.scope, row_id, node.name, value)
    return _number(value)


def _arith(op: str, left, right):
    if left is None or right is None:
        return None
    try:
        if op == "+":
            result = _CONTEXT.add(left, right)
        elif op == "-":
            result = _CONTEXT.subtract(left, right)
        elif op == "*":
            result = _CONTEXT.multiply(left, right)
        else:
            if right == 0:
                return None
            result = _CONTEXT.divide(left, right)
    except decimal.DecimalException:
        return None
    return result if result.is_finite() else None


def _compare(op: str, left, right):
    if left is None or right is None:
        return None
    if op == "=":
        return left == right
    if op == "!=":
        return left != right
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left >= right


def kleene_and(values) -> bool | None:
    if any(value is False for value in values):
        return False
    return None if any(value is None for value in values) else True


def kleene_or(values) -> bool | None:
    if any(value is True for value in values):
        return True
    return None if any(value is None for value in values) else False


def _shift(node: t.Shift, value):
    if value is None:
        return None
    try:
        if node.months:
            value = dates.add_months(value, node.months)
        return dates.add_days(value, node.days) if node.days else value
    except (OverflowError, ValueError):
        return None


def _call(node: t.Call, args: list):
    if node.name == "coalesce":
        return next((value for value in args if value is not None), None)
    if any(value is None for value in args):
        return None
    if node.name == "abs":
        return abs(args[0])
    function = {"days_between": dates.days_between, "months_between": dates.months_between}.get(
        node.name, dates.years_between
    )
    return Decimal(function(args[0], args[1]))


def _aggregate(node: t.Aggregate, evaluation: Evaluation):
    rows = evaluation.snapshot.get(node.collection) or []
    evaluation.step(len(rows))
    if node.where is not None:
        rows = [row for row in rows if _eval(node.where, evaluation, row) is True]
    if node.name == "count":
        return Decimal(len(rows))
    if node.name in ("any", "all"):
        if node.predicate is None:
            return bool(rows)
        truths = [_eval(node.predicate, evaluation, row) for row in rows]
        return kleene_or(truths) if node.name == "any" else kleene_and(truths)
    values = []
    for row in rows:
        value = row.get(node.field)
        evaluation.record(node.collection, row.get("id"), node.field, value)
        values.append(_number(value))
    if any(value is None for value in values):
        return None
    if node.name == "sum":
        try:
            total = sum(values, Decimal(0))
        except decimal.DecimalException:
            return None
        return total if total.is_finite() else None
    if not values:
        return None
    return min(values) if node.name == "min" else max(values)


def _eval(node: t.Node, evaluation: Evaluation, row):
    evaluation.step()
    match node:
        case t.Const() | t.Param():
            return node.value
        case t.Today():
            return evaluation.today
        case t.FieldRef():
            return _read(node, evaluation, row)
        case t.Arith():
            return _arith(node.op, _eval(node.left, evaluation, row), _eval(node.right, evaluation, row))
        case t.Neg():
            value = _eval(node.operand, evaluation, row)
            return None if value is None else -value
        case t.Shift():
            return _shift(node, _eval(node.operand, evaluation, row))
        case t.Compare():
            return _compare(node.op, _eval(node.left, evaluation, row), _eval(node.right, evaluation, row))
        case t.And():
            return kleene_and([_eval(item, evaluation, row) for item in node.items])
        case t.Or():
            return kleene_or([_eval(item, evaluation, row) for item in node.items])
        case t.Not():
            value = _eval(node.operand, evaluation, row)
            return None if value is None else not value
        case t.IsNull():
            return _eval(node.operand, evaluation, row) is None
        case t.IsTrue():
            return _eval(node.operand, evaluation, row) is node.value
        case t.InList():
            value = _eval(node.operand, evaluation, row)
            if value is None:
                return None
            return any(value == _eval(option, evaluation, row) for option in node.options)
        case t.Contains():
            container = _eval(node.container, evaluation, row)
            item = _eval(node.item, evaluation, row)
            if container is None or item is None:
                return None
            return isinstance(container, list) and item in container
        case t.Call():
            return _call(node, [_eval(arg, evaluation, row) for arg in node.args])
        case t.Aggregate():
            return _aggregate(node, evaluation)
    raise TypeError(f"unknown node {type(node).__name__}")  # unreachable for a checked tree
