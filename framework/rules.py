"""A rule's definition put together: from the rows admins edit to one program both evaluators run.

A rule's condition is one of three shapes, all reduced here to branches of typed conditions:
an expression (one branch), a decision tree (one branch: its nodes folded into and/or/not), or a
decision table (one branch per row: the row's cell tests joined with "and"; the hit policy says
whether the first true row counts or every true row does).
"""

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.utils import formats, numberformat
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from .language import typed as t
from .language.checker import check_parameters, compile_cell, compile_expression
from .language.errors import RuleError
from .language.schema import Type
from .language.values import tidy_number

MAX_TREE_NODES = 50
MAX_TABLE_COLUMNS = 8
MAX_TABLE_ROWS = 50
MAX_REPORTED_VALUES = 12
MAX_PROGRAM_NODES = 3000  # all expressions of one rule together
REPORTABLE = {Type.NUMBER, Type.DATE, Type.TEXT, Type.BOOL}


@dataclass(frozen=True)
class Branch:
    """One way a rule can fire, and what an alert from it is."""

    condition: t.Node
    granule: str
    urgency: str
    label: str = ""


@dataclass(frozen=True)
class RuleProgram:
    """A rule ready to evaluate: typed trees only, no text left to interpret."""

    key: str
    alert_type: str
    hit_policy: str  # "first" or "collect"
    parameters: dict
    branches: tuple[Branch, ...]
    reported: tuple[tuple[str, t.Node], ...]
    deadline: t.Node | None
    message_template: str


class RuleDefinitionError(ValueError):
    """A rule that does not make a program; `where` names the field or part, `error` says why."""

    def __init__(self, where: str, error: RuleError | str):
        self.where = where
        self.error = error
        super().__init__(f"{where}: {error}")


# --- Parameters and message templates -------------------------------------------------------------


def rule_parameters(rule) -> dict:
    """The rule's parameters as typed values; {} while they are invalid (their own error shows)."""
    try:
        return check_parameters(rule.parameters)
    except RuleError:
        return {}


_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([a-z_][a-z0-9_]*)\}|\{|\}")


def message_fields(template: str) -> list[str]:
    """The reported values a message quotes; ValueError on a brace that is not {name}, {{ or }}."""
    names = []
    for match in _TEMPLATE_TOKEN.finditer(template):
        if match.group(0) in ("{{", "}}"):
            continue
        if match.group(1) is None:
            raise ValueError(
                _("Column %(column)s: write {name} for a value, {{ or }} for a brace.") % {"column": match.start() + 1}
            )
        names.append(match.group(1))
    return names


@lru_cache(maxsize=32)
def _number_formats(language: str | None) -> tuple[str, object, str]:
    """The language's decimal separator, grouping and thousand separator, as `formats.localize` reads them."""
    return (
        formats.get_format("DECIMAL_SEPARATOR", language, use_l10n=True),
        formats.get_format("NUMBER_GROUPING", language, use_l10n=True),
        formats.get_format("THOUSAND_SEPARATOR", language, use_l10n=True),
    )


@lru_cache(maxsize=4096)
def _date_text(value: date, language: str | None) -> str:
    return formats.date_format(value, "SHORT_DATE_FORMAT")


def format_value(value, language: str | None = None) -> str:
    """A reported value as a message shows it, in the active language.

    Exactly `formats.localize` and `formats.date_format`, with the language's formats looked up
    once: a whole-book evaluation renders hundreds of thousands of messages.
    """
    if value is None:
        return "–"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, Decimal):
        decimal_separator, grouping, thousand_separator = _number_formats(language or get_language())
        return numberformat.format(
            tidy_number(value), decimal_separator, None, grouping, thousand_separator, use_l10n=True
        )
    if isinstance(value, date):
        return _date_text(value, language or get_language())
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def message_render(template: str, values: dict) -> str:
    """The message with each {name} replaced by that reported value; nothing else is evaluated."""
    language = get_language()  # once per message: looking it up costs more than formatting a value

    def replace(match: re.Match) -> str:
        text = match.group(0)
        if text in ("{{", "}}"):
            return text[0]
        name = match.group(1)
        return format_value(values.get(name), language) if name is not None else text

    return _TEMPLATE_TOKEN.sub(replace, template)


# --- Validation of the parts, for admin (each raises ValidationError on its own field) ------------


def _parent(part):
    try:
        return part.rule
    except ObjectDoesNotExist:
        return None


def purpose_errors(rule, *nodes) -> list[str]:
    """Why the rule's purpose may not read the fields these expressions read (GDPR purpose limitation);
    the privacy register (trust/privacy_register.py) says which purposes each field allows."""
    from trust.privacy import purpose_check_fields

    from .language.references import referenced_fields

    purpose = getattr(rule, "purpose", "") if rule is not None else ""
    if not purpose:
        return []
    return [str(error) for error in purpose_check_fields(purpose, referenced_fields(*nodes))]


def _purpose_check(rule, node, field: str = "expression") -> None:
    errors = purpose_errors(rule, node)
    if errors:
        raise ValidationError({field: errors})


def rule_fields_validate(rule) -> dict[str, list[str]]:
    """Errors of the rule's own fields (its parts are validated with their own forms)."""
    errors: dict[str, list[str]] = {}
    try:
        parameters = check_parameters(rule.parameters)
    except RuleError as error:
        errors["parameters"] = [error.message]
        parameters = {}
    if rule.kind == rule.Kind.EXPRESSION:
        if not rule.condition.strip():
            errors["condition"] = [_("An expression rule needs a condition.")]
        else:
            try:
                condition = compile_expression(rule.condition, parameters, expect=Type.BOOL)
            except RuleError as error:
                errors["condition"] = [error.describe()]
            else:
                if purpose_errors(rule, condition):
                    errors["purpose"] = purpose_errors(rule, condition)
    elif rule.condition.strip():
        errors["condition"] = [_("Leave the condition empty: this rule's condition is its tree or table.")]
    if rule.deadline.strip():
        try:
            deadline = compile_expression(rule.deadline, parameters, expect=Type.DATE)
        except RuleError as error:
            errors["deadline"] = [error.describe()]
        else:
            if purpose_errors(rule, deadline):
                errors.setdefault("purpose", []).extend(purpose_errors(rule, deadline))
    try:
        message_fields(rule.message_template)
    except ValueError as error:
        errors["message_template"] = [str(error)]
    return errors


def reported_value_validate(part) -> None:
    rule = _parent(part)
    parameters = rule_parameters(rule) if rule is not None else {}
    try:
        node = compile_expression(part.expression, parameters)
    except RuleError as error:
        raise ValidationError({"expression": error.describe()}) from None
    if node.type not in REPORTABLE:
        raise ValidationError({"expression": _("Report a number, date, text or yes/no, not %s.") % node.type})
    _purpose_check(rule, node)


def condition_node_validate(node) -> None:
    rule = _parent(node)
    parameters = rule_parameters(rule) if rule is not None else {}
    if node.kind != node.Kind.CONDITION:
        if node.expression.strip():
            raise ValidationError({"expression": _("Only a condition node has an expression.")})
        return
    if not node.expression.strip():
        raise ValidationError({"expression": _("A condition node needs a condition.")})
    try:
        condition = compile_expression(node.expression, parameters, expect=Type.BOOL)
    except RuleError as error:
        raise ValidationError({"expression": error.describe()}) from None
    _purpose_check(rule, condition)


def decision_input_validate(column) -> None:
    rule = _parent(column)
    parameters = rule_parameters(rule) if rule is not None else {}
    try:
        node = compile_expression(column.expression, parameters)
    except RuleError as error:
        raise ValidationError({"expression": error.describe()}) from None
    if node.type not in REPORTABLE:
        raise ValidationError({"expression": _("A column tests a number, date, text or yes/no, not %s.") % node.type})
    _purpose_check(rule, node)


def decision_row_validate(row) -> None:
    """Check the row's tests against the rule's saved columns."""
    rule = _parent(row)
    if rule is None or rule.pk is None:
        return
    # A row's tests are edited as one box per column (not as `cells`), so the error is the row's.
    if not isinstance(row.cells, list) or not all(isinstance(cell, str) for cell in row.cells):
        raise ValidationError(_("Tests are a list of texts, one per column."))
    parameters = rule_parameters(rule)
    try:
        _row_condition(row.cells, _table_inputs(list(rule.decision_inputs.all()), parameters), parameters)
    except RuleDefinitionError as error:
        raise ValidationError(str(error)) from None


# --- From parts to a program ----------------------------------------------------------------------


def _compile(where: str, text: str, parameters: dict, expect: Type | None = None) -> t.Node:
    try:
        return compile_expression(text, parameters, expect=expect)
    except RuleError as error:
        raise RuleDefinitionError(where, error) from None


def _outline_key(outline: str) -> tuple[int, ...]:
    return tuple(int(part) for part in outline.split("."))


def tree_condition(nodes, parameters: dict) -> t.Node:
    """Fold the tree's nodes (outline, kind, expression) into one condition."""
    if not nodes:
        raise RuleDefinitionError(_("decision tree"), _("add at least one node"))
    if len(nodes) > MAX_TREE_NODES:
        raise RuleDefinitionError(_("decision tree"), _("at most %d nodes") % MAX_TREE_NODES)
    by_outline = {}
    for node in nodes:
        try:
            key = _outline_key(node.outline)
        except ValueError:
            raise RuleDefinitionError(_("node %s") % node.outline, _("number it like 1, 1.2 or 1.2.1")) from None
        if key in by_outline:
            raise RuleDefinitionError(_("node %s") % node.outline, _("appears twice"))
        by_outline[key] = node
    roots = [key for key in by_outline if len(key) == 1]
    if len(roots) != 1:
        raise RuleDefinitionError(_("decision tree"), _("needs exactly one top node (1)"))
    children: dict[tuple, list] = {key: [] for key in by_outline}
    for key in sorted(by_outline):
        if len(key) > 1:
            if key[:-1] not in by_outline:
                raise RuleDefinitionError(_("node %s") % by_outline[key].outline, _("its parent node is missing"))
            children[key[:-1]].append(key)

    def fold(key: tuple) -> t.Node:
        node = by_outline[key]
        where = _("node %s") % node.outline
        below = children[key]
        if node.kind == "condition":
            if below:
                raise RuleDefinitionError(where, _("a condition has no nodes below it; use all/any/not"))
            return _compile(where, node.expression, parameters, Type.BOOL)
        if not below:
            raise RuleDefinitionError(where, _("needs at least one node below it"))
        items = tuple(fold(child) for child in below)
        if node.kind == "not":
            if len(items) != 1:
                raise RuleDefinitionError(where, _("'not' takes exactly one node below it"))
            return t.Not(type=Type.BOOL, operand=items[0])
        if len(items) == 1:
            return items[0]
        return (t.And if node.kind == "all" else t.Or)(type=Type.BOOL, items=items)

    return fold(roots[0])


def _table_inputs(inputs, parameters: dict) -> list[tuple[str, t.Node]]:
    if len(inputs) > MAX_TABLE_COLUMNS:
        raise RuleDefinitionError(_("decision table"), _("at most %d columns") % MAX_TABLE_COLUMNS)
    columns = []
    for column in inputs:
        node = _compile(_("column %s") % column.label, column.expression, parameters)
        if node.type not in REPORTABLE:
            raise RuleDefinitionError(_("column %s") % column.label, _("must be a number, date, text or yes/no"))
        columns.append((column.label, node))
    return columns


def _row_condition(cells: list[str], columns: list[tuple[str, t.Node]], parameters: dict) -> t.Node:
    if len(cells) > len(columns):
        raise RuleDefinitionError(
            _("tests"), _("%(cells)d tests for %(columns)d columns") % {"cells": len(cells), "columns": len(columns)}
        )
    tests = []
    for (label, subject), cell in zip(columns, cells, strict=False):
        try:
            test = compile_cell(cell, subject, parameters)
        except RuleError as error:
            raise RuleDefinitionError(_("column %s") % label, error) from None
        if test is not None:
            tests.append(test)
    if not tests:
        return t.Const(type=Type.BOOL, value=True)
    return tests[0] if len(tests) == 1 else t.And(type=Type.BOOL, items=tuple(tests))


def rule_program(
    rule, *, reported_values=None, condition_nodes=None, decision_inputs=None, decision_rows=None
) -> RuleProgram:
    """The rule as a program; RuleDefinitionError names the first part that is wrong.

    The parts default to the rule's saved rows (prefetch them when compiling many rules).
    """
    try:
        parameters = check_parameters(rule.parameters)
    except RuleError as error:
        raise RuleDefinitionError(_("parameters"), error) from None
    reported_values = list(rule.reported_values.all()) if reported_values is None else reported_values
    granule, urgency = rule.effective_granule, rule.urgency

    if rule.kind == "expression":
        condition = _compile(_("condition"), rule.condition, parameters, Type.BOOL)
        branches = (Branch(condition, granule, urgency),)
    elif rule.kind == "tree":
        nodes = list(rule.condition_nodes.all()) if condition_nodes is None else condition_nodes
        branches = (Branch(tree_condition(nodes, parameters), granule, urgency),)
    else:
        inputs = list(rule.decision_inputs.all()) if decision_inputs is None else decision_inputs
        rows = list(rule.decision_rows.all()) if decision_rows is None else decision_rows
        if not rows:
            raise RuleDefinitionError(_("decision table"), _("add at least one row"))
        if len(rows) > MAX_TABLE_ROWS:
            raise RuleDefinitionError(_("decision table"), _("at most %d rows") % MAX_TABLE_ROWS)
        columns = _table_inputs(inputs, parameters)
        branches = []
        for number, row in enumerate(rows, start=1):
            try:
                condition = _row_condition(row.cells, columns, parameters)
            except RuleDefinitionError as error:
                raise RuleDefinitionError(
                    _("row %(row)d, %(where)s") % {"row": number, "where": error.where}, error.error
                ) from None
            label = row.note or _("row %d") % number
            branches.append(Branch(condition, row.granule or granule, row.urgency or urgency, label))
        branches = tuple(branches)

    if len(reported_values) > MAX_REPORTED_VALUES:
        raise RuleDefinitionError(_("reported values"), _("at most %d") % MAX_REPORTED_VALUES)
    reported = []
    for part in reported_values:
        node = _compile(_("reported value %s") % part.label, part.expression, parameters)
        if node.type not in REPORTABLE:
            raise RuleDefinitionError(_("reported value %s") % part.label, _("must be a number, date, text or yes/no"))
        reported.append((part.label, node))

    deadline = _compile(_("deadline"), rule.deadline, parameters, Type.DATE) if rule.deadline.strip() else None

    try:
        quoted = message_fields(rule.message_template)
    except ValueError as error:
        raise RuleDefinitionError(_("message"), str(error)) from None
    labels = {label for label, _node in reported}
    for name in quoted:
        if name not in labels:
            raise RuleDefinitionError(_("message"), _("{%s} is not a reported value of this rule") % name)

    # Purpose limitation over the whole program: activation refuses a rule that reads what its purpose may not.
    misused = purpose_errors(
        rule, *(branch.condition for branch in branches), *(node for _label, node in reported), deadline
    )
    if misused:
        raise RuleDefinitionError(_("purpose"), misused[0])

    size = sum(1 for branch in branches for _node in t.walk(branch.condition))
    size += sum(1 for _label, node in reported for _node in t.walk(node))
    if size > MAX_PROGRAM_NODES:
        raise RuleDefinitionError(_("rule"), _("too complex: at most %d parts in all") % MAX_PROGRAM_NODES)

    return RuleProgram(
        key=rule.key,
        alert_type=rule.alert_type,
        hit_policy=rule.hit_policy if rule.kind == "table" else "first",
        parameters=parameters,
        branches=branches,
        reported=tuple(reported),
        deadline=deadline,
        message_template=rule.message_template,
    )
