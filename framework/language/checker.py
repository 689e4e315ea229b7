"""From a parse tree to the typed tree, refusing anything that is not allowed.

The checker is where "safe by construction" is decided: a name is either in the schema's whitelist,
a parameter of the rule or `today`, or the rule is refused with its position. There is no way to
reach an attribute, a method or a module: the evaluators only ever look up whitelisted keys.
"""

import difflib
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from lark import Token, Tree

from . import typed as t
from .errors import RuleSyntaxError, RuleTypeError
from .parser import number_value, parse, position, string_value
from .schema import DURATION_UNITS, FUNCTION_NAMES, SCOPE_NAMES, Type, reserved_names, schema

MAX_DURATION_DAYS = 100 * 366
MAX_DURATION_MONTHS = 100 * 12
MAX_LIST_OPTIONS = 50
MAX_COALESCE_ARGS = 10
MAX_PARAMETERS = 20
PARAMETER_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ORDERED = {Type.NUMBER, Type.DATE}
SCALARS = {Type.NUMBER, Type.DATE, Type.TEXT, Type.BOOL}
COMPARISONS = {"=": "=", "==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def check_parameters(raw) -> dict[str, t.Scalar]:
    """A rule's parameters as typed values: numbers, yes/no, dates (YYYY-MM-DD) or texts."""
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise RuleTypeError('parameters must be a mapping of name to value, e.g. {"days": 14}')
    if len(raw) > MAX_PARAMETERS:
        raise RuleTypeError(f"at most {MAX_PARAMETERS} parameters")
    reserved = reserved_names()
    values: dict[str, t.Scalar] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not PARAMETER_NAME.match(name):
            raise RuleTypeError(f"parameter name {name!r} must be lower-case letters, digits and _")
        if name in reserved:
            raise RuleTypeError(f"parameter name {name!r} is reserved: it already means something in a rule")
        if isinstance(value, bool):
            values[name] = value
        elif isinstance(value, int | float | Decimal):
            try:
                number = Decimal(str(value))
            except InvalidOperation:
                number = None
            if number is None or not number.is_finite() or abs(number) >= Decimal(10) ** 15:
                raise RuleTypeError(f"parameter {name!r} must be a finite number below 10^15")
            values[name] = number
        elif isinstance(value, str) and ISO_DATE.match(value):
            try:
                values[name] = date.fromisoformat(value)
            except ValueError:
                raise RuleTypeError(f"parameter {name!r}: {value!r} is not a date") from None
        elif isinstance(value, str):
            if len(value) > 200:
                raise RuleTypeError(f"parameter {name!r} is too long: at most 200 characters")
            values[name] = value
        else:
            raise RuleTypeError(f"parameter {name!r} must be a number, yes/no, a date or a text")
    return values


def scalar_type(value: t.Scalar) -> Type:
    if isinstance(value, bool):
        return Type.BOOL
    if isinstance(value, Decimal):
        return Type.NUMBER
    if isinstance(value, date):
        return Type.DATE
    return Type.TEXT


@dataclass(frozen=True)
class _Rows:
    """A collection on its way into an aggregate: `policies[kind = "home"].insured_amount`."""

    collection: str
    line: int
    column: int
    where: t.Node | None = None
    field: str = ""


@dataclass(frozen=True)
class _Scope:
    name: str
    line: int
    column: int


@dataclass(frozen=True)
class _Duration:
    days: int
    months: int
    line: int
    column: int


def _suggest(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=3)
    return f"; did you mean {' or '.join(close)}?" if close else ""


class Checker:
    def __init__(self, parameters: dict[str, t.Scalar], row: str = ""):
        self.parameters = parameters
        self.row = row  # inside `collection[...]` or any(collection, ...): that collection
        self.schema = schema()

    # --- entry points -----------------------------------------------------------------------------

    def expression(self, tree, expect: Type | None = None) -> t.Node:
        node = self.scalar(tree)
        if expect is not None and node.type != expect:
            raise RuleTypeError(f"must be {expect}, but this is {node.type}", node.line, node.column)
        return node

    def scalar(self, tree) -> t.Node:
        return self._as_scalar(self.visit(tree), tree)

    def _as_scalar(self, value, tree) -> t.Node:
        """`value` (the visit of `tree`) if it is a single value; otherwise say what it is instead."""
        line, column = position(tree)
        if isinstance(value, _Rows):
            raise RuleTypeError(
                f"'{value.collection}' is a collection: use count(), sum(), min(), max(), any() or all()",
                value.line,
                value.column,
            )
        if isinstance(value, _Scope):
            example = sorted(self.schema.scopes[value.name])[0]
            raise RuleTypeError(f"name a field of {value.name}, e.g. {value.name}.{example}", line, column)
        if isinstance(value, _Duration):
            raise RuleTypeError("a duration only moves a date, e.g. today + 14 days", line, column)
        return value

    def boolean(self, tree) -> t.Node:
        node = self.scalar(tree)
        if node.type != Type.BOOL:
            raise RuleTypeError(f"expected a yes/no condition, but this is {node.type}", node.line, node.column)
        return node

    def visit(self, tree):
        if isinstance(tree, Token):  # never reached through the grammar, but fail closed
            raise RuleTypeError("unexpected token", *position(tree))
        if tree.data not in _RULES:
            raise RuleTypeError("not supported here", *position(tree))
        return getattr(self, f"rule_{tree.data}")(tree, *position(tree))

    # --- logic ------------------------------------------------------------------------------------

    def rule_group(self, tree, line, column):
        return self.visit(tree.children[0])

    def rule_or_expr(self, tree, line, column):
        items = tuple(self.boolean(child) for child in tree.children)
        return t.Or(type=Type.BOOL, items=items, line=line, column=column)

    def rule_and_expr(self, tree, line, column):
        items = tuple(self.boolean(child) for child in tree.children)
        return t.And(type=Type.BOOL, items=items, line=line, column=column)

    def rule_not_(self, tree, line, column):
        return t.Not(type=Type.BOOL, operand=self.boolean(tree.children[0]), line=line, column=column)

    def rule_is_null(self, tree, line, column):
        return t.IsNull(type=Type.BOOL, operand=self.scalar(tree.children[0]), line=line, column=column)

    def rule_is_not_null(self, tree, line, column):
        return t.Not(type=Type.BOOL, operand=self.rule_is_null(tree, line, column), line=line, column=column)

    def rule_is_true(self, tree, line, column, value=True):
        return t.IsTrue(type=Type.BOOL, operand=self.boolean(tree.children[0]), value=value, line=line, column=column)

    def rule_is_false(self, tree, line, column):
        return self.rule_is_true(tree, line, column, value=False)

    def rule_is_not_true(self, tree, line, column):
        return t.Not(type=Type.BOOL, operand=self.rule_is_true(tree, line, column), line=line, column=column)

    def rule_is_not_false(self, tree, line, column):
        return t.Not(type=Type.BOOL, operand=self.rule_is_false(tree, line, column), line=line, column=column)

    # --- comparisons ------------------------------------------------------------------------------

    def rule_compare(self, tree, line, column):
        left_tree, op_token, right_tree = tree.children
        return self.compare(self.scalar(left_tree), op_token, right_tree)

    def compare(self, left: t.Node, op_token: Token, right_tree) -> t.Node:
        op = COMPARISONS[op_token.value]
        right = self.scalar(right_tree)
        line, column = position(op_token)
        if left.type not in SCALARS or right.type not in SCALARS:
            raise RuleTypeError(f"cannot compare {left.type} with {right.type}", line, column)
        if left.type != right.type:
            hint = "; use days_between(a, b) to count days" if {left.type, right.type} == ORDERED else ""
            raise RuleTypeError(f"cannot compare {left.type} with {right.type}{hint}", line, column)
        if op not in ("=", "!=") and left.type not in ORDERED:
            raise RuleTypeError(f"{left.type} can only be compared with = or !=", line, column)
        self._check_choice(left, right)
        self._check_choice(right, left)
        return t.Compare(type=Type.BOOL, op=op, left=left, right=right, line=left.line, column=left.column)

    def _check_choice(self, field: t.Node, value: t.Node) -> None:
        """`kind = "hom"` is a typo that would silently never match: refuse it."""
        if not isinstance(field, t.FieldRef) or not isinstance(value, t.Const | t.Param):
            return
        spec = self._field_spec(field)
        if spec.choices and value.value not in spec.choices:
            raise RuleTypeError(
                f"{value.value!r} is not a value of {field.name}; expected one of {', '.join(spec.choices)}",
                value.line,
                value.column,
            )

    def _field_spec(self, field: t.FieldRef):
        if field.scope == "row":
            return self.schema.collections[field.collection].fields[field.name]
        return self.schema.scopes[field.scope][field.name]

    def rule_in_(self, tree, line, column):
        operand_tree, options_tree = tree.children
        operand = self.scalar(operand_tree)
        return self.membership(operand, options_tree, line, column)

    def rule_not_in(self, tree, line, column):
        return t.Not(type=Type.BOOL, operand=self.rule_in_(tree, line, column), line=line, column=column)

    def membership(self, operand: t.Node, options_tree, line: int, column: int) -> t.Node:
        if isinstance(options_tree, Tree) and options_tree.data == "list":
            arguments = options_tree.children[0].children if options_tree.children else []
            if not arguments:
                raise RuleTypeError("an empty list matches nothing", *position(options_tree))
            if len(arguments) > MAX_LIST_OPTIONS:
                raise RuleTypeError(f"at most {MAX_LIST_OPTIONS} options", *position(options_tree))
            if operand.type not in SCALARS:
                raise RuleTypeError(f"{operand.type} cannot be in a list", operand.line, operand.column)
            options = []
            for argument in arguments:
                option = self.scalar(argument)
                if not isinstance(option, t.Const | t.Param):
                    raise RuleTypeError("a list holds fixed values or parameters", option.line, option.column)
                if option.type != operand.type:
                    raise RuleTypeError(f"expected {operand.type}, not {option.type}", option.line, option.column)
                self._check_choice(operand, option)
                options.append(option)
            return t.InList(type=Type.BOOL, operand=operand, options=tuple(options), line=line, column=column)
        container = self.scalar(options_tree)
        if container.type != Type.TEXT_LIST:
            raise RuleTypeError(
                'expected a list: ["a", "b"] or a list field such as facts.stale_field_groups',
                container.line,
                container.column,
            )
        if operand.type != Type.TEXT:
            raise RuleTypeError(f"a list of texts holds texts, not {operand.type}", operand.line, operand.column)
        return t.Contains(type=Type.BOOL, container=container, item=operand, line=line, column=column)

    # --- arithmetic -------------------------------------------------------------------------------

    def rule_sum(self, tree, line, column):
        return self._chain(tree)

    def rule_product(self, tree, line, column):
        return self._chain(tree)

    def _chain(self, tree):
        """`a + b - c` from left to right; the chain is flat in the parse tree."""
        left_tree = tree.children[0]
        left = self.visit(left_tree)
        for index in range(1, len(tree.children), 2):
            op_token, right_tree = tree.children[index], tree.children[index + 1]
            left = self._arith(left, left_tree, op_token, self.visit(right_tree), right_tree)
            left_tree = tree
        return left

    def _arith(self, left, left_tree, op_token: Token, right, right_tree):
        op = op_token.value
        op_line, op_column = position(op_token)
        if op in "+-" and isinstance(right, _Duration):
            return self._shift(self._as_scalar(left, left_tree), right, -1 if op == "-" else 1, op_line, op_column)
        if op == "+" and isinstance(left, _Duration):
            return self._shift(self._as_scalar(right, right_tree), left, 1, op_line, op_column)
        left, right = self._as_scalar(left, left_tree), self._as_scalar(right, right_tree)
        if left.type == Type.DATE and right.type == Type.DATE and op == "-":
            raise RuleTypeError("to count days between dates use days_between(a, b)", op_line, op_column)
        if left.type != Type.NUMBER or right.type != Type.NUMBER:
            raise RuleTypeError(f"cannot calculate {left.type} {op} {right.type}", op_line, op_column)
        return t.Arith(type=Type.NUMBER, op=op, left=left, right=right, line=left.line, column=left.column)

    def _shift(self, operand: t.Node, duration: _Duration, sign: int, line: int, column: int) -> t.Node:
        if operand.type != Type.DATE:
            raise RuleTypeError(f"a duration moves a date, not {operand.type}", line, column)
        return t.Shift(
            type=Type.DATE,
            operand=operand,
            days=sign * duration.days,
            months=sign * duration.months,
            line=operand.line,
            column=operand.column,
        )

    def rule_sign(self, tree, line, column):
        op_token, operand_tree = tree.children
        operand = self.scalar(operand_tree)
        if operand.type != Type.NUMBER:
            raise RuleTypeError(f"cannot negate {operand.type}", line, column)
        if op_token.value == "+":
            return operand
        return t.Neg(type=Type.NUMBER, operand=operand, line=line, column=column)

    def rule_duration(self, tree, line, column):
        amount_token, unit_token = tree.children
        unit = DURATION_UNITS.get(unit_token.value)
        if unit is None:
            raise RuleSyntaxError(
                f"unexpected {unit_token.value!r}", *position(unit_token), ("days", "weeks", "months", "years")
            )
        if amount_token.type == "NUMBER":
            amount = number_value(amount_token)
        else:
            value = self.parameters.get(amount_token.value)
            if value is None:
                raise RuleTypeError(f"{amount_token.value!r} is not a parameter of this rule", *position(amount_token))
            if not isinstance(value, Decimal) or isinstance(value, bool):
                raise RuleTypeError(f"parameter {amount_token.value!r} must be a number", *position(amount_token))
            amount = value
        if amount != amount.to_integral_value():
            raise RuleTypeError("a duration is a whole number of days, weeks, months or years", line, column)
        kind, factor = unit
        count = int(amount) * factor
        limit = MAX_DURATION_DAYS if kind == "days" else MAX_DURATION_MONTHS
        if abs(count) > limit:
            raise RuleTypeError("a duration may span at most 100 years", line, column)
        return _Duration(
            days=count if kind == "days" else 0, months=count if kind == "months" else 0, line=line, column=column
        )

    # --- literals and names -----------------------------------------------------------------------

    def rule_number(self, tree, line, column):
        return t.Const(type=Type.NUMBER, value=number_value(tree.children[0]), line=line, column=column)

    def rule_string(self, tree, line, column):
        return t.Const(type=Type.TEXT, value=string_value(tree.children[0]), line=line, column=column)

    def rule_true(self, tree, line, column):
        return t.Const(type=Type.BOOL, value=True, line=line, column=column)

    def rule_false(self, tree, line, column):
        return t.Const(type=Type.BOOL, value=False, line=line, column=column)

    def rule_null(self, tree, line, column):
        raise RuleTypeError("null is not a value to calculate with; write `x is null` or `x is not null`", line, column)

    def rule_list(self, tree, line, column):
        raise RuleTypeError('a list only follows `in`, e.g. kind in ["home", "contents"]', line, column)

    def rule_name(self, tree, line, column):
        name = tree.children[0].value
        if self.row:
            fields = self.schema.collections[self.row].fields
            if name in fields:
                if name in self.parameters:
                    raise RuleTypeError(
                        f"{name!r} is both a field of {self.row} and a parameter: rename the parameter", line, column
                    )
                return t.FieldRef(
                    type=fields[name].type, scope="row", name=name, collection=self.row, line=line, column=column
                )
        if name == "today":
            return t.Today(type=Type.DATE, line=line, column=column)
        if name in self.parameters:
            value = self.parameters[name]
            return t.Param(type=scalar_type(value), name=name, value=value, line=line, column=column)
        if name in self.schema.collections:
            if self.row:
                raise RuleTypeError(
                    f"'{name}' cannot be used inside {self.row}[...]: aggregates do not nest", line, column
                )
            return _Rows(collection=name, line=line, column=column)
        if name in SCOPE_NAMES:
            return _Scope(name=name, line=line, column=column)
        known = {"today", *self.parameters, *self.schema.collections, *SCOPE_NAMES}
        if self.row:
            known |= set(self.schema.collections[self.row].fields)
        raise RuleTypeError(f"unknown name {name!r}{_suggest(name, known)}", line, column)

    def rule_member(self, tree, line, column):
        target_tree, name_token = tree.children
        target = self.visit(target_tree)
        name = name_token.value
        name_line, name_column = position(name_token)
        if isinstance(target, _Scope):
            fields = self.schema.scopes[target.name]
            if name not in fields:
                raise RuleTypeError(
                    f"{target.name} has no field {name!r}{_suggest(name, fields)}", name_line, name_column
                )
            return t.FieldRef(type=fields[name].type, scope=target.name, name=name, line=line, column=column)
        if isinstance(target, _Rows) and not target.field:
            fields = self.schema.collections[target.collection].fields
            if name not in fields:
                raise RuleTypeError(
                    f"{target.collection} have no field {name!r}{_suggest(name, fields)}", name_line, name_column
                )
            return _Rows(target.collection, target.line, target.column, target.where, name)
        raise RuleTypeError("only client., facts., property. and collections have fields", name_line, name_column)

    def rule_filter(self, tree, line, column):
        target_tree, condition_tree = tree.children
        target = self.visit(target_tree)
        if not isinstance(target, _Rows) or target.field or target.where is not None:
            raise RuleTypeError('[...] selects rows of a collection, e.g. policies[kind = "home"]', line, column)
        where = Checker(self.parameters, row=target.collection).boolean(condition_tree)
        return _Rows(target.collection, target.line, target.column, where)

    # --- functions --------------------------------------------------------------------------------

    def rule_call(self, tree, line, column):
        name = tree.children[0].value
        arguments = tree.children[1].children if len(tree.children) > 1 else []
        if name not in FUNCTION_NAMES:
            raise RuleTypeError(f"unknown function {name!r}{_suggest(name, FUNCTION_NAMES)}", line, column)
        return getattr(self, f"call_{name}")(arguments, line, column)

    def _arity(self, name: str, arguments: list, count: int, line: int, column: int) -> None:
        if len(arguments) != count:
            raise RuleTypeError(f"{name}() takes {count} argument{'s' if count > 1 else ''}", line, column)

    def _rows(self, name: str, argument, line: int, column: int, *, field: bool) -> _Rows:
        if self.row:
            raise RuleTypeError(f"{name}() cannot be used inside {self.row}[...]: aggregates do not nest", line, column)
        rows = self.visit(argument)
        if not isinstance(rows, _Rows):
            raise RuleTypeError(f"{name}() takes a collection, e.g. {name}(policies)", *position(argument))
        if field and not rows.field:
            raise RuleTypeError(
                f"{name}() needs a field, e.g. {name}({rows.collection}.<field>)", rows.line, rows.column
            )
        if not field and rows.field:
            raise RuleTypeError(f"{name}() counts rows: leave out .{rows.field}", rows.line, rows.column)
        return rows

    def call_count(self, arguments, line, column):
        self._arity("count", arguments, 1, line, column)
        rows = self._rows("count", arguments[0], line, column, field=False)
        return t.Aggregate(
            type=Type.NUMBER, name="count", collection=rows.collection, where=rows.where, line=line, column=column
        )

    def _field_aggregate(self, name, arguments, line, column, allowed):
        self._arity(name, arguments, 1, line, column)
        rows = self._rows(name, arguments[0], line, column, field=True)
        field_type = self.schema.collections[rows.collection].fields[rows.field].type
        if field_type not in allowed:
            raise RuleTypeError(f"{name}() of {field_type} is not defined", rows.line, rows.column)
        return t.Aggregate(
            type=field_type,
            name=name,
            collection=rows.collection,
            where=rows.where,
            field=rows.field,
            line=line,
            column=column,
        )

    def call_sum(self, arguments, line, column):
        return self._field_aggregate("sum", arguments, line, column, {Type.NUMBER})

    def call_min(self, arguments, line, column):
        return self._field_aggregate("min", arguments, line, column, ORDERED)

    def call_max(self, arguments, line, column):
        return self._field_aggregate("max", arguments, line, column, ORDERED)

    def _quantifier(self, name, arguments, line, column):
        if not 1 <= len(arguments) <= 2 or (name == "all" and len(arguments) != 2):
            usage = "all(rows, condition)" if name == "all" else "any(rows) or any(rows, condition)"
            raise RuleTypeError(f"use {usage}", line, column)
        rows = self._rows(name, arguments[0], line, column, field=False)
        predicate = None
        if len(arguments) == 2:
            predicate = Checker(self.parameters, row=rows.collection).boolean(arguments[1])
        return t.Aggregate(
            type=Type.BOOL,
            name=name,
            collection=rows.collection,
            where=rows.where,
            predicate=predicate,
            line=line,
            column=column,
        )

    def call_any(self, arguments, line, column):
        return self._quantifier("any", arguments, line, column)

    def call_all(self, arguments, line, column):
        return self._quantifier("all", arguments, line, column)

    def call_coalesce(self, arguments, line, column):
        if not 2 <= len(arguments) <= MAX_COALESCE_ARGS:
            raise RuleTypeError(f"coalesce() takes 2 to {MAX_COALESCE_ARGS} arguments", line, column)
        args = tuple(self.scalar(argument) for argument in arguments)
        for argument in args[1:]:
            if argument.type != args[0].type or argument.type not in SCALARS:
                raise RuleTypeError(
                    f"coalesce() needs values of one type: {args[0].type}, not {argument.type}",
                    argument.line,
                    argument.column,
                )
        return t.Call(type=args[0].type, name="coalesce", args=args, line=line, column=column)

    def call_abs(self, arguments, line, column):
        self._arity("abs", arguments, 1, line, column)
        argument = self.scalar(arguments[0])
        if argument.type != Type.NUMBER:
            raise RuleTypeError(f"abs() takes a number, not {argument.type}", argument.line, argument.column)
        return t.Call(type=Type.NUMBER, name="abs", args=(argument,), line=line, column=column)

    def _between(self, name, arguments, line, column):
        self._arity(name, arguments, 2, line, column)
        args = tuple(self.scalar(argument) for argument in arguments)
        for argument in args:
            if argument.type != Type.DATE:
                raise RuleTypeError(f"{name}() takes two dates, not {argument.type}", argument.line, argument.column)
        return t.Call(type=Type.NUMBER, name=name, args=args, line=line, column=column)

    def call_days_between(self, arguments, line, column):
        return self._between("days_between", arguments, line, column)

    def call_months_between(self, arguments, line, column):
        return self._between("months_between", arguments, line, column)

    def call_years_between(self, arguments, line, column):
        return self._between("years_between", arguments, line, column)

    def call_date(self, arguments, line, column):
        self._arity("date", arguments, 1, line, column)
        argument = self.scalar(arguments[0])
        if not isinstance(argument, t.Const) or argument.type != Type.TEXT:
            raise RuleTypeError('date() takes a fixed text, e.g. date("2026-01-01")', argument.line, argument.column)
        try:
            if not ISO_DATE.match(argument.value):
                raise ValueError
            value = date.fromisoformat(argument.value)
        except ValueError:
            raise RuleTypeError(
                f"{argument.value!r} is not a date in the form YYYY-MM-DD", argument.line, argument.column
            ) from None
        return t.Const(type=Type.DATE, value=value, line=line, column=column)

    # --- decision table cells ---------------------------------------------------------------------

    def unary_test(self, tree, subject: t.Node) -> t.Node:
        """A cell's test applied to its column's value (`subject`)."""
        line, column = position(tree)
        if tree.data == "test_equals":
            op_token = Token("COMP_OP", "=", line=line, column=column)
            return self.compare(subject, op_token, tree.children[0])
        if tree.data == "test_compare":
            return self.compare(subject, tree.children[0], tree.children[1])
        if tree.data == "test_in":
            return self.membership(subject, tree.children[0], line, column)
        if tree.data == "test_not_in":
            inner = self.membership(subject, tree.children[0], line, column)
            return t.Not(type=Type.BOOL, operand=inner, line=line, column=column)
        if tree.data == "test_is_null":
            return t.IsNull(type=Type.BOOL, operand=subject, line=line, column=column)
        if tree.data == "test_is_not_null":
            inner = t.IsNull(type=Type.BOOL, operand=subject, line=line, column=column)
            return t.Not(type=Type.BOOL, operand=inner, line=line, column=column)
        raise RuleTypeError("not a test", line, column)


def compile_expression(
    text: str, parameters: dict[str, t.Scalar] | None = None, *, expect: Type | None = None
) -> t.Node:
    """Parse and check one expression: the typed tree, or RuleSyntaxError / RuleTypeError."""
    if not isinstance(text, str):
        raise RuleSyntaxError("an expression must be text")
    return _compile_expression(text, tuple(sorted((parameters or {}).items())), expect)


ANY_CELL = ("", "-")


def compile_cell(text: str, subject: t.Node, parameters: dict[str, t.Scalar] | None = None) -> t.Node | None:
    """A decision-table cell as a condition on `subject`; None for "any value" (empty or '-')."""
    if not isinstance(text, str):
        raise RuleSyntaxError("a test must be text")
    if text.strip() in ANY_CELL:
        return None
    return _compile_cell(text, subject, tuple(sorted((parameters or {}).items())))


# Typed trees are immutable, so a rule evaluated again (every night, for every explanation) is
# parsed once per process. Errors are not cached: they are raised anew.
@lru_cache(maxsize=4096)
def _compile_expression(text: str, parameters: tuple, expect: Type | None) -> t.Node:
    return Checker(dict(parameters)).expression(parse(text), expect)


@lru_cache(maxsize=4096)
def _compile_cell(text: str, subject: t.Node, parameters: tuple) -> t.Node:
    return Checker(dict(parameters)).unary_test(parse(text, start="unary_test"), subject)


# The grammar's rules the checker understands (a tree from elsewhere fails closed).
_RULES = frozenset(attribute[5:] for attribute in vars(Checker) if attribute.startswith("rule_"))
