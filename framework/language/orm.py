"""The set-based evaluator: a typed tree compiled to Django ORM expressions over Client rows.

Conditions become SQL conditions, whose three-valued logic is exactly the in-memory evaluator's
(see evaluate.py): SQL itself is null when a side is null, and a WHERE keeps only rows whose
condition is true. Collections become correlated subqueries that aggregate without GROUP BY (so a
client without rows still gets one answer: a count of 0, a sum of 0, a min of null). Calendar
arithmetic is written per database so that PostgreSQL, SQLite and Python agree to the day.

Nothing of the rule's text reaches the SQL: names were resolved against the schema's whitelist by
the checker, and every value travels as a query parameter.
"""

import operator
import re
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from functools import reduce

from django.db.models import (
    BooleanField,
    Case,
    CharField,
    DateField,
    DecimalField,
    Exists,
    F,
    Func,
    IntegerField,
    JSONField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate
from django.db.models.lookups import Exact, GreaterThan, GreaterThanOrEqual, IsNull, LessThan, LessThanOrEqual
from django.utils import timezone

from . import typed as t
from .schema import Type, schema


def output_field(value_type: Type):
    return {
        Type.NUMBER: DecimalField(max_digits=40, decimal_places=10),
        Type.DATE: DateField(),
        Type.TEXT: CharField(),
        Type.BOOL: BooleanField(),
        Type.TEXT_LIST: JSONField(),
    }[value_type]


class Template(Func):
    """SQL from a per-database template with named parts, each of which may appear more than once."""

    def __init__(self, parts: dict, *, templates: dict[str, str], output_field):
        self.part_names = list(parts)
        self.templates = templates
        super().__init__(*parts.values(), output_field=output_field)

    def as_sql(self, compiler, connection, **extra_context):
        template = self.templates.get(connection.vendor, self.templates["default"])
        compiled = {
            name: compiler.compile(expression)
            for name, expression in zip(self.part_names, self.get_source_expressions(), strict=True)
        }
        sql, params = [], []
        for index, piece in enumerate(re.split(r"\{(\w+)\}", template)):
            if index % 2:
                part_sql, part_params = compiled[piece]
                sql.append(part_sql)
                params.extend(part_params)
            else:
                sql.append(piece)
        return "".join(sql), params


def bool_value(condition: Q) -> Template:
    """A condition as a yes/no value (null stays null)."""
    return Template({"p": condition}, templates={"default": "({p})"}, output_field=BooleanField())


_NUMBER = DecimalField(max_digits=40, decimal_places=10)
_INTEGER = IntegerField()

# Aggregates without GROUP BY: one row per client, even for a client without rows.
_AGGREGATES = {
    "count": "COUNT(*)",
    "sum": "(CASE WHEN COUNT(*) = COUNT({x}) THEN COALESCE(SUM({x}), 0) ELSE NULL END)",
    "min": "(CASE WHEN COUNT(*) = COUNT({x}) THEN MIN({x}) ELSE NULL END)",
    "max": "(CASE WHEN COUNT(*) = COUNT({x}) THEN MAX({x}) ELSE NULL END)",
    # Per row: 2 = true, 1 = null, 0 = false. any = the best row, all = the worst; none = false/true.
    "any": "COALESCE(MAX({x}), 0)",
    "all": "COALESCE(MIN({x}), 2)",
}

_MONTHS_BETWEEN = {
    "postgresql": (
        "CAST(CASE WHEN {b} >= {a} THEN {forward} ELSE -({backward}) END AS INTEGER)",
        "((date_part('year', {y}) - date_part('year', {x})) * 12 + date_part('month', {y}) - date_part('month', {x})"
        " - CASE WHEN date_part('day', {y}) < date_part('day', {x}) THEN 1 ELSE 0 END)",
    ),
    "sqlite": (
        "CAST(CASE WHEN {b} >= {a} THEN {forward} ELSE -({backward}) END AS INTEGER)",
        "((CAST(strftime('%%Y', {y}) AS INTEGER) - CAST(strftime('%%Y', {x}) AS INTEGER)) * 12"
        " + CAST(strftime('%%m', {y}) AS INTEGER) - CAST(strftime('%%m', {x}) AS INTEGER)"
        " - CASE WHEN CAST(strftime('%%d', {y}) AS INTEGER) < CAST(strftime('%%d', {x}) AS INTEGER)"
        " THEN 1 ELSE 0 END)",
    ),
}
_YEARS_BETWEEN = {
    "postgresql": (
        "CAST(CASE WHEN {b} >= {a} THEN {forward} ELSE -({backward}) END AS INTEGER)",
        "(date_part('year', {y}) - date_part('year', {x}) - CASE WHEN"
        " date_part('month', {y}) * 100 + date_part('day', {y}) < date_part('month', {x}) * 100 + date_part('day', {x})"
        " THEN 1 ELSE 0 END)",
    ),
    "sqlite": (
        "CAST(CASE WHEN {b} >= {a} THEN {forward} ELSE -({backward}) END AS INTEGER)",
        "(CAST(strftime('%%Y', {y}) AS INTEGER) - CAST(strftime('%%Y', {x}) AS INTEGER) - CASE WHEN"
        " CAST(strftime('%%m%%d', {y}) AS INTEGER) < CAST(strftime('%%m%%d', {x}) AS INTEGER) THEN 1 ELSE 0 END)",
    ),
}


def _between_templates(table: dict) -> dict[str, str]:
    templates = {}
    for vendor, (outer, inner) in table.items():
        forward = inner.replace("{y}", "{b}").replace("{x}", "{a}")
        backward = inner.replace("{y}", "{a}").replace("{x}", "{b}")
        templates[vendor] = outer.replace("{forward}", forward).replace("{backward}", backward)
    templates["default"] = templates["sqlite"]
    return templates


_TEMPLATES = {
    "months_between": _between_templates(_MONTHS_BETWEEN),
    "years_between": _between_templates(_YEARS_BETWEEN),
    "days_between": {
        "postgresql": "(CAST({b} AS DATE) - CAST({a} AS DATE))",
        "default": "CAST(julianday({b}) - julianday({a}) AS INTEGER)",
    },
    "add_days": {
        "postgresql": "(CAST({d} AS DATE) + CAST({n} AS INTEGER))",
        "default": "date({d}, {modifier})",
    },
    # SQLite's date(d, '+1 month') overflows into the next month; clamp to the month's last day.
    "add_months": {
        "postgresql": "CAST(CAST({d} AS DATE) + make_interval(months => CAST({n} AS INTEGER)) AS DATE)",
        "default": "min(date({d}, 'start of month', {modifier}, '+' || (CAST(strftime('%%d', {d}) AS INTEGER) - 1)"
        " || ' days'), date({d}, 'start of month', {next_modifier}, '-1 day'))",
    },
    "divide": {
        "postgresql": "(CAST({a} AS NUMERIC) / NULLIF({b}, 0))",
        "default": "(CAST({a} AS REAL) / NULLIF({b}, 0))",
    },
    "contains": {
        "postgresql": "(CASE WHEN CAST({item} AS TEXT) IS NULL THEN NULL"
        " ELSE {container} @> jsonb_build_array(CAST({item} AS TEXT)) END)",
        "default": "(CASE WHEN {item} IS NULL OR {container} IS NULL THEN NULL"
        " ELSE EXISTS (SELECT 1 FROM json_each({container}) WHERE json_each.value = {item}) END)",
    },
}

# SQL text comes only from this module's constants; the operator picks one, it is never pasted.
_ARITHMETIC = {"+": "({a} + {b})", "-": "({a} - {b})", "*": "({a} * {b})"}

_LOOKUPS = {
    "=": Exact,
    "<": LessThan,
    "<=": LessThanOrEqual,
    ">": GreaterThan,
    ">=": GreaterThanOrEqual,
}


# Aggregates already computed per client elsewhere (framework.staging's feature table on PostgreSQL):
# node_key(aggregate) -> an expression of the client's value, read instead of a correlated subquery.
_AGGREGATE_COLUMNS: ContextVar[dict | None] = ContextVar("aggregate_columns", default=None)


def node_key(node: t.Node):
    """A node without its place in the text: the same aggregate written twice is one key."""
    parts = [type(node).__name__]
    for name, value in vars(node).items():
        if name in ("line", "column"):
            continue
        if isinstance(value, t.Node):
            value = node_key(value)
        elif isinstance(value, tuple):
            value = tuple(node_key(item) if isinstance(item, t.Node) else item for item in value)
        elif isinstance(value, list):
            value = tuple(value)
        parts.append((name, value))
    return tuple(parts)


def field_column_key(scope: str, name: str) -> tuple:
    """The key under which `aggregate_columns` gives a facts or home field already read per client."""
    return ("field", scope, name)


@contextmanager
def aggregate_columns(columns: dict):
    """Compile with these aggregates (by `node_key`) read from the given expressions.

    For `any(rows)` without a predicate the expression is the count of rows kept by `where`.
    Only top-level aggregates (not inside another aggregate's rows) should be given.
    """
    token = _AGGREGATE_COLUMNS.set(columns)
    try:
        yield
    finally:
        _AGGREGATE_COLUMNS.reset(token)


class OrmCompiler:
    """Compiles typed trees for one query over Client; outer values needed in subqueries become aliases."""

    def __init__(self, *, today: date | None = None):
        self.today = today or timezone.localdate()
        self.schema = schema()
        self.aliases: dict = {}
        self.aggregate_columns = _AGGREGATE_COLUMNS.get() or {}

    # --- public -----------------------------------------------------------------------------------

    def condition(self, node: t.Node) -> Q:
        """A Q that holds exactly for the clients for which `node` is definitely true."""
        return self._bool(node, "")

    def value(self, node: t.Node):
        """An expression giving `node`'s value per client (yes/no as a boolean, null as NULL)."""
        if node.type == Type.BOOL:
            return bool_value(self._bool(node, ""))
        return self._value(node, "")

    # --- conditions -------------------------------------------------------------------------------

    def _bool(self, node: t.Node, row: str) -> Q:
        match node:
            case t.And():
                return reduce(operator.and_, (self._bool(item, row) for item in node.items))
            case t.Or():
                return reduce(operator.or_, (self._bool(item, row) for item in node.items))
            case t.Not():
                return ~self._bool(node.operand, row)
            case t.Compare():
                left, right = self._operand(node.left, row), self._operand(node.right, row)
                if node.op == "!=":
                    return ~Q(Exact(left, right))
                return Q(_LOOKUPS[node.op](left, right))
            case t.IsNull():
                return Q(IsNull(self._operand(node.operand, row), True))
            case t.IsTrue():
                value = Coalesce(self._operand(node.operand, row), Value(not node.value), output_field=BooleanField())
                return Q(Exact(value, Value(node.value)))
            case t.InList():
                operand = self._operand(node.operand, row)
                return reduce(operator.or_, (Q(Exact(operand, self._value(option, row))) for option in node.options))
            case t.Contains():
                parts = {"container": self._value(node.container, row), "item": self._value(node.item, row)}
                return Q(Exact(Template(parts, templates=_TEMPLATES["contains"], output_field=BooleanField()), True))
            case t.Aggregate(name="any", predicate=None):
                column = self.aggregate_columns.get(node_key(node)) if not row else None
                if column is not None:
                    return Q(GreaterThan(column, Value(0)))
                return Q(Exists(self._rows(node)))
            case t.Aggregate(name="any" | "all"):
                code = self._aggregate(node)
                # NULLIF turns "unknown" (1) into NULL, so the comparison is null exactly then.
                return Q(Exact(Func(code, Value(1), function="NULLIF", output_field=_INTEGER), Value(2)))
        return Q(Exact(self._value(node, row), Value(True)))

    def _operand(self, node: t.Node, row: str):
        if node.type == Type.BOOL:
            return bool_value(self._bool(node, row))
        return self._value(node, row)

    # --- values -----------------------------------------------------------------------------------

    def _value(self, node: t.Node, row: str):
        match node:
            case t.Const() | t.Param():
                return Value(node.value, output_field=output_field(node.type))
            case t.Today():
                return Value(self.today, output_field=DateField())
            case t.FieldRef():
                return self._field(node, row)
            case t.Arith(op="/"):
                parts = {"a": self._value(node.left, row), "b": self._value(node.right, row)}
                return Template(parts, templates=_TEMPLATES["divide"], output_field=_NUMBER)
            case t.Arith():
                parts = {"a": self._value(node.left, row), "b": self._value(node.right, row)}
                return Template(parts, templates={"default": _ARITHMETIC[node.op]}, output_field=_NUMBER)
            case t.Neg():
                return Template(
                    {"a": self._value(node.operand, row)}, templates={"default": "(-{a})"}, output_field=_NUMBER
                )
            case t.Shift():
                return self._shift(node, row)
            case t.Call(name="coalesce"):
                args = [self._operand(arg, row) for arg in node.args]
                return Coalesce(*args, output_field=output_field(node.type))
            case t.Call(name="abs"):
                return Func(self._value(node.args[0], row), function="ABS", output_field=_NUMBER)
            case t.Call():
                parts = {"a": self._value(node.args[0], row), "b": self._value(node.args[1], row)}
                return Template(parts, templates=_TEMPLATES[node.name], output_field=_INTEGER)
            case t.Aggregate():
                return self._aggregate(node)
        return bool_value(self._bool(node, row))

    def _shift(self, node: t.Shift, row: str):
        value = self._value(node.operand, row)
        if node.months:
            parts = {
                "d": value,
                "n": Value(node.months),
                "modifier": Value(f"{node.months:+d} months"),
                "next_modifier": Value(f"{node.months + 1:+d} months"),
            }
            value = Template(parts, templates=_TEMPLATES["add_months"], output_field=DateField())
        if node.days:
            parts = {"d": value, "n": Value(node.days), "modifier": Value(f"{node.days:+d} days")}
            value = Template(parts, templates=_TEMPLATES["add_days"], output_field=DateField())
        return value

    def _field(self, node: t.FieldRef, row: str):
        if node.scope == "row":
            spec = self.schema.collections[node.collection].fields[node.name]
            if spec.source_field != spec.name:  # a date of an instant: the day it was in Amsterdam
                return TruncDate(spec.source_field, tzinfo=timezone.get_current_timezone())
            return F(node.name)
        outer = self._outer_field(node)
        if not row:
            return outer
        alias = f"_outer_{node.scope}_{node.name}"
        self.aliases[alias] = outer
        return OuterRef(alias)

    def facts_field(self, name: str):
        """A field of the client's facts, from the feature table where it is there."""
        return self.aggregate_columns.get(field_column_key("facts", name)) or F(f"facts__{name}")

    def _outer_field(self, node: t.FieldRef):
        column = self.aggregate_columns.get(field_column_key(node.scope, node.name))
        if column is not None:
            return column
        if node.scope == "client":
            return F(node.name)
        if node.scope == "facts":
            return F(f"facts__{node.name}")
        home = self._own_home().values(node.name)[:1]
        return Subquery(home, output_field=output_field(node.type))

    # --- collections ------------------------------------------------------------------------------

    def _own_home(self):
        """The client's own home (`property`): the first current primary residence."""
        return (
            self.schema.collections["properties"]
            .model.objects.filter(client=OuterRef("pk"), deleted_at__isnull=True, is_primary_residence=True)
            .order_by("pk")
        )

    def _rows(self, node: t.Aggregate):
        spec = self.schema.collections[node.collection]
        outer_key = "household_id" if spec.client_path == "household" else "pk"
        rows = spec.model._default_manager.filter(**{spec.client_path: OuterRef(outer_key)}, **spec.current)
        if node.where is not None:
            rows = rows.filter(self._bool(node.where, node.collection))
        return rows.order_by()

    def _aggregate(self, node: t.Aggregate):
        column = self.aggregate_columns.get(node_key(node))
        if column is not None:
            return column
        rows = self._rows(node)
        if node.name == "count":
            aggregate = Func(template=_AGGREGATES["count"], output_field=_INTEGER)
            return Subquery(rows.annotate(_value=aggregate).values("_value"), output_field=_INTEGER)
        if node.name in ("any", "all"):
            predicate = self._bool(node.predicate, node.collection)
            code = Case(When(predicate, then=Value(2)), When(~predicate, then=Value(0)), default=Value(1))
            aggregate = Template({"x": code}, templates={"default": _AGGREGATES[node.name]}, output_field=_INTEGER)
            return Subquery(rows.annotate(_value=aggregate).values("_value"), output_field=_INTEGER)
        field = self._field(
            t.FieldRef(type=node.type, scope="row", name=node.field, collection=node.collection), node.collection
        )
        field_output = output_field(node.type)
        aggregate = Template({"x": field}, templates={"default": _AGGREGATES[node.name]}, output_field=field_output)
        return Subquery(rows.annotate(_value=aggregate).values("_value"), output_field=field_output)
