"""How long a client's evaluation holds while nothing of its file changes: its date horizon.

With the file unchanged, a rule's answer can still move because `today` moves. Most rules read it
in one shape: a date that does not depend on today compared with today moved by a fixed shift
(`fixed_rate_end_date <= today + 14 days`, `received_on < today - 30 days`,
`coalesce(max(contact_moments.occurred_on), client.client_since) < today - 12 months`). As the
days pass such a comparison flips at most once (twice for `=`), around the day today reaches the
date moved back by the shift: one date per client (per row, inside a collection), which the
database computes. Months clamp to a month's end (31 January + 1 month = 28 February), so the flip
itself lies in a window of a few days around that date (`WINDOW_DAYS`, `WINDOW_MONTHS`): the
horizon is the window's first day and, once inside it, the exact day the comparison next flips
(each day of the window tried). A client's evaluation holds until the earliest of its dates ahead;
a comparison whose window has passed never flips again. Each flip so costs one or two evaluations.

Anything else that reads `today` is taken to change every day: in a condition, for every client
(`daily`); in a reported value or the deadline (`days_between(last_contact, today)`), for the
clients the rule fires for (`daily_when_fired`), since a value is only reported when it fires.
And a dismissed alert suppresses a new one for `DISMISSAL_PERIOD`: its end is a horizon too.

The horizon only has to come early, never late: early costs an evaluation that changes nothing.
The tests compare nights that skip by it with nights that evaluate everyone, over random files
and dates (framework/tests/test_horizon.py).
"""

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import DateField, OuterRef, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Least

from .language import typed as t
from .language.orm import OrmCompiler, Template, node_key
from .language.schema import Type
from .rules import RuleProgram

# Where a comparison of `other` with `today + shift` can flip, in days from `other - shift` (the date
# the database computes), for a shift of days only and for one with months: every flip day of every
# operator, over every date of four years and shifts of -40..40 days, -30..30 months and both
# (framework/tests/test_horizon.py checks them against the database).
WINDOW_DAYS = (0, 1)
WINDOW_MONTHS = (-3, 4)

_MIRRORED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}


@dataclass(frozen=True)
class Atom:
    """`other <op> today + shift`: flips around the day today reaches `other` moved back by the shift."""

    other: t.Node
    days: int
    months: int
    collection: str | None  # the collection whose rows it is read on, or None for the client
    op: str = "<"  # with `other` on the left (`today - 30 days > x` is `x < today - 30 days`)


@dataclass(frozen=True)
class RuleHorizon:
    atoms: tuple[Atom, ...]
    daily: bool  # reads today otherwise in a condition: any client's answer may move any day
    daily_when_fired: bool  # reads today otherwise in a value or deadline: where it fires


def reads_today(node: t.Node) -> bool:
    return any(isinstance(item, t.Today) for item in t.walk(node))


def rule_horizon(program: RuleProgram) -> RuleHorizon:
    atoms: list[Atom] = []
    daily = any(_collect(branch.condition, None, atoms) for branch in program.branches)
    shown = [node for _label, node in program.reported]
    if program.deadline is not None:
        shown.append(program.deadline)
    daily_when_fired = any(_collect(node, None, atoms) for node in shown)
    return RuleHorizon(atoms=tuple(atoms), daily=daily, daily_when_fired=daily_when_fired)


def _collect(node: t.Node, collection: str | None, atoms: list[Atom]) -> bool:
    """Add the atoms of `node` to `atoms`; True when it reads today in any other way."""
    if not reads_today(node):
        return False
    if isinstance(node, t.Today):
        return True
    if isinstance(node, t.Compare):
        atom = _atom(node, collection)
        if atom is not None:
            atoms.append(atom)
            return False
    if isinstance(node, t.Aggregate):
        if collection is not None:  # rows within rows: not worth the SQL, taken as daily
            return True
        parts = [part for part in (node.where, node.predicate) if part is not None]
        found = [_collect(part, node.collection, atoms) for part in parts]  # every part's atoms, no short cut
        return any(found)
    children = []
    for value in vars(node).values():
        if isinstance(value, t.Node):
            children.append(value)
        elif isinstance(value, tuple):
            children += [item for item in value if isinstance(item, t.Node)]
    found = [_collect(child, collection, atoms) for child in children]  # every child's atoms, no short cut
    return any(found)


def _today_shift(node: t.Node) -> tuple[int, int] | None:
    if isinstance(node, t.Today):
        return 0, 0
    if isinstance(node, t.Shift) and isinstance(node.operand, t.Today):
        return node.days, node.months
    return None


def _atom(node: t.Compare, collection: str | None) -> Atom | None:
    for today_side, other, op in ((node.left, node.right, _MIRRORED[node.op]), (node.right, node.left, node.op)):
        shift = _today_shift(today_side)
        if shift is not None and other.type == Type.DATE and not reads_today(other):
            return Atom(other=other, days=shift[0], months=shift[1], collection=collection, op=op)
    return None


# --- As SQL ---------------------------------------------------------------------------------------


def _atom_expression(compiler: OrmCompiler, atom: Atom, today: date, row: str):
    """The client's (or row's) horizon of one atom: a date ahead, or null when it never flips again.

    PostgreSQL's date arithmetic (the horizon is recorded there only). Outside the flip's window,
    its first day (or null, once it has passed); inside it, the first day after today on which the
    comparison's answer differs from today's, trying each day of the window; null when none does
    (an `=` no day of which maps onto the date, as months skip the ends of longer months)."""
    low, high = WINDOW_MONTHS if atom.months else WINDOW_DAYS
    flip = compiler._shift(t.Shift(type=Type.DATE, operand=atom.other, days=-atom.days, months=-atom.months), row)
    other = compiler._value(atom.other, row)

    def shifted(day: str) -> str:  # day + the atom's shift, as `_shift` computes it
        if atom.months:
            day = f"CAST({day} + make_interval(months => {int(atom.months)}) AS DATE)"
        return f"({day} + {int(atom.days)})" if atom.days else day

    op = atom.op if atom.op != "!=" else "<>"
    answer_today = f"(z.o {op} {shifted('CAST({today} AS DATE)')})"
    tries = " ".join(
        f"WHEN z.f + {offset} > CAST({{today}} AS DATE)"
        f" AND (z.o {op} {shifted(f'(z.f + {offset})')}) IS DISTINCT FROM {answer_today} THEN z.f + {offset}"
        for offset in range(low, high + 1)
    )
    # The dates computed once (the other may be an aggregate over the client's rows), then compared.
    return Template(
        {"flip": flip, "other": other, "today": Value(today, output_field=DateField())},
        templates={
            "default": f"(SELECT CASE WHEN z.f + {low} > CAST({{today}} AS DATE) + 1 THEN z.f + {low}"  # noqa: S608 - integers
            f" WHEN z.f + {high} <= CAST({{today}} AS DATE) THEN NULL {tries} END"
            " FROM (SELECT CAST({flip} AS DATE) AS f, CAST({other} AS DATE) AS o OFFSET 0) z)"
        },
        output_field=DateField(),
    )


def horizon_annotations(programs, today: date, *, findings_table: str, client_column: str) -> tuple[dict, dict]:
    """(aliases, {name: expression}): every client's horizon terms, for a Client queryset; their
    LEAST is the date its evaluation holds until (null: by date alone, for ever)."""
    from alerts.services import DISMISSAL_PERIOD

    from .language.schema import schema

    compiler = OrmCompiler(today=today)
    tomorrow = today + timedelta(days=1)
    fired_daily = []
    # The same comparison in several rules is one term; a collection's atoms are one pass over its rows.
    atoms: dict[str | None, dict] = {}
    for rule, program in programs:
        horizon = rule_horizon(program)
        if horizon.daily:
            return {}, {"fw_horizon": Value(tomorrow, output_field=DateField())}
        if horizon.daily_when_fired:
            fired_daily.append(int(rule.pk))
        for atom in horizon.atoms:
            atoms.setdefault(atom.collection, {})[(node_key(atom.other), atom.days, atom.months)] = atom
    terms = [_atom_expression(compiler, atom, today, "") for atom in atoms.pop(None, {}).values()]
    for collection, found in sorted(atoms.items()):
        spec = schema().collections[collection]
        outer_key = "household_id" if spec.client_path == "household" else "pk"
        rows = spec.model._default_manager.filter(**{spec.client_path: OuterRef(outer_key)}, **spec.current)
        per_row = [_atom_expression(compiler, atom, today, collection) for atom in found.values()]
        least = Template(
            {"x": per_row[0] if len(per_row) == 1 else Least(*per_row, output_field=DateField())},
            templates={"default": "MIN({x})"},
            output_field=DateField(),
        )
        terms.append(Subquery(rows.order_by().annotate(_h=least).values("_h"), output_field=DateField()))
    if fired_daily:
        ids = ", ".join(str(pk) for pk in sorted(set(fired_daily)))
        terms.append(
            RawSQL(  # noqa: S611 - names of this module, rule ids
                f"CASE WHEN EXISTS (SELECT 1 FROM {findings_table} s WHERE s.client_id = {client_column}"  # noqa: S608
                f" AND s.rule_id IN ({ids})) THEN CAST(%s AS date) END",
                [tomorrow],
                output_field=DateField(),
            )
        )
    terms.append(_dismissals_ending(client_column, today, DISMISSAL_PERIOD))
    expression = terms[0] if len(terms) == 1 else Least(*terms, output_field=DateField())
    return compiler.aliases, {"fw_horizon": expression}


def _dismissals_ending(client_column: str, today: date, period: timedelta):
    """The day the earliest dismissal that still suppresses a new alert stops doing so."""
    from alerts.models import Alert

    table = Alert._meta.db_table
    return RawSQL(  # noqa: S611 - a model's table
        # A day early: the day is UTC's here, the suppression ends at an instant of the firm's day.
        f"(SELECT CAST(MIN(d.closed_at) + make_interval(days => %s) AS date) - 1 FROM {table} d"  # noqa: S608
        f" WHERE d.client_id = {client_column} AND d.status = 'dismissed'"
        f" AND d.closed_at + make_interval(days => %s) >= CAST(%s AS date))",
        [period.days, period.days, today],
        output_field=DateField(),
    )
