"""The framework's findings for a chunk of clients, written by SQL into a staging table (PostgreSQL).

`framework_evaluate` hands out one Python object per firing, and at a million clients (about two
million firings) the Python work per firing (normalising values, rendering the message, hashing a
fingerprint, building a row) cost more than the rule queries and the writes together. Here every
rule's query (the same ORM compilation, `selectors._matches_query`) is wrapped in one
`INSERT INTO fw_finding SELECT ...` that computes in the database what the Python path computes per
firing: the reported values as JSON (numbers tidied to at most four decimals, as `tidy_number`), the
fingerprint (md5 of the material values' JSON text, as `alerts.services.Finding.fingerprint`), and
the message in the active language (numbers and dates formatted as `rules.format_value`). Nothing
travels to Python per client; `alerts.services.alerts_reconcile_staged` then reconciles the alerts
from the table. A chunk by range stages no messages: the reconcile makes them from the staged values
(`findings_message_sql`) for the alerts it opens or rewrites only, which in a night with nothing
changed is none.

A rule is compiled once per definition, day and language (the compiled SQL is kept with markers in
place of the chunk's bounds), so evaluating one changed client costs no ORM compilation.
`staging_supported` says whether this database and language can do it all in SQL; where not (SQLite,
a date format with characters it cannot translate), the Python path is used instead.
"""

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from django.conf import settings
from django.db import connection
from django.utils import formats
from django.utils.dateformat import format as date_format_chars
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from .language.orm import OrmCompiler, Template
from .language.schema import Type
from .models import FrameworkVersion, Rule
from .rules import _TEMPLATE_TOKEN, RuleProgram

STAGING_TABLE = "fw_finding"

# Markers compiled into a rule's query in place of the chunk's bounds (or its list of ids), then
# swapped for the real ones: no client id is negative.
_LOW, _HIGH = -(10**15) - 1, -(10**15) - 2
_IDS = [-(10**15) - 3]

STAGING_COLUMNS = """
    position integer NOT NULL,
    rule_id bigint NOT NULL,
    rule_version_id bigint NOT NULL,
    alert_type text NOT NULL,
    client_id bigint NOT NULL,
    segment text NOT NULL,
    urgency text NOT NULL,
    branch text NOT NULL,
    "values" jsonb NOT NULL,
    fingerprint text NOT NULL,
    message text NOT NULL,
    due_date date,
    age integer,
    household_type text
"""


class Unsupported(Exception):
    """Something of the rules or formats the SQL path cannot say exactly as Python does."""


def staging_supported() -> bool:
    if connection.vendor != "postgresql" or connection.pg_version < 130000:  # trim_scale() is 13+
        return False
    try:
        _language_formats(get_language())
    except Unsupported:
        return False
    return True


# --- Formats of the active language, as SQL ------------------------------------------------------

_DATE_PATTERNS = {"d": "DD", "j": "FMDD", "m": "MM", "n": "FMMM", "Y": "YYYY", "y": "YY"}
_MONTH_NAMES = set("bEFMN")


@dataclass(frozen=True)
class LanguageFormats:
    decimal_separator: str
    grouping: int  # 0: none
    thousand_separator: str
    date_parts: tuple  # ("to_char", pattern) | ("month", names) | ("text", literal)
    yes: str
    no: str


@lru_cache(maxsize=8)
def _language_formats(language: str | None) -> LanguageFormats:
    decimal_separator = formats.get_format("DECIMAL_SEPARATOR", language, use_l10n=True)
    grouping = formats.get_format("NUMBER_GROUPING", language, use_l10n=True)
    thousand_separator = formats.get_format("THOUSAND_SEPARATOR", language, use_l10n=True)
    if not isinstance(grouping, int) or grouping < 0:
        raise Unsupported("a non-uniform number grouping")
    if not settings.USE_THOUSAND_SEPARATOR:
        grouping = 0
    parts = []
    for char in formats.get_format("SHORT_DATE_FORMAT", language, use_l10n=True):
        if char in _DATE_PATTERNS:
            parts.append(("to_char", _DATE_PATTERNS[char]))
        elif char in _MONTH_NAMES:
            parts.append(("month", tuple(str(date_format_chars(date(2000, month, 1), char)) for month in range(1, 13))))
        elif char.isalpha() or char == "\\":
            raise Unsupported(f"the date format character {char!r}")
        else:
            parts.append(("text", char))
    return LanguageFormats(
        decimal_separator=decimal_separator,
        grouping=grouping,
        thousand_separator=thousand_separator,
        date_parts=tuple(parts),
        yes=str(_("yes")),
        no=str(_("no")),
    )


def _tidy_sql(expression: str) -> str:
    """A number rounded to four decimals without trailing zeros (`values.tidy_number`)."""
    return f"trim_scale(round(CAST({expression} AS numeric), 4))"


# The whole part of an amount below 10^15, grouped by threes with ',' (to_char's literal comma).
_GROUPED_BY_THREES = "FM999,999,999,999,990"


def _number_text_sql(expression: str, fmt: LanguageFormats, params: list) -> str:
    """A tidy number as `rules.format_value` writes it: sign, grouped whole part, decimal part.

    Grouped by threes, the whole part of an amount below 10^15 is written by `to_char`: 1.25 µs an
    amount against 2.8 µs with `regexp_replace`, which stays for the rest (docs/benchmarks.md).
    """
    tidy = _tidy_sql(expression)
    text = f"CAST(abs({tidy}) AS text)"
    whole = f"split_part({text}, '.', 1)"
    if fmt.grouping:
        whole = rf"regexp_replace({whole}, '(\d)(?=(\d{{{fmt.grouping}}})+$)', '\1' || %s, 'g')"
        if fmt.grouping == 3:
            whole = (
                f"CASE WHEN abs({tidy}) < 1e15 THEN replace(to_char(trunc(abs({tidy})), '{_GROUPED_BY_THREES}'),"
                f" ',', %s) ELSE {whole} END"
            )
            params.append(fmt.thousand_separator)  # to_char's, which comes first in the text
        params.append(fmt.thousand_separator)
    params.append(fmt.decimal_separator)
    return (
        f"(CASE WHEN {tidy} < 0 THEN '-' ELSE '' END || {whole}"
        f" || CASE WHEN strpos({text}, '.') > 0 THEN %s || split_part({text}, '.', 2) ELSE '' END)"
    )


def _date_text_sql(expression: str, fmt: LanguageFormats, params: list) -> str:
    pieces = []
    for kind, part in fmt.date_parts:
        if kind == "to_char":
            pieces.append(f"to_char({expression}, '{part}')")  # a constant of this module
        elif kind == "month":
            pieces.append(f"(CAST(%s AS text[]))[CAST(extract(month FROM {expression}) AS integer)]")
            params.append(list(part))
        else:
            pieces.append("CAST(%s AS text)")
            params.append(part)
    return "(" + " || ".join(pieces) + ")"


def _value_text_sql(expression: str, value_type: Type, fmt: LanguageFormats, params: list) -> str:
    """A reported value as a message shows it; '–' when unknown (`rules.format_value`)."""
    if value_type == Type.NUMBER:
        text = _number_text_sql(expression, fmt, params)
    elif value_type == Type.DATE:
        text = _date_text_sql(expression, fmt, params)
    elif value_type == Type.BOOL:
        text = f"(CASE WHEN {expression} THEN CAST(%s AS text) ELSE CAST(%s AS text) END)"
        params += [fmt.yes, fmt.no]
    elif value_type == Type.TEXT:
        text = f"CAST({expression} AS text)"
    else:
        raise Unsupported(f"a reported value of type {value_type}")
    params.append("–")
    return f"COALESCE({text}, %s)"


def _value_json_sql(expression: str, value_type: Type) -> str:
    """A reported value as `alerts.evaluation.finding_from_result` stores it in JSON."""
    if value_type == Type.NUMBER:
        return f"to_jsonb(CAST({_tidy_sql(expression)} AS text))"
    if value_type in (Type.DATE, Type.BOOL):
        return f"to_jsonb({expression})"
    if value_type == Type.TEXT:
        return f"to_jsonb(CAST({expression} AS text))"
    raise Unsupported(f"a reported value of type {value_type}")


def _message_sql(program: RuleProgram, columns: dict[str, tuple[str, Type]], fmt, params: list) -> str:
    pieces, position = [], 0
    template = program.message_template
    for match in _TEMPLATE_TOKEN.finditer(template):
        literal = template[position : match.start()]
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal += token[0]
        if literal:
            pieces.append("CAST(%s AS text)")
            params.append(literal)
        name = match.group(1)
        if name is not None:
            expression, value_type = columns[name]
            pieces.append(_value_text_sql(expression, value_type, fmt, params))
    if template[position:]:
        pieces.append("CAST(%s AS text)")
        params.append(template[position:])
    return "(" + " || ".join(pieces) + ")" if pieces else "''"


# --- A rule's INSERT ... SELECT -------------------------------------------------------------------


def _swap(params: list, scope) -> list:
    swapped = []
    for param in params:
        if isinstance(param, int) and param in (_LOW, _HIGH):
            swapped.append(scope[0] if param == _LOW else scope[1])
        elif param == _IDS:
            swapped.append(list(scope))
        else:
            swapped.append(param)
    return swapped


@dataclass(frozen=True)
class StagedRule:
    sql: str
    params: tuple


def _rule_insert(
    rule: Rule, program: RuleProgram, position: int, today: date, by_range: bool, plan: "FeaturePlan | None" = None
) -> StagedRule:
    from django.db.models import F

    from clients.bulk import EqualsAny
    from clients.models import Client

    from .language.orm import aggregate_columns
    from .selectors import _matches_query

    clients = Client.objects.filter(deleted_at__isnull=True)
    scope = {"pk__gte": _LOW, "pk__lt": _HIGH} if by_range else {}
    clients = clients.filter(**scope) if by_range else clients.filter(EqualsAny(F("pk"), _IDS))
    if plan is None:
        query = _matches_query(program, clients, today).order_by()
    else:
        # One feature row per chunk client: an inner join keeps every client.
        table, client_table = plan.table, connection.ops.quote_name(Client._meta.db_table)
        clients = clients.extra(tables=[table], where=[f"{table}.client_id = {client_table}.id"])  # noqa: S610 - names of this module
        with aggregate_columns(_feature_expressions(plan)):
            query = _matches_query(program, clients, today).order_by()
    inner_sql, inner_params = query.query.sql_with_params()
    fmt = _language_formats(get_language())

    params: list = []
    branches = program.branches
    if len(branches) == 1:
        index = "0"
    elif program.hit_policy == "first":
        index = "m.fw_branch"
    else:
        index = "CASE " + " ".join(f"WHEN m.fw_hit_{i} THEN {i}" for i in range(len(branches))) + " END"

    def by_branch(values: list[str]) -> str:
        if len(set(values)) == 1:
            params.append(values[0])
            return "CAST(%s AS text)"
        params.extend(values)
        return f"(CAST(ARRAY[{', '.join(['%s'] * len(values))}] AS text[]))[{index} + 1]"

    select = [str(position), str(int(rule.pk)), str(int(rule.version_id)), "CAST(%s AS text)", "m.fw_pk"]
    params.append(program.alert_type)
    select.append(by_branch([branch.granule for branch in branches]))
    select.append(by_branch([branch.urgency for branch in branches]))
    select.append(by_branch([branch.label for branch in branches]))

    columns = {label: (f"m.fw_value_{i}", node.type) for i, (label, node) in enumerate(program.reported)}
    values, material = [], []
    for label, (expression, value_type) in columns.items():
        params.append(label)
        values.append(f"CAST(%s AS text), {_value_json_sql(expression, value_type)}")
    for label, (expression, value_type) in columns.items():
        if not label.startswith("days_"):
            params.append(label)
            material.append(f"CAST(%s AS text), {_value_json_sql(expression, value_type)}")
    select.append(f"jsonb_build_object({', '.join(values)})")
    select.append(f"md5(CAST(jsonb_build_object({', '.join(material)}) AS text))")
    # A chunk's messages are written from the staged values, only for the alerts that are new or
    # rewritten (`findings_message_sql`): in a night with nothing changed, a fifth of the rules' time
    # went to formatting messages no one wrote.
    select.append(_message_sql(program, columns, fmt, params) if not by_range else "''")
    select.append("m.fw_deadline" if program.deadline is not None else "CAST(NULL AS date)")
    select += ["m.fw_age", "CAST(m.fw_household_type AS text)"]

    # OFFSET 0 keeps PostgreSQL from pulling the rule's query up into this one, which would copy each
    # value's correlated subquery into every expression that formats it (six runs instead of one).
    sql = f"SELECT {', '.join(select)} FROM ({inner_sql} OFFSET 0) AS m"  # noqa: S608 - SQL of this module and the ORM; values are parameters
    return StagedRule(sql=sql, params=(tuple(params), tuple(inner_params)))


_COMPILED: dict = {}  # (rule pk, definition, day, language, by range, position, features) -> StagedRule


# --- Messages from the staged values --------------------------------------------------------------

# A staged value read back from the findings' JSON as the type the rule reported it in: the same
# value the rule's own expression had (numbers were tidied before they were stored, and the
# message tidies them again, which changes nothing).
_FROM_JSON = {Type.NUMBER: "numeric", Type.DATE: "date", Type.BOOL: "boolean"}


def findings_message_sql(programs: list[tuple[Rule, RuleProgram]]) -> tuple[str, tuple]:
    """The message of a staged finding `s`, in SQL over its rule id and its values (`s."values"`),
    in the active language: what the rules' own statement writes for a few clients, for a chunk's
    findings written only where an alert is opened or rewritten. Kept per rules and language."""
    key = (tuple(_rule_key(rule) for rule, _program in programs), get_language())
    cached = _MESSAGES.get(key)
    if cached is None:
        if len(_MESSAGES) > 64:
            _MESSAGES.clear()
        cached = _MESSAGES[key] = _findings_message_sql(programs)
    return cached


_MESSAGES: dict = {}


def _findings_message_sql(programs) -> tuple[str, tuple]:
    fmt = _language_formats(get_language())
    params: list = []
    branches = []
    for rule, program in programs:
        columns = {}
        for label, node in program.reported:
            # A label the template names is an identifier ([a-z_][a-z0-9_]*, `_TEMPLATE_TOKEN`), so it
            # is safe as a literal; the others are never read.
            if not label.isidentifier():
                continue
            text = f"(s.\"values\" ->> '{label}')"
            cast = _FROM_JSON.get(node.type)
            columns[label] = (f"CAST({text} AS {cast})" if cast else text, node.type)
        branches.append(f"WHEN {int(rule.pk)} THEN {_message_sql(program, columns, fmt, params)}")
    if not branches:
        return "''", ()
    return f"(CASE s.rule_id {' '.join(branches)} ELSE '' END)", tuple(params)


# --- Collection aggregates, set-based per chunk ---------------------------------------------------
#
# Compiled alone, every `any`/`all`/`count`/`sum`/`min`/`max` over a client's rows is a correlated
# subquery: an index probe and an aggregate per client, about 35 of them per chunk. For a chunk (by
# range) they are computed first, per collection in one GROUP BY over the chunk's rows (each
# aggregate with its own FILTER), into a temporary table with one row per chunk client; the rules
# read them from there (`OrmCompiler` with `aggregate_columns`). An aggregate whose rows depend on
# the client's home, on another aggregate, or (for a household's rows) on the client stays a
# correlated subquery. The few-clients path (a prepared statement) keeps the correlated subqueries:
# there a feature table would cost more statements than the probes it saves.

FEATURES_ENABLED = True
FEATURES_TABLE = "fw_features"

# An aggregate over no rows at all (as its correlated subquery answers for a client without rows).
_EMPTY = {"count": "0", "sum": "0", "min": "NULL", "max": "NULL", "any": "0", "all": "2"}
_SQL_TYPES = {Type.NUMBER: "numeric", Type.DATE: "date", Type.TEXT: "text", Type.BOOL: "boolean"}


def _filtered(template: str) -> str:
    """An aggregate's template with each aggregate call restricted by FILTER (WHERE {w})."""
    import re

    return re.sub(r"\b(COUNT|SUM|MIN|MAX)\((\*|\{x\})\)", r"\1(\2) FILTER (WHERE {w})", template)


def _top_aggregates(node, found: dict) -> None:
    from .language import typed as t
    from .language.orm import node_key

    if isinstance(node, t.Aggregate):
        found.setdefault(node_key(node), node)
        return  # the aggregates inside its rows go with it
    for value in vars(node).values():
        if isinstance(value, t.Node):
            _top_aggregates(value, found)
        elif isinstance(value, tuple):
            for item in value:
                if isinstance(item, t.Node):
                    _top_aggregates(item, found)


def _supported(node, collections) -> bool:
    """Whether an aggregate can be a feature: its rows and values depend on the row, constants, and
    (for a client's own rows, not a household's) the client's and its facts' fields."""
    from .language import typed as t

    household = collections[node.collection].client_path == "household"
    for part in (node.where, node.predicate):
        if part is None:
            continue
        for item in t.walk(part):
            if isinstance(item, t.Aggregate):
                return False
            if isinstance(item, t.FieldRef) and item.scope != "row" and (household or item.scope == "property"):
                return False
    return True


class _GroupCompiler(OrmCompiler):
    """Compiles an aggregate's rows for a GROUP BY over the collection: a client's or its facts'
    field is reached through the row's own client, not an outer reference."""

    def __init__(self, *, today: date, client_path: str):
        super().__init__(today=today)
        self.client_path = client_path

    def _field(self, node, row: str):
        from django.db.models import F

        if node.scope == "client":
            return F(f"{self.client_path}__{node.name}")
        if node.scope == "facts":
            return F(f"{self.client_path}__facts__{node.name}")
        return super()._field(node, row)


@dataclass(frozen=True)
class FeaturePlan:
    table: str
    columns: dict  # node_key -> (column name, SQL type)
    sql: str  # INSERT of a chunk's features, markers in place of its bounds
    params: tuple
    # The same for some clients of the chunk only (a night's due clients), a marker for their ids too.
    narrowed_sql: str = ""
    narrowed_params: tuple = ()


_FEATURE_PLANS: dict = {}


def _feature_plan(programs: list[tuple[Rule, RuleProgram]], today: date) -> FeaturePlan | None:
    import hashlib

    key = (tuple(_rule_key(rule) for rule, _program in programs), today, get_language())
    if key in _FEATURE_PLANS:
        return _FEATURE_PLANS[key]
    if len(_FEATURE_PLANS) > 64:
        _FEATURE_PLANS.clear()
    found: dict = {}
    for _rule, program in programs:
        for node in _program_nodes(program):
            _top_aggregates(node, found)
    from .language.schema import schema

    collections = schema().collections
    supported = {k: node for k, node in found.items() if _supported(node, collections)}
    fields = _outer_fields(programs) if supported else set()
    plan = _FEATURE_PLANS[key] = _feature_insert(supported, fields, today, hashlib) if supported else None
    return plan


# Fields of a client's facts and of its own home, read by the rules as columns of the feature table:
# each rule joined the facts (and probed the home) per client on its own, fourteen times over the
# same 10,000 rows: two fifths of the rules' statement at a million clients (0.53 s of a steady chunk).
FIELD_SCOPES = ("facts", "property")


def _program_nodes(program: RuleProgram) -> list:
    """The top nodes of a rule: its branches' conditions, its reported values, its deadline."""
    nodes = [branch.condition for branch in program.branches] + [node for _label, node in program.reported]
    if program.deadline is not None:
        nodes.append(program.deadline)
    return nodes


def _scope_model(scope: str):
    """The model whose row a facts or home field is read from."""
    from enrichment.models import ClientFacts

    from .language.schema import schema

    return ClientFacts if scope == "facts" else schema().collections["properties"].model


def _outer_fields(programs) -> set[tuple[str, str]]:
    """(scope, name) of every facts and home field the rules read, and the two every finding carries."""
    from .language import typed as t

    fields = {("facts", "age"), ("facts", "household_type")}  # granulation (`selectors._matches_query`)
    for _rule, program in programs:
        for node in _program_nodes(program):
            for item in t.walk(node):
                if isinstance(item, t.FieldRef) and item.scope in FIELD_SCOPES:
                    fields.add((item.scope, item.name))
    return fields


def _feature_insert(aggregates: dict, fields: set, today: date, hashlib) -> FeaturePlan:
    from django.db.models import Case, Value, When

    from clients.models import Client

    from .language.orm import _AGGREGATES, _INTEGER, output_field
    from .language.schema import schema

    by_collection: dict = {}
    for k, node in aggregates.items():
        by_collection.setdefault(node.collection, []).append((k, node))

    from django.db.models import F

    from clients.bulk import EqualsAny

    client_table = connection.ops.quote_name(Client._meta.db_table)
    columns, selects, joins, params = {}, [], [], []
    narrowed_joins, narrowed_params = [], []
    for index, (collection, items) in enumerate(sorted(by_collection.items())):
        spec = schema().collections[collection]
        compiler = _GroupCompiler(today=today, client_path=spec.client_path)
        household = spec.client_path == "household"
        rows = spec.model._default_manager.filter(**spec.current)
        chunk = Client.objects.filter(pk__gte=_LOW, pk__lt=_HIGH)
        if household:
            narrowed_rows = rows.filter(household__in=chunk.filter(EqualsAny(F("pk"), _IDS)).values("household_id"))
            rows = rows.filter(household__in=chunk.values("household_id"))
        else:
            # The chunk's range on the rows' own client key: given only through the clients, the
            # planner merged each collection's whole client index from the first id up to the chunk
            # (a chunk late in a book of 100,000 read 383,769 contact moments for its 38,011), so
            # every chunk cost more than the one before.
            rows = rows.filter(**{f"{spec.client_path}_id__gte": _LOW, f"{spec.client_path}_id__lt": _HIGH})
            narrowed_rows = rows.filter(EqualsAny(F(f"{spec.client_path}_id"), _IDS))
        annotations = {}
        for k, node in items:
            name = f"a_{len(columns)}"
            parts = {}
            if node.name == "count" or (node.name == "any" and node.predicate is None):
                template, value_type, sql_type = _AGGREGATES["count"], None, "bigint"
            elif node.name in ("any", "all"):
                predicate = compiler._bool(node.predicate, collection)
                parts["x"] = Case(When(predicate, then=Value(2)), When(~predicate, then=Value(0)), default=Value(1))
                template, value_type, sql_type = _AGGREGATES[node.name], None, "integer"
            else:
                from .language import typed as t

                ref = t.FieldRef(type=node.type, scope="row", name=node.field, collection=collection)
                parts["x"] = compiler._field(ref, collection)
                template, value_type, sql_type = _AGGREGATES[node.name], node.type, _SQL_TYPES[node.type]
            if node.where is not None:
                parts["w"] = compiler._bool(node.where, collection)
                template = _filtered(template)
            field = output_field(value_type) if value_type is not None else _INTEGER
            annotations[name] = _GroupAggregate(parts, templates={"default": template}, output_field=field)
            empty = "0" if node.name == "any" and node.predicate is None else _EMPTY[node.name]
            columns[k] = (name, sql_type)
            selects.append(f"CASE WHEN g{index}.fw_key IS NULL THEN {empty} ELSE g{index}.{name} END")
        if compiler.aliases:
            raise Unsupported("an outer value in a feature's rows")  # _supported keeps them out
        on = f"c.{'household_id' if household else 'id'}"
        for target, target_params, source in ((joins, params, rows), (narrowed_joins, narrowed_params, narrowed_rows)):
            grouped = source.order_by().values(fw_key=_key_expression(spec)).annotate(**annotations)
            sql, group_params = grouped.query.sql_with_params()
            target_params += list(group_params)
            target.append(f"LEFT JOIN ({sql}) AS g{index} ON g{index}.fw_key = {on}")
    if fields:
        from .language.orm import field_column_key

        facts_table = connection.ops.quote_name(_scope_model("facts")._meta.db_table)
        home_table = connection.ops.quote_name(_scope_model("property")._meta.db_table)
        home = []
        for scope, name in sorted(fields):
            model_field = _scope_model(scope)._meta.get_field(name)
            column = f"{'f' if scope == 'facts' else 'h'}_{len(columns)}"
            columns[field_column_key(scope, name)] = (column, model_field.db_type(connection))
            quoted = connection.ops.quote_name(model_field.column)
            if scope == "facts":
                selects.append(f"fw_facts.{quoted}")
            else:
                home.append(f"{quoted} AS {column}")
                selects.append(f"fw_home.{column}")
        joins.append(f"LEFT JOIN {facts_table} AS fw_facts ON fw_facts.client_id = c.id")
        if home:
            # The client's own home as `OrmCompiler._own_home` finds it: the first current primary residence.
            joins.append(
                f"LEFT JOIN LATERAL (SELECT {', '.join(home)} FROM {home_table} AS p"  # noqa: S608 - names of models
                " WHERE p.client_id = c.id AND p.deleted_at IS NULL AND p.is_primary_residence"
                " ORDER BY p.id LIMIT 1) AS fw_home ON true"
            )
        narrowed_joins += joins[len(narrowed_joins) :]
    signature = repr(sorted((name, sql_type) for name, sql_type in columns.values()))
    table = f"{FEATURES_TABLE}_{hashlib.md5(signature.encode(), usedforsecurity=False).hexdigest()[:12]}"
    names = [name for name, _sql_type in columns.values()]
    head = f"INSERT INTO {table} (client_id, {', '.join(names)}) SELECT c.id, {', '.join(selects)}"
    where = " WHERE c.id >= %s AND c.id < %s AND c.deleted_at IS NULL"
    sql = f"{head} FROM {client_table} AS c {' '.join(joins)}{where}"
    narrowed_sql = f"{head} FROM {client_table} AS c {' '.join(narrowed_joins)}{where} AND c.id = ANY(%s)"
    return FeaturePlan(
        table=table,
        columns=columns,
        sql=sql,
        params=(*params, _LOW, _HIGH),
        narrowed_sql=narrowed_sql,
        narrowed_params=(*narrowed_params, _LOW, _HIGH, _IDS),
    )


def _key_expression(spec):
    from django.db.models import F

    return F(spec.client_path if spec.client_path != "client" else "client_id")


class _GroupAggregate(Template):
    """An aggregate of a GROUP BY (the ORM groups by the `values` key, not by this)."""

    contains_aggregate = True

    def get_group_by_cols(self):
        return []


# Below this many clients in the planner's statistics (or with none), a chunk's features are joined
# by hash (see `features_stage`).
FEATURES_HASH_BELOW_CLIENTS = 10_000


def range_narrowable(programs, today: date) -> bool:
    """Whether `findings_stage` can evaluate some clients of a range only (`only_client_ids`)."""
    return FEATURES_ENABLED and _feature_plan(programs, today) is not None


def features_stage(cursor, plan: FeaturePlan, scope, *, only_client_ids=None) -> None:
    """The chunk's aggregates, one row per current client of the chunk (or of `only_client_ids`)."""
    from clients.models import Client

    columns = ", ".join(f"{name} {sql_type}" for name, sql_type in plan.columns.values())
    temporary_table_empty(cursor, plan.table, f"client_id bigint PRIMARY KEY, {columns}", few=False)
    # Where the planner's picture of the book is of an empty or small one (a firm's first night, a
    # test database: no statistics yet), each collection's GROUP BY is joined to the chunk's clients
    # by hash, once: told to avoid sequential scans, the planner otherwise ran a collection's GROUP BY
    # again for every client in a nested loop (32 s for 1,500 clients). Not on a book it knows: there
    # the same setting made every chunk read each big table's index whole (the loan parts, the facts),
    # from the first client on, where nested loops read the chunk's rows alone (at 100,000 clients
    # the last chunk's features took 237 ms against 127, and the difference grows with the book).
    cursor.execute(
        "SELECT set_config('steward.enable_nestloop', current_setting('enable_nestloop'), true),"
        " set_config('enable_nestloop', CASE WHEN (SELECT reltuples FROM pg_class WHERE oid = %s::regclass) < %s"
        " THEN 'off' ELSE current_setting('enable_nestloop') END, true)",
        [Client._meta.db_table, FEATURES_HASH_BELOW_CLIENTS],
    )
    if only_client_ids is None:
        cursor.execute(plan.sql, _swap(list(plan.params), scope))
    else:  # the rules join the feature table: its rows are who is evaluated
        due = sorted(only_client_ids)
        params = _swap([due if param == _IDS else param for param in plan.narrowed_params], scope)
        cursor.execute(plan.narrowed_sql, params)
    cursor.execute("SELECT set_config('enable_nestloop', current_setting('steward.enable_nestloop'), true)")
    # Statistics of the aggregates (the rules filter on them), not of the facts and home copied
    # beside them: those would double the ANALYZE for estimates no plan of a chunk turns on.
    aggregates = [name for key, (name, _sql_type) in plan.columns.items() if key[0] != "field"]
    cursor.execute(f"ANALYZE {plan.table} (client_id, {', '.join(aggregates)})")


def _feature_expressions(plan: FeaturePlan) -> dict:
    from django.db.models.expressions import RawSQL

    from .language.orm import _INTEGER, output_field

    expressions = {}
    for k, (name, sql_type) in plan.columns.items():
        if k[0] == "field":  # a facts or home field: typed as the model's field
            _field, scope, field_name = k
            field = _scope_model(scope)._meta.get_field(field_name)
            expressions[k] = RawSQL(f"{plan.table}.{name}", [], output_field=field)  # noqa: S611 - names of this module
            continue
        value_type = {v: key for key, v in _SQL_TYPES.items()}.get(sql_type)
        field = output_field(value_type) if value_type is not None else _INTEGER
        expressions[k] = RawSQL(f"{plan.table}.{name}", [], output_field=field)  # noqa: S611 - names of this module
    return expressions


def _rule_key(rule: Rule) -> tuple:
    """Everything of a rule that its program and SQL are made of: a rule edited in place is another key.

    A rule of `version_programs`' list carries its key (`_RULE_KEY`): those rules are read once per
    fingerprint and never edited, and one changed client's run needed their keys twice (2 ms)."""
    from .selectors import _definition, json_dumps

    if (known := rule.__dict__.get(_RULE_KEY)) is not None:
        return known
    return (
        rule.pk,
        rule.version_id,
        rule.key,
        rule.alert_type,
        rule.granule,
        rule.urgency,
        rule.message_template,
        json_dumps([str(part) for part in _definition(rule)]),
    )


_RULE_KEY = "_fw_rule_key"  # the attribute of a compiled rule that holds its `_rule_key`


def _rule_insert_cached(
    rule: Rule, program: RuleProgram, position: int, today: date, by_range: bool, plan: "FeaturePlan | None" = None
) -> StagedRule:
    features = (plan.table, tuple(sorted(plan.columns.items(), key=repr))) if plan is not None else None
    key = (_rule_key(rule), today, get_language(), by_range, position, features)
    staged = _COMPILED.get(key)
    if staged is None:
        if len(_COMPILED) > 512:  # rules of retired versions, days gone by
            _COMPILED.clear()
        staged = _COMPILED[key] = _rule_insert(rule, program, position, today, by_range, plan)
    return staged


def findings_stage(
    *,
    programs: list[tuple[Rule, RuleProgram]],
    today: date,
    client_id_range: tuple[int, int] | None = None,
    client_ids=None,
    features: bool | None = None,
    only_client_ids=None,
) -> None:
    """Fill the staging table with the firings of these rules over the chunk (one INSERT in all).

    `features` (default `FEATURES_ENABLED`): for a chunk by range, compute the collection aggregates
    set-based first into a feature table (see `_feature_plan`). `only_client_ids` (with a range and
    its feature table, `range_narrowable`): only these clients of the range are evaluated, since
    every rule reads the clients through the feature table, which keeps only their rows.
    """
    by_range = client_id_range is not None
    scope = client_id_range if by_range else sorted(client_ids)
    features = FEATURES_ENABLED if features is None else features
    plan = _feature_plan(programs, today) if by_range and features else None
    if only_client_ids is not None and plan is None:
        raise ValueError("only a range with a feature table can be narrowed to some of its clients")
    parts, params = [], []
    for position, (rule, program) in enumerate(programs):
        staged = _rule_insert_cached(rule, program, position, today, by_range, plan)
        outer, inner = staged.params
        parts.append(staged.sql)
        # The outer SELECT's placeholders all come before the inner query's (in FROM, last).
        params += [*outer, *(_swap(list(inner), scope) if by_range else inner)]
    with connection.cursor() as cursor:
        if parts and not by_range:
            # A few clients (one a sync changed): planning the fourteen rules' statement costs ten
            # times more than running it, so it is prepared once per connection, with a generic plan.
            # Emptying the table, the settings, the rules and the settings put back: one round trip.
            sql = f"INSERT INTO {STAGING_TABLE} {' UNION ALL '.join(parts)}"
            name, prepare = _prepared(sql, params)
            reset = staging_table_reset_sql(few=True)
            if prepare is not None:  # the first time on this connection: PREPARE needs the table
                statements_run(cursor, reset)
                cursor.execute(prepare)
                _prepared_record(sql, params, name)
                reset = []
            statements_run(
                cursor, [*reset, PLANNER_SETTINGS_SET, (f"EXECUTE {name}(%s)", [scope]), PLANNER_SETTINGS_RESTORE]
            )
            return
        staging_table_reset(cursor, few=not by_range)
        # JIT compiling fourteen rules' expressions costs PostgreSQL more than a minute, for a query
        # that runs in seconds without (EXPLAIN ANALYZE: 75 s of "Optimization" and "Emission"). And a
        # chunk reads a sliver of every table: by index. Left to itself the planner hashes a whole
        # table (all policies, all facts) for every chunk, which grows with the book.
        cursor.execute(PLANNER_SETTINGS_SET)
        if parts and plan is not None:
            features_stage(cursor, plan, scope, only_client_ids=only_client_ids)
        if parts:
            cursor.execute(f"INSERT INTO {STAGING_TABLE} {' UNION ALL '.join(parts)}", params)
        cursor.execute(PLANNER_SETTINGS_RESTORE)


# The planner's settings for the rules (see `findings_stage`), each transaction-local and the value
# before kept in a setting of this module's own (`steward.`), so putting them back needs no round trip.
PLANNER_SETTINGS_SET = (
    "SELECT set_config('steward.enable_seqscan', current_setting('enable_seqscan'), true),"
    " set_config('steward.plan_cache_mode', current_setting('plan_cache_mode'), true),"
    " set_config('jit', 'off', true), set_config('enable_seqscan', 'off', true),"
    " set_config('plan_cache_mode', 'force_generic_plan', true)"
)
PLANNER_SETTINGS_RESTORE = (
    "SELECT set_config('enable_seqscan', current_setting('steward.enable_seqscan'), true),"
    " set_config('plan_cache_mode', current_setting('steward.plan_cache_mode'), true)"
)


def statements_run(cursor, statements: list) -> list:
    """Several statements (each SQL text, or SQL and its parameters) in one round trip to PostgreSQL.

    Returns each statement's rows, or its row count where it returns no rows. The parameters are
    bound here, on the client, as Django binds them; the texts then go as one simple query, which
    runs the statements in order within the current transaction (and fails as a whole).
    """
    import psycopg

    if not statements:
        return []
    client = psycopg.ClientCursor(connection.connection)
    texts = []
    for statement in statements:
        sql, params = (statement, None) if isinstance(statement, str) else statement
        texts.append(client.mogrify(sql, params) if params else sql)
    cursor.execute(";\n".join(texts))
    raw = cursor.cursor
    results = []
    while True:
        results.append(raw.fetchall() if raw.description is not None else raw.rowcount)
        if not raw.nextset():
            break
    return results


def _prepared(sql: str, params: list) -> tuple[str, str | None]:
    """The name of a prepared statement of `sql` on this connection, taking the client ids as $1,
    and the PREPARE to run first when it is not prepared yet (then `_prepared_record` it).

    Django binds parameters on the client, so the values are written into the text first (the
    ids' marker becomes $1). Prepared statements outlive transactions, rolled back or not; they
    end with the connection, and the set of names lives on the connection object.
    """
    import hashlib

    import psycopg

    raw = connection.connection
    names = getattr(raw, "_steward_prepared", None)
    if names is None:
        names = raw._steward_prepared = {}
    # The rules' parameters and texts are values, not SQL: the same SQL with other values (a rule
    # edited in place, a language) is another statement.
    name = names.get((sql, repr(params)))
    if name is not None:
        return name, None
    client = psycopg.ClientCursor(raw)
    text = client.mogrify(sql, params)
    marker = client.mogrify("%s", [_IDS])
    if text.count(marker) < 1:
        raise Unsupported("no ids in the rules' statement")
    text = text.replace(marker, "$1")
    name = "fw_rules_" + hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()[:20]
    # Run without parameters: the text goes to PostgreSQL as it is (a % of the rules' own text stays one %).
    return name, f"PREPARE {name}(bigint[]) AS {text}"


def _prepared_record(sql: str, params: list, name: str) -> None:
    """`name` is prepared on this connection (recorded only once its PREPARE ran)."""
    connection.connection._steward_prepared[(sql, repr(params))] = name


def staging_table_reset(cursor, *, few: bool = False) -> None:
    """An empty staging table for this connection (temporary: other sessions never see it)."""
    temporary_table_empty(cursor, STAGING_TABLE, STAGING_COLUMNS, few=few)


def staging_table_reset_sql(*, few: bool = False) -> list[str]:
    """`staging_table_reset` as statements, to run with others (`statements_run`)."""
    return temporary_table_empty_sql(STAGING_TABLE, STAGING_COLUMNS, few=few)


def temporary_table_empty(cursor, name: str, columns: str, *, few: bool) -> None:
    """Create (once per connection) or empty a temporary table of this module or of the alerts step."""
    statements_run(cursor, temporary_table_empty_sql(name, columns, few=few))


def temporary_table_empty_sql(name: str, columns: str, *, few: bool) -> list[str]:
    """The statements that create (once per connection) or empty a temporary table, to run next.

    CREATE ... IF NOT EXISTS every time: a table created in a transaction that was rolled back is
    gone, whatever this connection remembers. TRUNCATE for a chunk's thousands of rows. DELETE for
    a few clients' rows, because TRUNCATE gives the table a new file, which invalidates the prepared
    statement's plan; but DELETE leaves dead rows that no autovacuum removes from a temporary table,
    and a table that held a chunk keeps its size: so after a chunk, and every hundred DELETEs,
    TRUNCATE again.
    """
    raw = connection.connection
    uses = getattr(raw, "_steward_staging_uses", None)
    if uses is None:
        uses = raw._steward_staging_uses = {}
    statements = [f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} ({columns})"]
    deletes = uses.get(name, 100)
    if few and deletes < 100:
        statements.append(f"DELETE FROM {name}")  # noqa: S608 - names of this module and alerts.services
        uses[name] = deletes + 1
    else:
        statements.append(f"TRUNCATE {name}")
        uses[name] = 100 if not few else 0
    return statements


_PROGRAMS: dict = {}  # (rule pk, definition) -> RuleProgram, or the error that kept it from compiling
_VERSION_PROGRAMS: dict = {}  # (version pk, rules fingerprint) -> [(rule, program or error)]


def rules_fingerprint_sql(version_id_sql: str) -> str:
    """SQL of an md5 of every row of a version's rules and their parts (PostgreSQL): whatever is
    edited, added or deleted of them, in admin, in code or in SQL, gives another fingerprint.
    `version_id_sql` is the version's id as SQL (a column of the outer query, or an integer)."""
    from .models import ConditionNode, DecisionInput, DecisionRow, ReportedValue

    rule = connection.ops.quote_name(Rule._meta.db_table)
    rows = f"FROM {rule} r WHERE r.version_id = {version_id_sql}"
    selects = [f"(SELECT string_agg(CAST(r AS text), ',' ORDER BY r.id) {rows})"]
    for model in (ReportedValue, ConditionNode, DecisionInput, DecisionRow):
        part = connection.ops.quote_name(model._meta.db_table)
        selects.append(
            f"(SELECT string_agg(CAST(p AS text), ',' ORDER BY p.id) FROM {part} p"  # noqa: S608 - names of models
            f" JOIN {rule} r ON r.id = p.rule_id WHERE r.version_id = {version_id_sql})"
        )
    return f"md5(concat_ws('|', {', '.join(selects)}))"


def rules_fingerprint(version: FrameworkVersion) -> str | None:
    """The fingerprint of the version's rules now (PostgreSQL; None elsewhere)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {rules_fingerprint_sql('%s')}", [version.pk] * 5)
        return cursor.fetchone()[0]


def version_active_fingerprinted() -> tuple[FrameworkVersion | None, str | None]:
    """The active version (`selectors.framework_version_active`) and its rules' fingerprint, in one query."""
    from django.db.models.expressions import RawSQL

    if connection.vendor != "postgresql":
        from .selectors import framework_version_active

        return framework_version_active(), None
    version_id = f"{connection.ops.quote_name(FrameworkVersion._meta.db_table)}.{connection.ops.quote_name('id')}"
    version = (
        FrameworkVersion.objects.filter(status=FrameworkVersion.Status.ACTIVE)
        .annotate(fw_rules_fingerprint=RawSQL(rules_fingerprint_sql(version_id), []))  # noqa: S611 - SQL of this module
        .first()
    )
    if version is None:
        return None, None
    fingerprint = version.fw_rules_fingerprint
    del version.fw_rules_fingerprint
    return version, fingerprint


def version_programs(version: FrameworkVersion, *, fingerprint: str | None = None) -> list[tuple[Rule, RuleProgram]]:
    """The version's enabled rules as programs, each compiled once per definition (parsing and
    checking fourteen rules costs more than evaluating them for one client).

    On PostgreSQL the whole list is kept per version and fingerprint of its rules
    (`rules_fingerprint`, or `fingerprint` when the caller just read it in the same transaction):
    one query, not six, per evaluation of one client, and a rule changed in any way, by anyone, in
    any process, is read again. `fingerprint` must be of the rules as this transaction sees them.
    """
    from .rules import RuleDefinitionError
    from .selectors import logger

    if fingerprint is None:
        fingerprint = rules_fingerprint(version)
    compiled = _VERSION_PROGRAMS.get((version.pk, fingerprint)) if fingerprint is not None else None
    if compiled is None:
        compiled = _rules_compiled(version)
        if fingerprint is not None:
            if len(_VERSION_PROGRAMS) > 16:  # retired versions, rules edited in tests
                _VERSION_PROGRAMS.clear()
            _VERSION_PROGRAMS[(version.pk, fingerprint)] = compiled
    programs = []
    for rule, program in compiled:
        if isinstance(program, RuleDefinitionError):
            # Fails closed, as selectors._programs: a rule that does not compile raises no alerts.
            logger.warning("framework rule %s (version %s) skipped: %s", rule.key, rule.version_id, program)
            continue
        programs.append((rule, program))
    return programs


def _rules_compiled(version: FrameworkVersion) -> list:
    from .rules import RuleDefinitionError, rule_program
    from .selectors import framework_rules

    compiled = []
    for rule in framework_rules(version=version):
        key = _rule_key(rule)
        setattr(rule, _RULE_KEY, key)
        program = _PROGRAMS.get(key)
        if program is None:
            if len(_PROGRAMS) > 512:
                _PROGRAMS.clear()
            try:
                program = rule_program(rule)
            except RuleDefinitionError as error:
                program = error
            _PROGRAMS[key] = program
        compiled.append((rule, program))
    return compiled
