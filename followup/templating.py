"""Message templates: Jinja rendered in a sandbox that sees only whitelisted plain values.

Back office writes the words of a message with fields (`{{ client.first_name }}`, a loop over
`alerts`). The template is text from people who are not developers, so it is treated as untrusted:

- Jinja's `SandboxedEnvironment`, and on top of it: attribute access reads **dict keys only** (no
  attributes of any Python object, so no `__class__`, no methods); no globals (`range`, `dict`,
  `lipsum`...), a short whitelist of filters and tests, no function calls, no `set`/`with`/macros/
  includes/imports, no `**`, `*` bounded, no `%` formatting of strings.
- Loops run only over lists of the context (never over a string, a literal or a computed value),
  nested at most two deep, so the work a template can ask for is bounded by the context's size.
- The context must be plain data (dict, list, str, numbers, dates, None) within size limits; the
  caller builds it from whitelisted fields (`followup.context`), never hands in a model instance.
- The output is streamed and cut off with an error past MAX_OUTPUT characters.

Every failure, at parse time or while rendering, is a `TemplateError` (a Django ValidationError)
with the line (and the column where Jinja knows it), so the editor can point at it.
"""

import datetime as dt
import functools
import math
import traceback
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2 import filters as jinja_filters
from jinja2 import tests as jinja_tests
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.exceptions import TemplateError as JinjaTemplateError
from jinja2.runtime import LoopContext
from jinja2.sandbox import SandboxedEnvironment

MAX_TEMPLATE = 20_000  # characters of template text
MAX_OUTPUT = 50_000  # characters of rendered text
MAX_SEQUENCE = 2_000  # characters (or items) a `*` may produce
MAX_LOOP_ITEMS = 500  # items of one list a loop may run over
MAX_LOOP_DEPTH = 2
MAX_CONTEXT_STRING = 5_000
MAX_CONTEXT_ITEMS = 500
MAX_CONTEXT_DEPTH = 6
TEMPLATE_NAME = "<message template>"

LOOP_GUARD = "_steward_loop_over"
# Jinja's own names that reach its runtime objects.
RESERVED_NAMES = frozenset({"self", "caller", "varargs", "kwargs", "super"})
LOOP_ATTRIBUTES = frozenset(
    {"index", "index0", "revindex", "revindex0", "first", "last", "length", "previtem", "nextitem", "depth", "depth0"}
)
FORBIDDEN_NODES = (
    nodes.Macro,
    nodes.CallBlock,
    nodes.Call,
    nodes.Import,
    nodes.FromImport,
    nodes.Include,
    nodes.Extends,
    nodes.Block,
    nodes.Assign,
    nodes.AssignBlock,
    nodes.With,
    nodes.Scope,
    nodes.OverlayScope,
    nodes.EvalContextModifier,
    nodes.ScopedEvalContextModifier,
    nodes.ExprStmt,
    nodes.Pow,
    nodes.NSRef,
)


class TemplateError(ValidationError):
    """A template that cannot be used, with where: `line` (1-based) and `column` (1-based or None)."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None, code: str = "template"):
        self.line, self.column, self.reason = line, column, message
        where = ""
        if line is not None:
            where = (
                _("Line %(line)s, column %(column)s: ") % {"line": line, "column": column}
                if column
                else _("Line %(line)s: ") % {"line": line}
            )
        # No params: a message may hold a literal "%" (the tags it names), which params would format.
        super().__init__(f"{where}{message}", code=code)

    @property
    def position(self) -> tuple[int | None, int | None]:
        return self.line, self.column


# --- Filters: a short whitelist, plus the two the advisory domain needs ---------------------------


def _date_filter(value) -> str:
    """A date as 31-12-2026 (the Dutch way, readable in English too)."""
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%d-%m-%Y")
    if value is None:
        return ""
    raise SecurityError(_("the date filter needs a date"))


def _euro_filter(value) -> str:
    from clients.templatetags.steward import euro

    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise SecurityError(_("the euro filter needs an amount"))
    try:
        return euro(value)
    except (ArithmeticError, ValueError) as error:
        raise SecurityError(_("the euro filter needs an amount")) from error


def _loop_over(value):
    """Every `{% for %}` runs over this: only a list of the context, and not too long."""
    if isinstance(value, StrictUndefined):
        str(value)  # raises the undefined error with its name
    if not isinstance(value, list | tuple):
        raise SecurityError(_("a loop can only run over a list, such as alerts"))
    if len(value) > MAX_LOOP_ITEMS:
        raise SecurityError(_("the list is too long to loop over"))
    return value


SAFE_FILTERS = {
    name: jinja_filters.FILTERS[name]
    for name in (
        "upper",
        "lower",
        "title",
        "capitalize",
        "trim",
        "default",
        "d",
        "length",
        "count",
        "first",
        "last",
        "join",
        "truncate",
        "round",
        "abs",
        "wordcount",
        "sort",
        "reverse",
        "unique",
        "min",
        "max",
        "sum",
    )
}
SAFE_FILTERS.update({"date": _date_filter, "euro": _euro_filter, LOOP_GUARD: _loop_over})
SAFE_TESTS = {
    name: jinja_tests.TESTS[name]
    for name in (
        "defined",
        "undefined",
        "none",
        "number",
        "string",
        "even",
        "odd",
        "divisibleby",
        "eq",
        "ne",
        "lt",
        "gt",
        "le",
        "ge",
        "in",
        "true",
        "false",
    )
}


class _MessageSandbox(SandboxedEnvironment):
    """Jinja's sandbox, narrowed: dict keys instead of attributes, bounded operators."""

    intercepted_binops = frozenset({"*", "%", "+", "//", "/"})
    intercepted_unops = frozenset()

    def getattr(self, obj, attribute):
        if isinstance(obj, dict):
            return self.getitem(obj, attribute)
        if isinstance(obj, LoopContext) and attribute in LOOP_ATTRIBUTES:
            return getattr(obj, attribute)
        return self.undefined(obj=obj, name=attribute)

    def getitem(self, obj, argument):
        if isinstance(obj, dict) and isinstance(argument, str):
            if argument in obj:
                return obj[argument]
            return self.undefined(obj=obj, name=argument)
        if isinstance(obj, list | tuple | str) and isinstance(argument, int) and not isinstance(argument, bool):
            try:
                return obj[argument]
            except IndexError:
                return self.undefined(obj=obj, name=str(argument))
        return self.undefined(obj=obj, name=str(argument))

    def call_binop(self, context, operator, left, right):
        if operator == "%" and not _is_number(left):
            raise SecurityError(_("% formatting of text is not allowed"))
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(sequence, str | list | tuple) and (
                    not isinstance(times, int) or len(sequence) * max(times, 0) > MAX_SEQUENCE
                ):
                    raise SecurityError(_("the result of * would be too long"))
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, str | list | tuple) and len(result) > MAX_OUTPUT:
            raise SecurityError(_("the result would be too long"))
        return result

    def call(__self, __context, __obj, *args, **kwargs):
        # Templates cannot call anything (the parse check refuses calls); filters are not calls.
        raise SecurityError(_("calling functions is not allowed"))


def _is_number(value) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _environment() -> _MessageSandbox:
    environment = _MessageSandbox(
        undefined=StrictUndefined,
        autoescape=False,  # plain text: email text/plain, SMS, letters; HTML pages escape it on display
        keep_trailing_newline=True,
        extensions=[],
    )
    environment.globals.clear()
    environment.filters = dict(SAFE_FILTERS)
    environment.tests = dict(SAFE_TESTS)
    return environment


_ENVIRONMENT = _environment()


# --- Checking the template before it runs ---------------------------------------------------------


def _check_and_guard(tree: nodes.Template) -> None:
    """Refuse constructs outside the whitelist; make every loop run over `_loop_over`."""
    for node in tree.find_all(FORBIDDEN_NODES):
        raise TemplateError(_forbidden_message(node), line=node.lineno)
    for node in tree.find_all(nodes.Getattr):
        if node.attr.startswith("_"):
            raise TemplateError(_("fields starting with _ do not exist"), line=node.lineno)
    for node in tree.find_all(nodes.Name):
        if node.name.startswith("_") or node.name in RESERVED_NAMES:
            raise TemplateError(_("%(name)s does not exist") % {"name": node.name}, line=node.lineno)
    _guard_loops(tree, depth=0)


def _forbidden_message(node: nodes.Node) -> str:
    labels = {
        nodes.Call: _("calling functions is not allowed"),
        nodes.Pow: _("** is not allowed"),
        nodes.Assign: _("{% set %} is not allowed"),
        nodes.AssignBlock: _("{% set %} is not allowed"),
    }
    for kind, label in labels.items():
        if isinstance(node, kind):
            return label
    return _("%(tag)s is not allowed in a message template") % {"tag": type(node).__name__.lower()}


def _guard_loops(node: nodes.Node, *, depth: int) -> None:
    if not isinstance(node, nodes.For):
        for child in node.iter_child_nodes():
            _guard_loops(child, depth=depth)
        return
    if node.recursive:
        raise TemplateError(_("recursive loops are not allowed"), line=node.lineno)
    if depth + 1 > MAX_LOOP_DEPTH:
        raise TemplateError(
            _("loops can be nested at most %(depth)s deep") % {"depth": MAX_LOOP_DEPTH}, line=node.lineno
        )
    if not _is_field_path(node.iter):
        raise TemplateError(_("a loop can only run over a list of the context, such as alerts"), line=node.lineno)
    node.iter = nodes.Filter(node.iter, LOOP_GUARD, [], [], None, None, lineno=node.lineno)
    node.iter.set_environment(_ENVIRONMENT)
    for child in (*node.body, *node.else_, *([node.test] if node.test is not None else [])):
        _guard_loops(child, depth=depth + 1)


def _is_field_path(node: nodes.Node) -> bool:
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        node = node.node
    return isinstance(node, nodes.Name)


def _compile(template_text: str):
    if not isinstance(template_text, str):
        raise TemplateError(_("The template must be text."))
    return _compile_text(template_text)


@functools.lru_cache(maxsize=256)
def _compile_text(template_text: str):
    """Parse, check and compile once per distinct text (a dispatch renders the same few many times)."""
    if not isinstance(template_text, str):
        raise TemplateError(_("The template must be text."))
    if len(template_text) > MAX_TEMPLATE:
        raise TemplateError(_("The template is longer than %(max)s characters.") % {"max": MAX_TEMPLATE})
    if "\x00" in template_text:
        raise TemplateError(_("The template contains a NUL character."))
    try:
        tree = _ENVIRONMENT.parse(template_text, name=TEMPLATE_NAME)
        _check_and_guard(tree)
        code = _ENVIRONMENT.compile(tree, name=TEMPLATE_NAME, filename=TEMPLATE_NAME)
        return _ENVIRONMENT.template_class.from_code(_ENVIRONMENT, code, _ENVIRONMENT.make_globals(None), None)
    except TemplateSyntaxError as error:
        raise TemplateError(error.message or _("invalid template"), line=error.lineno) from None
    except TemplateError:
        raise
    except (JinjaTemplateError, RecursionError, MemoryError, ValueError, TypeError) as error:
        raise TemplateError(_("The template cannot be read: %(error)s") % {"error": _short(error)}) from None


# --- Checking the context -------------------------------------------------------------------------

PLAIN_SCALARS = (str, int, float, Decimal, bool, dt.date, dt.datetime, type(None))


def _plain(value, *, depth: int, budget: list[int]):
    """A copy of `value` made of plain data only, or TemplateError; counts everything against budget."""
    budget[0] -= 1
    if budget[0] < 0:
        raise TemplateError(_("The context is too large."), code="context")
    if depth > MAX_CONTEXT_DEPTH:
        raise TemplateError(_("The context is nested too deep."), code="context")
    if isinstance(value, bool | type(None) | dt.date | Decimal):
        return value
    if isinstance(value, str):
        if type(value) is not str:
            value = str.__str__(value)
        if len(value) > MAX_CONTEXT_STRING:
            raise TemplateError(_("A context value is too long."), code="context")
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TemplateError(_("A context number is not finite."), code="context")
        return float(value)
    if isinstance(value, list | tuple):
        if len(value) > MAX_CONTEXT_ITEMS:
            raise TemplateError(_("A context list is too long."), code="context")
        return [_plain(item, depth=depth + 1, budget=budget) for item in value]
    if isinstance(value, dict):
        if len(value) > MAX_CONTEXT_ITEMS:
            raise TemplateError(_("A context dict is too large."), code="context")
        plain = {}
        for key, item in value.items():
            if not isinstance(key, str) or key.startswith("_"):
                raise TemplateError(_("Context keys must be text not starting with _."), code="context")
            plain[str.__str__(key)] = _plain(item, depth=depth + 1, budget=budget)
        return plain
    raise TemplateError(
        _("The context may hold only plain values, not %(kind)s.") % {"kind": type(value).__name__}, code="context"
    )


# --- Rendering --------------------------------------------------------------------------------------


def _template_line(error: BaseException) -> int | None:
    line = None
    # walk_tb, not extract_tb: extract_tb reads each frame's source file from disk (linecache), and
    # a template's error must open no file (tests/test_hostile_templates.py).
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        if frame.f_code.co_filename == TEMPLATE_NAME:
            line = lineno
    return line


def _short(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text[:200]


def message_render(template_text: str, context: dict) -> str:
    """Render a message template against plain whitelisted values; TemplateError says what and where.

    `context` is copied into plain data first (dicts with text keys, lists, text, numbers, dates,
    None); anything else is refused, so no model instance or settings object can reach a template.
    The output is at most MAX_OUTPUT characters.
    """
    if not isinstance(context, dict):
        raise TemplateError(_("The context must be a dict."), code="context")
    plain_context = _plain(context, depth=0, budget=[20_000])
    template = _compile(template_text)
    pieces: list[str] = []
    length = 0
    try:
        for piece in template.generate(plain_context):
            length += len(piece)
            if length > MAX_OUTPUT:
                raise TemplateError(
                    _("The message would be longer than %(max)s characters.") % {"max": MAX_OUTPUT}, code="too_long"
                )
            pieces.append(piece)
    except TemplateError:
        raise
    except UndefinedError as error:
        raise TemplateError(
            _("Unknown field: %(error)s") % {"error": _short(error)}, line=_template_line(error), code="unknown_field"
        ) from None
    except SecurityError as error:
        raise TemplateError(_short(error), line=_template_line(error), code="not_allowed") from None
    except (JinjaTemplateError, ArithmeticError, ValueError, TypeError, LookupError, RecursionError) as error:
        raise TemplateError(
            _("The template fails: %(error)s") % {"error": _short(error)}, line=_template_line(error)
        ) from None
    return "".join(pieces)


def message_template_check(template_text: str) -> None:
    """Parse and check a template without rendering it (the editor's save); TemplateError if unusable."""
    _compile(template_text)
