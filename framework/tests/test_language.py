"""The rule language refuses what it does not understand, saying where and what it expected."""

from datetime import date
from decimal import Decimal

import pytest

from framework.language import typed as t
from framework.language.checker import check_parameters, compile_cell, compile_expression
from framework.language.errors import RuleSyntaxError, RuleTypeError
from framework.language.parser import MAX_DEPTH, MAX_NODES, MAX_SOURCE_LENGTH, parse
from framework.language.schema import Type


def syntax_error(text: str) -> RuleSyntaxError:
    with pytest.raises(RuleSyntaxError) as caught:
        compile_expression(text)
    return caught.value


def type_error(text: str, parameters=None) -> RuleTypeError:
    with pytest.raises(RuleTypeError) as caught:
        compile_expression(text, check_parameters(parameters or {}))
    return caught.value


# --- Syntax ---------------------------------------------------------------------------------------


def test_a_missing_operand_is_reported_at_the_end_with_what_could_follow():
    error = syntax_error("facts.age >=")
    assert (error.line, error.column) == (1, 13)
    assert "a number" in error.expected and "a name" in error.expected


def test_a_stray_token_is_reported_at_its_line_and_column():
    error = syntax_error("facts.age >= 30\nand and facts.has_dependants")
    assert (error.line, error.column) == (2, 5)
    assert "unexpected 'and'" in error.message


def test_comparisons_do_not_chain():
    error = syntax_error("18 <= facts.age < 30")
    assert error.column == 17
    assert "'and'" in error.expected


def test_an_unknown_character_is_refused_where_it_stands():
    error = syntax_error("facts.age >= 30 ; drop table clients")
    assert (error.line, error.column) == (1, 17)


def test_an_unclosed_bracket_expects_the_closing_one():
    error = syntax_error('count(policies[kind = "home"]')
    assert "')'" in error.expected


def test_the_message_names_line_column_and_expectation():
    assert str(syntax_error("(1")) == "Line 1, column 3: the expression ends too early; expected ')'"


def test_an_empty_expression_is_a_syntax_error():
    assert syntax_error("   # only a comment").message == "empty expression"


def test_a_duration_unit_must_be_a_known_unit():
    error = syntax_error("today + 14 fortnights")
    assert error.column == 12
    assert "days" in error.expected


@pytest.mark.parametrize("escape", ["\\n", "\\x41", "\\u0041"])
def test_strings_know_only_quote_and_backslash_escapes(escape):
    error = syntax_error(f'client.city = "a{escape}"')
    assert "escape" in error.message


def test_comments_and_line_breaks_are_allowed():
    node = compile_expression("# the first condition\nfacts.age >= 30  # years\n  and facts.has_dependants")
    assert isinstance(node, t.And)


# --- Names and types ------------------------------------------------------------------------------


def test_an_unknown_field_is_refused_with_a_suggestion():
    error = type_error("facts.replacment_ratio < 0.7")
    assert (error.line, error.column) == (1, 7)
    assert "did you mean replacement_ratio" in error.message


def test_dunder_and_builtin_names_do_not_exist():
    assert "unknown name" in type_error("__import__.system").message
    assert "unknown function" in type_error('__import__("os")').message
    assert "unknown function" in type_error('eval("1")').message
    assert "has no field" in type_error("client.__class__ = 1").message
    assert "has no field" in type_error("client.bsn = 1").message


def test_a_collection_is_only_used_through_an_aggregate():
    assert "is a collection" in type_error("policies").message
    assert "is a collection" in type_error("policies.insured_amount > 1").message


def test_aggregates_do_not_nest():
    error = type_error("any(mortgages[count(loan_parts) > 1])")
    assert "do not nest" in error.message
    assert error.column == 15


def test_a_typo_in_a_choice_would_never_match_so_it_is_refused():
    error = type_error('count(policies[kind = "hoem"]) > 0')
    assert "expected one of home" in error.message
    assert error.column == 23


def test_dates_and_numbers_do_not_mix():
    assert "cannot compare date with number" in type_error("client.birth_date < 30").message
    assert "days_between" in type_error("today - client.birth_date > 30").message
    assert "cannot calculate date + number" in type_error("today + 14 > client.birth_date").message


def test_texts_are_only_compared_for_equality():
    assert "only be compared with = or !=" in type_error('client.city < "B"').message


def test_null_is_spoken_about_with_is_null():
    error = type_error("facts.age = null")
    assert "is null" in error.message and error.column == 13
    assert isinstance(compile_expression("facts.age is null"), t.IsNull)


def test_a_condition_must_be_yes_or_no():
    with pytest.raises(RuleTypeError, match="must be yes/no"):
        compile_expression("facts.age + 1", expect=Type.BOOL)


def test_a_parameter_that_shadows_a_row_field_is_ambiguous():
    error = type_error('count(policies[kind = "home" and premium > kind]) > 0', {"kind": 3})
    assert "both a field of policies and a parameter" in error.message


def test_durations_take_whole_numbers_from_literals_or_parameters():
    node = compile_expression("today + days days", check_parameters({"days": 14}))
    assert isinstance(node, t.Shift) and node.days == 14
    assert compile_expression("today - 1 year").months == -12
    assert "whole number" in type_error("today + half days", {"half": 0.5}).message
    assert "100 years" in type_error("today + 1000 years").message


# --- Parameters -----------------------------------------------------------------------------------


def test_parameters_are_typed_from_their_json():
    assert check_parameters({"days": 14, "ratio": 0.7, "since": "2026-01-01", "group": "income", "on": True}) == {
        "days": Decimal("14"),
        "ratio": Decimal("0.7"),
        "since": date(2026, 1, 1),
        "group": "income",
        "on": True,
    }


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"Days": 1}, "lower-case"),
        ({"today": 1}, "reserved"),
        ({"facts": 1}, "reserved"),
        ({"policies": 1}, "reserved"),
        ({"x": [1]}, "must be a number"),
        ({"x": None}, "must be a number"),
        ({"x": float("inf")}, "finite"),
        ({"x": "2026-02-30"}, "not a date"),
        ([1, 2], "mapping"),
    ],
)
def test_invalid_parameters_are_refused(parameters, message):
    with pytest.raises(RuleTypeError, match=message):
        check_parameters(parameters)


# --- Decision table cells -------------------------------------------------------------------------


def test_a_cell_is_a_test_of_its_column():
    age = compile_expression("facts.age")
    assert compile_cell("-", age) is None
    assert compile_cell("", age) is None
    assert isinstance(compile_cell(">= 30", age), t.Compare)
    assert isinstance(compile_cell("30", age), t.Compare)
    assert isinstance(compile_cell("is null", age), t.IsNull)
    assert isinstance(compile_cell("not in [1, 2]", age), t.Not)


def test_a_bad_cell_says_where():
    with pytest.raises(RuleSyntaxError) as caught:
        compile_cell(">= >= 30", compile_expression("facts.age"))
    assert caught.value.column == 4
    with pytest.raises(RuleTypeError, match="cannot compare number with text"):
        compile_cell('"thirty"', compile_expression("facts.age"))


# --- Limits ---------------------------------------------------------------------------------------


def test_text_longer_than_the_limit_is_refused_before_parsing():
    error = syntax_error("1 + " * MAX_SOURCE_LENGTH)
    assert "too long" in error.message


def test_more_parts_than_the_limit_are_refused():
    text = "facts.age in [" + ", ".join(["1"] * (MAX_NODES // 2 + 10)) + "]"
    assert len(text) < MAX_SOURCE_LENGTH
    assert "too complex" in syntax_error(text).message


@pytest.mark.parametrize(
    "text",
    [
        "(" * (MAX_DEPTH + 5) + "1" + ")" * (MAX_DEPTH + 5),
        "not " * (MAX_DEPTH + 5) + "true",
        "-" * (MAX_DEPTH + 5) + "1",
    ],
)
def test_deeper_nesting_than_the_limit_is_refused(text):
    assert "too deeply nested" in syntax_error(text).message


def test_long_chains_are_not_nesting():
    compile_expression(" + ".join(["facts.age"] * 50) + " > 0")
    compile_expression(" and ".join(["facts.age > 1"] * 25))


def test_the_limits_leave_room_for_real_rules():
    text = (
        'any(policies[kind = "home"]) and sum(policies[kind = "home"].insured_amount) < property.rebuild_value\n'
        "and (facts.age >= 30 or facts.has_dependants is true)\n"
        "and coalesce(max(contact_moments.occurred_on), client.client_since) < today - 12 months"
    )
    assert isinstance(compile_expression(text, expect=Type.BOOL), t.And)


def test_a_number_literal_has_at_most_15_digits():
    assert "number too long" in syntax_error("facts.age < 1234567890123456").message
    parse("facts.age < 123456789012345.123456789012345")


def test_a_list_holds_at_most_50_options_of_fixed_values():
    options = ", ".join(f'"{index}"' for index in range(51))
    assert "at most 50" in type_error(f"client.city in [{options}]").message
    assert "fixed values" in type_error("client.city in [client.postcode]").message
