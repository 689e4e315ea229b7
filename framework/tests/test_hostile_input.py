"""Arbitrary and hostile text thrown at the parser, the checker and both evaluators.

Whatever the input: no code runs (an audit hook, tests/sandbox.py, refuses file, process, network,
import and exec events while the language is at work), nothing hangs (each input is timed), and the
only exceptions are RuleSyntaxError and RuleTypeError. Time is this process's CPU time, so other work
on the machine does not make a fast evaluation look slow.

10,000 inputs in all in `make test`, 100,000 in `make soak` (tests/soak.py).
"""

import time
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.language.checker import check_parameters, compile_cell, compile_expression
from framework.language.errors import RuleSyntaxError, RuleTypeError
from framework.language.evaluate import MAX_EVALUATION_STEPS, Evaluation, evaluate
from framework.language.orm import OrmCompiler
from framework.language.parser import MAX_SOURCE_LENGTH
from framework.language.schema import Type
from tests.sandbox import gc_paused, no_side_effects
from tests.soak import examples

PARAMETERS = check_parameters({"days": 14, "ratio": 0.7, "group": "income", "since": "2020-01-01"})
TODAY = date(2026, 11, 23)
ROW = {"id": 1, "kind": "home", "insured_amount": Decimal("1E+20"), "premium": None, "start_date": date.max}
SNAPSHOT = {
    "client": {"id": 1, "birth_date": date.min, "segment": "basic", "city": "'; DROP TABLE", "client_since": None},
    "facts": {
        "age": 200,
        "replacement_ratio": Decimal("0.0001"),
        "state_pension_date": date.max,
        "gross_income": Decimal("99999999999999.99"),
        "has_dependants": None,
        "stale_field_groups": ["income", None, 3],
        "household_type": "family",
    },
    "property": {"id": 2, "rebuild_value": Decimal(0), "kind": "house"},
    "policies": [ROW, {**ROW, "id": 2, "insured_amount": None}],
    "loan_parts": [{"id": 3, "repayment_type": "interest_only", "end_date": date.min, "fixed_rate_end_date": None}],
    "contact_moments": [{"id": 4, "occurred_on": date.max}],
}


def exercise(text: str) -> None:
    """Parse, check and evaluate `text`; fail on anything but a validation error or a sane value.

    The time bound is the evaluator's own (see `gc_paused`).
    """
    with gc_paused():
        _exercise(text)


def _exercise(text: str) -> None:
    started = time.process_time()
    with no_side_effects() as events:
        try:
            node = compile_expression(text, PARAMETERS)
        except (RuleSyntaxError, RuleTypeError) as error:
            assert error.line >= 1 and error.column >= 1
            node = None
        if node is not None:
            result = evaluate(node, SNAPSHOT, today=TODAY)
            assert result is None or isinstance(result, bool | Decimal | date | str | list)
            if node.type == Type.BOOL:
                assert result in (True, False, None)
            compiler = OrmCompiler(today=TODAY)
            compiler.value(node)
            if node.type == Type.BOOL:
                compiler.condition(node)
    assert events == []
    assert time.process_time() - started < 1.0, f"took too long: {text!r}"


KEYWORDS = ["and", "or", "not", "in", "is", "null", "true", "false", "today", "==", "!=", "<=", ">="]
UNITS = ["days", "months", "years", "weeks", "day"]
NAMES = ["ratio", "group", "since", "client", "facts", "property", "policies", "loan_parts", "contact_moments"]
FIELDS = ["age", "birth_date", "kind", "insured_amount", "rebuild_value", "stale_field_groups", "occurred_on"]
FUNCTIONS = ["count", "sum", "min", "max", "any", "all", "coalesce", "abs", "date", "days_between"]
PYTHON = ["__import__", "__class__", "__globals__", "__builtins__", "__subclasses__", "eval", "exec", "open"]
PYTHON_MORE = ["getattr", "os", "system", "subprocess", "lambda", "import", "self", "mro"]
PUNCTUATION = ["{", "}", "%", "$", "@", "--", "/*", "*/", ";", "`", "${x}"]
LITERALS = ["0", "1", "14", "0.7", "1e308", "9" * 16, "9" * 15, '"home"', '"2026-02-30"', "'x'", '"\\"']
TOKENS = [
    *"()[].,+-*/<>=!#'\"\\\n\t\x00",
    *KEYWORDS,
    *UNITS,
    *NAMES,
    *FIELDS,
    *FUNCTIONS,
    *PYTHON,
    *PYTHON_MORE,
    *PUNCTUATION,
    *LITERALS,
    '"\u00e9\u202e"',
    "\U0001f4a5",
]

hostile_tokens = st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join)

NUMBERS = [
    *["0", "1", "14", "0.7", "999999999999999", "days", "ratio"],
    *["facts.age", "facts.replacement_ratio", "facts.gross_income", "property.rebuild_value"],
    *["count(policies)", "sum(policies.insured_amount)", "max(policies.insured_amount)"],
    'sum(policies[kind = "home"].insured_amount)',
    "days_between(client.birth_date, today)",
    "months_between(today, facts.state_pension_date)",
    "years_between(client.birth_date, today)",
    "abs(facts.gross_income)",
]
DATES = [
    *["today", "client.birth_date", "facts.state_pension_date", "since", "max(loan_parts.end_date)"],
    *["min(loan_parts.fixed_rate_end_date)", "max(contact_moments.occurred_on)"],
    'date("9999-12-31")',
    'date("0001-01-01")',
]
numbers = st.recursive(
    st.sampled_from(NUMBERS),
    lambda inner: (
        st.builds(lambda a, op, b: f"({a} {op} {b})", inner, st.sampled_from("+-*/"), inner)
        | st.builds(lambda a: f"-{a}", inner)
        | st.builds(lambda a, b: f"coalesce({a}, {b})", inner, inner)
    ),
    max_leaves=8,
)
dates = st.builds(
    lambda d, sign, amount, unit: f"{d} {sign} {amount} {unit}",
    st.sampled_from(DATES),
    st.sampled_from("+-"),
    st.sampled_from(["1", "14", "1200", "36600", "days"]),
    st.sampled_from(["days", "weeks", "months", "years"]),
) | st.sampled_from(DATES)
comparisons = (
    st.builds(lambda a, op, b: f"{a} {op} {b}", numbers, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), numbers)
    | st.builds(lambda a, op, b: f"{a} {op} {b}", dates, st.sampled_from(["<", ">=", "="]), dates)
    | st.sampled_from(
        [
            "facts.has_dependants",
            "group in facts.stale_field_groups",
            'client.segment in ["basic", "plus"]',
            "any(loan_parts, end_date > facts.state_pension_date)",
            'all(policies, kind = "home")',
            "any(policies[insured_amount > property.rebuild_value])",
            "facts.age is null",
        ]
    )
)
conditions = st.recursive(
    comparisons,
    lambda inner: (
        st.builds(lambda a, b: f"({a} and {b})", inner, inner)
        | st.builds(lambda a, b: f"({a} or {b})", inner, inner)
        | st.builds(lambda a: f"not {a}", inner)
        | st.builds(lambda a, suffix: f"({a}) {suffix}", inner, st.sampled_from(["is true", "is not true", "is null"]))
    ),
    max_leaves=6,
)


@settings(max_examples=examples(3000, 30000), database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=300))
def test_arbitrary_text_is_refused_or_evaluated_without_side_effects(text):
    exercise(text)


@settings(max_examples=examples(3000, 30000), database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(hostile_tokens)
def test_hostile_token_soup_is_refused_or_evaluated_without_side_effects(text):
    exercise(text)


@settings(max_examples=examples(2000, 20000), database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(conditions)
def test_generated_rules_evaluate_to_yes_no_or_unknown(text):
    exercise(text)


@settings(max_examples=examples(1500, 15000), database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(conditions, st.integers(min_value=0), st.text(max_size=5))
def test_valid_rules_with_text_spliced_in_are_refused_or_evaluated(text, where, insertion):
    where %= len(text) + 1
    exercise(text[:where] + insertion + text[where:])


@settings(max_examples=examples(500, 5000), database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=60))
def test_arbitrary_decision_table_cells_are_refused_or_become_conditions(cell):
    subject = compile_expression("facts.age")
    with no_side_effects() as events:
        try:
            test = compile_cell(cell, subject, PARAMETERS)
        except (RuleSyntaxError, RuleTypeError):
            test = None
        if test is not None:
            assert evaluate(test, SNAPSHOT, today=TODAY) in (True, False, None)
    assert events == []


def test_the_largest_allowed_inputs_are_handled_quickly():
    worst = [
        "(" * 1000 + "1" + ")" * 999,
        "not " * 499 + "true",
        "-" * MAX_SOURCE_LENGTH,
        "a" * MAX_SOURCE_LENGTH,
        '"' + "\\\\" * 999 + '"',
        "facts.age in [" + ", ".join(["1"] * 600) + "]",
        " + ".join(["sum(policies.insured_amount)"] * 60) + " > 0",
        "[" * MAX_SOURCE_LENGTH,
    ]
    for text in worst:
        exercise(text[:MAX_SOURCE_LENGTH])


def test_evaluation_time_grows_with_the_rows_of_a_client_not_faster():
    """Aggregates do not nest, so a rule visits each row a bounded number of times."""
    many = {**SNAPSHOT, "policies": [{**ROW, "id": index, "insured_amount": Decimal(index)} for index in range(5000)]}
    text = " and ".join(f'sum(policies[kind = "home" and insured_amount > {n}].insured_amount) > 0' for n in range(8))
    node = compile_expression(text, PARAMETERS)
    started = time.process_time()
    with no_side_effects() as events:
        assert evaluate(node, many, today=TODAY) is True
    assert events == []
    assert time.process_time() - started < 2.0


def test_the_audit_hook_catches_code_that_opens_files():
    with no_side_effects() as events, pytest.raises(RuntimeError):
        open("/etc/hostname")  # noqa: SIM115 - the very thing the hook must catch
    assert events == ["open"]


def test_an_evaluation_that_runs_out_of_steps_is_unknown_not_endless():
    many = {**SNAPSHOT, "policies": [{**ROW, "id": index, "insured_amount": Decimal(index)} for index in range(5000)]}
    node = compile_expression('sum(policies[kind = "home" and insured_amount > 10].insured_amount) > 0', PARAMETERS)
    assert evaluate(node, many, today=TODAY) is True  # the default budget is ample for a real rule

    small_budget = Evaluation(snapshot=many, today=TODAY, max_steps=1000)
    started = time.process_time()
    assert evaluate(node, many, today=TODAY, evaluation=small_budget) is None  # unknown: fails closed
    assert small_budget.exhausted and small_budget.steps > 1000
    assert time.process_time() - started < 0.5
    # Later evaluations sharing the spent budget (an explanation's parts) are unknown at once.
    assert evaluate(compile_expression("1 = 1"), many, today=TODAY, evaluation=small_budget) is None


def test_the_step_budget_covers_the_largest_rule_over_a_large_client_file():
    """A rule at the size limit over 2,000 rows finishes within the default budget."""
    many = {**SNAPSHOT, "policies": [{**ROW, "id": index, "insured_amount": Decimal(index)} for index in range(2000)]}
    text = " and ".join(f'sum(policies[kind = "home" and insured_amount > {n}].insured_amount) > 0' for n in range(8))
    evaluation = Evaluation(snapshot=many, today=TODAY)
    assert evaluate(compile_expression(text, PARAMETERS), many, today=TODAY, evaluation=evaluation) is True
    assert not evaluation.exhausted and evaluation.steps < MAX_EVALUATION_STEPS
