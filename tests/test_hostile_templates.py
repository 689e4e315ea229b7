"""Arbitrary and hostile message templates thrown at `followup.templating.message_render`.

Back office writes message templates; they are untrusted text. Whatever the text: checking and
rendering it opens no file, starts no process, opens no socket, imports nothing and compiles or runs
no code of its own (the audit hook of tests/sandbox.py refuses those events), it finishes quickly,
and it either gives text or fails with a TemplateError.

Jinja itself compiles: it turns a template's checked syntax tree into Python code, and rewrites the
traceback of a template error to point at the template's line. Both compile and exec code under the
template's file name and read a traceback's frame; `jinja_internals` lets exactly those through.

10,000 templates in `make test` (about 20 s), 100,000 in `make soak` (tests/soak.py).
"""

import contextlib
import datetime as dt
import importlib
import time
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sandbox import FORBIDDEN_EVENTS, gc_paused, no_side_effects
from tests.soak import examples

try:
    templating = importlib.import_module("followup.templating")
    message_render = templating.message_render
    TemplateError = templating.TemplateError
except (ImportError, AttributeError):  # pragma: no cover - until the follow-up developer's renderer lands
    templating = None
pytestmark = pytest.mark.skipif(
    templating is None, reason="followup.templating.message_render(template_text, context) does not exist yet"
)

CONTEXT = {
    "client": {"first_name": "Anna", "full_name": "Anna de Vries", "city": "'; DROP TABLE", "age": 41},
    "advisor": {"name": "Anouk", "phone": "+31 20 123 4567"},
    "alerts": [
        {"type": "Fixed-interest period ends", "due_date": dt.date(2026, 12, 31), "amount": Decimal("1E+20")},
        {"type": "Home insured below its rebuild value", "due_date": None, "amount": None},
    ],
    "link": "https://steward.example/c/x/",
}

FIELDS = ["client", "client.first_name", "client.age", "advisor.name", "alerts", "a", "a.type", "a.due_date", "link"]
FILTERS = ["upper", "lower", "title", "length", "date", "euro", "default('x')", "join(', ')", "first", "last", "e"]
PYTHON = [
    "__class__",
    "__mro__",
    "__subclasses__()",
    "__globals__",
    "__builtins__",
    "__import__('os')",
    "__init__",
    "mro()",
    "_TemplateReference__context",
    "func_globals",
    "f_back",
    "gi_frame",
    "cr_frame",
    "__code__",
]
NAMES = ["self", "config", "settings", "request", "lipsum", "cycler", "joiner", "namespace", "range", "dict", "loop"]
TAGS = [
    "{% for a in alerts %}",
    "{% endfor %}",
    "{% if client.age > 40 %}",
    "{% else %}",
    "{% endif %}",
    "{% for b in a %}",
    "{% for c in client.first_name %}",
    "{% raw %}",
    "{% endraw %}",
    "{% import 'os' as os %}",
    "{% include '/etc/passwd' %}",
    "{% extends 'base.html' %}",
    "{% set x = 1 %}",
    "{% macro m() %}{{ m() }}{% endmacro %}",
    "{% with x = client %}",
    "{% filter upper %}",
    "{% endfilter %}",
    "{% call m() %}",
    "{# #}",
]
PUNCTUATION = ["{{", "}}", "{%", "%}", "|", ".", "[", "]", "(", ")", "'", '"', "*", "~", "+", "**", "%", ",", "\n"]
LITERALS = ["0", "1", "9" * 30, "1e308", "'x'", "'%s'", "'%(x)s'", "[1,2]", "{'a': 1}", "true", "none"]
TOKENS = [*FIELDS, *FILTERS, *PYTHON, *NAMES, *TAGS, *PUNCTUATION, *LITERALS, "\x00", "\u202e", "\U0001f4a5"]

hostile_tokens = st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join)
expressions = st.builds(
    lambda field, dots, filters, times: (
        "{{ " + field + "".join("." + d for d in dots) + "".join("|" + f for f in filters) + times + " }}"
    ),
    st.sampled_from(FIELDS + NAMES),
    st.lists(st.sampled_from([*PYTHON, "first_name", "type", "0"]), max_size=3),
    st.lists(st.sampled_from(FILTERS), max_size=3),
    st.sampled_from(["", " * 3", " * 99999999", " ~ link", " + 1", " % 3", " // 0"]),
)
templates = st.lists(st.one_of(expressions, st.sampled_from(TAGS), st.text(max_size=20)), min_size=1, max_size=8).map(
    "".join
)
JINJA_FILE_NAMES = {"<message template>", "<unknown>"}  # a template's, and a syntax error's before it has one
JINJA_TRACEBACK_READS = {"tb_frame", "f_code"}


def jinja_internals(event: str, args: tuple) -> bool:
    """Code Jinja compiles from the template (or for its error's traceback), and reading that traceback."""
    if event == "compile":  # (source, file name)
        return args[1] in JINJA_FILE_NAMES
    if event == "exec":  # (code object,)
        return getattr(args[0], "co_filename", None) in JINJA_FILE_NAMES
    if event == "code.__new__":  # (code, file name, name, ...): Jinja's fake traceback frame
        return args[1] in JINJA_FILE_NAMES
    if event == "object.__getattr__":  # (object, attribute)
        return args[1] in JINJA_TRACEBACK_READS
    return False


def _warm_up() -> None:
    """Jinja imports modules lazily: its error handling the first time a template fails, not the
    template's doing"""
    # (and the unicode_escape codec the first time it reads a string literal).
    warm = ["{{ x", "{{ 1 // 0 }}", "{{ client.nope }}", "{{ lipsum }}", "{{ client.__class__ }}", "{{ 'x' ~ \"y\" }}"]
    # (followup's euro filter imports the formatting of clients/templatetags on first use).
    filters = [f"{{{{ alerts[0].{field}|{name} }}}}" for field in ("amount", "due_date", "type") for name in FILTERS]
    for text in [*warm, *TAGS, *filters]:
        with contextlib.suppress(TemplateError):
            message_render(text, CONTEXT)


if templating is not None:
    _warm_up()


def exercise(text: str) -> None:
    """Check and render `text` under the sandbox, timed (see `gc_paused`)."""
    with gc_paused():
        _exercise(text)


def _exercise(text: str) -> None:
    started = time.process_time()
    with no_side_effects(allow=jinja_internals) as events:
        try:
            templating.message_template_check(text)
            compiled = True
        except TemplateError:
            compiled = False
    assert events == [], (text, events)
    if compiled:  # rendering (the compiled template is cached)
        with no_side_effects(allow=jinja_internals) as events:
            try:
                output = message_render(text, CONTEXT)
                assert isinstance(output, str) and len(output) <= templating.MAX_OUTPUT
            except TemplateError as error:
                assert error.line is None or error.line >= 1
        assert events == [], (text, events)
    assert time.process_time() - started < 1.0, f"took too long: {text!r}"


HYPOTHESIS = {"database": None, "deadline": None, "suppress_health_check": list(HealthCheck)}


@settings(max_examples=examples(4000, 40000), **HYPOTHESIS)
@given(st.text(max_size=200))
def test_arbitrary_text_renders_or_is_refused_without_side_effects(text):
    exercise(text)


@settings(max_examples=examples(3000, 30000), **HYPOTHESIS)
@given(hostile_tokens)
def test_hostile_token_soup_renders_or_is_refused_without_side_effects(text):
    exercise(text)


@settings(max_examples=examples(3000, 30000), **HYPOTHESIS)
@given(templates)
def test_generated_templates_with_python_escapes_render_or_are_refused(text):
    exercise(text)


def test_the_known_escapes_are_refused_and_run_nothing():
    for escape in [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "{{ cycler.__init__.__globals__.os.system('id') }}",
        "{{ self._TemplateReference__context.cycler.__init__.__globals__ }}",
        "{% for x in ().__class__.__base__.__subclasses__() %}{{ x }}{% endfor %}",
        "{{ client|attr('__class__') }}",
        "{{ 'a' * 99999999 }}",
        "{% for a in alerts %}{% for b in alerts %}{% for c in alerts %}x{% endfor %}{% endfor %}{% endfor %}",
    ]:
        with no_side_effects(allow=jinja_internals) as events, pytest.raises(TemplateError):
            message_render(escape, CONTEXT)
        assert events == [], (escape, events)


def test_the_hook_lets_through_only_what_jinja_compiles_for_the_template():
    with no_side_effects(allow=jinja_internals) as events, pytest.raises(RuntimeError):
        compile("1", "<somewhere else>", "eval")
    assert events == ["compile"] and "compile" in FORBIDDEN_EVENTS
    with no_side_effects(allow=jinja_internals) as events, pytest.raises(RuntimeError):
        open("/etc/hostname")  # noqa: SIM115 - the very thing the hook must catch
    assert events == ["open"]


def test_the_typing_machinery_recomputing_a_generic_alias_is_not_a_finding():
    """Jinja's compiler annotates an inner function (`t.Iterable[nodes.Node]`), evaluated on every
    compile; when typing's own cache has dropped it (after thousands of other generic aliases, as
    the API fuzzing makes), typing reads its caller's frame. That is the standard library, not the
    template: `make soak` reported it as a side effect until the sandbox knew it."""
    import typing

    for clear in typing._cleanups:  # what a long run of other tests does to typing's caches
        clear()
    exercise("{% if client.first_name %}Beste {{ client.first_name }}{% endif %}")
