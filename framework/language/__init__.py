"""The rule language: a small, safe expression language over one client's file.

Text is parsed by our own LALR grammar (parser.py, lark), checked against a whitelist of names
into a typed tree (checker.py, typed.py), and evaluated either in memory over a plain snapshot
(evaluate.py) or compiled to Django ORM expressions for the whole book (orm.py). There is no
eval, no attribute access, and no name outside the schema (schema.py).

In brief (examples are real rules):

    facts.days_to_fixed_rate_end <= days                   # a derived value and a parameter
    client.birth_date < today - 30 years                   # dates move by days/weeks/months/years
    sum(policies[kind = "home"].insured_amount) < property.rebuild_value
    any(loan_parts, repayment_type = "interest_only" and end_date > facts.state_pension_date)
    count(complaints[status in ["open", "in_progress"]]) > 0
    "income" in facts.stale_field_groups
    coalesce(max(contact_moments.occurred_on), client.client_since) < today - 12 months
    facts.has_life_cover is not true                       # speak about unknowns on purpose

- Values: `client.<field>`, `facts.<field>` (ClientFacts), `property.<field>` (the own home),
  `today`, the rule's parameters by name, literals (14, 0.7, "home", true, false, date("2026-01-01")).
- Collections: policies, loan_parts, mortgages, properties, pensions, incomes, employments, assets,
  consumer_loans, complaints, contact_moments, agreements, missed_payments, family_members;
  `coll[condition]` keeps rows, `coll.field` takes a field; inside the brackets a bare name is the
  row's field. Aggregates: count(coll), sum/min/max(coll.field), any(coll), any(coll, cond),
  all(coll, cond). Aggregates do not nest.
- Operators: and, or, not; = (or ==), !=, <, <=, >, >= (order only for numbers and dates);
  in [..], not in [..]; is [not] null / true / false; + - * /; date ± N days|weeks|months|years.
- Functions: coalesce, abs, days_between(a, b), months_between(a, b), years_between(a, b).
- `#` starts a comment; expressions may span lines.

Null logic is three-valued and documented in evaluate.py; a rule fires only when its condition is
definitely true. The only exceptions on bad input are RuleSyntaxError and RuleTypeError (errors.py),
with line and column. Limits are in parser.py and checker.py, and the step budget of one evaluation
in evaluate.py.
"""

from .checker import check_parameters, compile_cell, compile_expression
from .errors import RuleError, RuleSyntaxError, RuleTypeError
from .evaluate import evaluate
from .orm import OrmCompiler
from .schema import Type

__all__ = [
    "OrmCompiler",
    "RuleError",
    "RuleSyntaxError",
    "RuleTypeError",
    "Type",
    "check_parameters",
    "compile_cell",
    "compile_expression",
    "evaluate",
]
