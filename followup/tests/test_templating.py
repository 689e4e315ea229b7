"""Message templates run in a sandbox: whitelisted plain values only, bounded, errors with a line."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from followup.templating import MAX_OUTPUT, TemplateError, message_render

CONTEXT = {
    "client": {"first_name": "Anna", "full_name": "Anna de Vries"},
    "advisor": {"name": "Anouk"},
    "alerts": [
        {"type": "Fixed-interest period ends", "due_date": dt.date(2026, 12, 31), "message": "ends"},
        {"type": "Home insured below its rebuild value", "due_date": None, "message": "low"},
    ],
    "link": "https://steward.example/c/x/",
}


def test_fields_loops_and_filters_render():
    text = (
        "Dear {{ client.first_name|upper }},\n{% for a in alerts %}{{ loop.index }}. {{ a.type }}"
        "{% if a.due_date %} ({{ a.due_date|date }}){% endif %}\n{% endfor %}{{ link }}"
    )
    assert message_render(text, CONTEXT) == (
        "Dear ANNA,\n1. Fixed-interest period ends (31-12-2026)\n2. Home insured below its rebuild value\n"
        "https://steward.example/c/x/"
    )


@pytest.mark.parametrize(
    "template",
    [
        "{{ settings }}",
        "{{ settings.SECRET_KEY }}",
        "{{ config }}",
        "{{ request }}",
        "{{ self }}",
        "{{ self._TemplateReference__context }}",
        "{{ client.__class__ }}",
        "{{ client.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ client['__class__'] }}",
        "{{ client.items() }}",
        "{{ client.first_name.upper() }}",
        "{{ alerts.pop() }}",
        "{{ lipsum.__globals__ }}",
        "{{ range(10) }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ namespace }}",
        "{{ client|attr('__class__') }}",
        "{{ alerts|map('attribute', '__class__')|list }}",
        "{% import 'os' as os %}",
        "{% include '/etc/passwd' %}",
        "{% extends 'base.html' %}",
        "{% set x = client %}",
        "{% macro m() %}{{ m() }}{% endmacro %}",
        "{% with x = 1 %}{% endwith %}",
        "{{ 'x' * 1000000 }}",
        "{{ 9 ** 999999 }}",
        "{{ '%999999999d' % 1 }}",
        "{{ '{0.__class__}'.format(client) }}",
        "{% for c in 'abc' %}{% endfor %}",
        "{% for c in client.first_name %}{% endfor %}",
        "{% for a in alerts %}{% for b in alerts %}{% for c in alerts %}{% endfor %}{% endfor %}{% endfor %}",
        "{% for a in alerts recursive %}{{ loop(a) }}{% endfor %}",
        "{{ other_client.first_name }}",
        "{{ client.email }}",
    ],
)
def test_the_sandbox_refuses_what_is_not_whitelisted(template):
    with pytest.raises(TemplateError):
        message_render(template, CONTEXT)


def test_another_clients_data_is_unreachable_because_only_the_context_is_there():
    with pytest.raises(TemplateError, match="Unknown field"):
        message_render("{{ clients }}", CONTEXT)


def test_only_plain_values_are_accepted_as_context(advisor):
    from django.conf import settings

    for bad in ({"settings": settings}, {"user": advisor}, {"f": print}, {"x": object()}, {"_secret": 1}, {1: "a"}):
        with pytest.raises(TemplateError):
            message_render("hello", bad)


def test_errors_say_the_line():
    with pytest.raises(TemplateError) as syntax:
        message_render("line one\nline two {{ client.first_name \nline three", CONTEXT)
    assert syntax.value.line in (2, 3)
    with pytest.raises(TemplateError) as unknown:
        message_render("a\nb\n{{ client.nope }}", CONTEXT)
    assert unknown.value.position == (3, None)
    assert unknown.value.messages[0].startswith("Line 3")


def test_the_output_is_bounded():
    big = {"alerts": [{"type": "x" * 4000}] * 400}
    with pytest.raises(TemplateError, match="longer than"):
        message_render("{% for a in alerts %}{% for b in alerts %}{{ a.type }}{% endfor %}{% endfor %}", big)
    assert len(message_render("{{ 'ab' * 1000 }}", {})) == 2000 <= MAX_OUTPUT


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("{}%#()[]|.'\"_ abcxyz0123456789*+-~=!<>\n")), max_size=80))
def test_any_text_renders_or_fails_with_a_template_error(text):
    try:
        result = message_render(text, CONTEXT)
    except TemplateError as error:
        assert error.messages
    else:
        assert isinstance(result, str) and len(result) <= MAX_OUTPUT
