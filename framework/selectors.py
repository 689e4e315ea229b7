"""Reads of the framework: which rules apply, which clients they fire for, and why.

`framework_evaluate` is set-based: each rule is one query over the whole book (or a subset), so the
number of queries depends on the number of rules, never on the number of clients. `rule_explain`
runs the same rule in memory over one client's snapshot and returns every value it used, with its
source and age. Both read the same typed program (rules.py), and a property-based test keeps them
in agreement.
"""

import logging
import operator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import reduce

from django.db.models import Case, F, IntegerField, Prefetch, QuerySet, Value, When
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from clients.models import Client
from clients.provenance import DERIVED, Provenance, source_label
from enrichment.models import ClientFacts

from .language.evaluate import Evaluation, evaluate, kleene_or
from .language.orm import OrmCompiler, bool_value
from .language.schema import schema
from .language.values import normalize, tidy_number
from .models import ConditionNode, DecisionInput, DecisionRow, FrameworkVersion, ReportedValue, Rule
from .rules import RuleDefinitionError, RuleProgram, message_render, rule_program

logger = logging.getLogger(__name__)

# The canvas segments clients by age; the last band starts at the state pension age.
AGE_BANDS = (
    (None, 30, "under_30"),
    (30, 45, "30_44"),
    (45, 55, "45_54"),
    (55, 67, "55_66"),
    (67, None, "67_plus"),
)
AGE_UNKNOWN = "unknown"


def age_band(age: int | None) -> str:
    if age is None:
        return AGE_UNKNOWN
    for low, high, band in AGE_BANDS:
        if (low is None or age >= low) and (high is None or age < high):
            return band
    return AGE_UNKNOWN


def age_band_sql(age: str) -> str:
    """`age_band` as SQL over an age column (the bands are constants of this module)."""
    whens = []
    for low, high, band in AGE_BANDS:
        tests = [f"{age} >= {int(low)}"] if low is not None else []
        tests += [f"{age} < {int(high)}"] if high is not None else []
        whens.append(f"WHEN {' AND '.join(tests)} THEN '{band}'")
    return f"(CASE {' '.join(whens)} ELSE '{AGE_UNKNOWN}' END)"


@dataclass(frozen=True)
class Granulation:
    """What the canvas segments an alert on."""

    age_band: str
    household_type: str
    days_to_deadline: int | None
    # How many rules fired for this client in the same evaluation: the client's open violations.
    discrepancy_count: int


@dataclass(frozen=True)
class RuleResult:
    """One rule firing for one client: what to raise, what to show, where it sits on the canvas."""

    rule: Rule
    client_id: int
    alert_type: str
    granule: str
    urgency: str
    branch: str  # the decision-table row that hit, else ""
    values: dict  # reported values by label
    deadline: date | None
    message: str
    granulation: Granulation


# --- Which rules ----------------------------------------------------------------------------------


def framework_version_active() -> FrameworkVersion | None:
    return FrameworkVersion.objects.filter(status=FrameworkVersion.Status.ACTIVE).first()


def framework_rules(*, version: FrameworkVersion, enabled_only: bool = True) -> QuerySet[Rule]:
    """The version's rules with all their parts, in a fixed number of queries."""
    rules = version.rules.prefetch_related(
        Prefetch("reported_values", queryset=ReportedValue.objects.order_by("position", "id")),
        Prefetch("condition_nodes", queryset=ConditionNode.objects.order_by("outline")),
        Prefetch("decision_inputs", queryset=DecisionInput.objects.order_by("position", "id")),
        Prefetch("decision_rows", queryset=DecisionRow.objects.order_by("position", "id")),
    ).order_by("position", "key")
    return rules.filter(enabled=True) if enabled_only else rules


@dataclass(frozen=True)
class RuleProblem:
    rule: Rule
    where: str
    message: str


def framework_problems(*, version: FrameworkVersion) -> list[RuleProblem]:
    """Every enabled rule of the version that would not evaluate, and why (activation refuses these)."""
    problems = []
    for rule in framework_rules(version=version):
        try:
            rule_program(rule)
        except RuleDefinitionError as error:
            problems.append(RuleProblem(rule, error.where, str(error.error)))
    return problems


def _programs(rules) -> list[tuple[Rule, RuleProgram]]:
    programs = []
    for rule in rules:
        try:
            programs.append((rule, rule_program(rule)))
        except RuleDefinitionError as error:
            # Fails closed: a rule that does not compile raises no alerts, and says so in the log.
            logger.warning("framework rule %s (version %s) skipped: %s", rule.key, rule.version_id, error)
    return programs


# --- Set-based evaluation -------------------------------------------------------------------------


def _matches(program: RuleProgram, clients: QuerySet, today: date) -> list[dict]:
    """One query: the clients for which the rule fires, with its values and granulation."""
    return list(_matches_query(program, clients, today).order_by("fw_pk"))


def _matches_query(program: RuleProgram, clients: QuerySet, today: date) -> QuerySet:
    """The rule's query: per client it fires for, `fw_pk`, its values, deadline, branch and granulation
    columns (also compiled into SQL by framework.staging)."""
    compiler = OrmCompiler(today=today)
    conditions = [compiler.condition(branch.condition) for branch in program.branches]
    columns = {f"fw_value_{index}": compiler.value(node) for index, (_label, node) in enumerate(program.reported)}
    if program.deadline is not None:
        columns["fw_deadline"] = compiler.value(program.deadline)
    columns["fw_age"] = compiler.facts_field("age")
    columns["fw_household_type"] = compiler.facts_field("household_type")
    if len(conditions) > 1 and program.hit_policy == "first":
        whens = [When(condition, then=Value(index)) for index, condition in enumerate(conditions)]
        columns["fw_branch"] = Case(*whens, default=None, output_field=IntegerField())
    elif len(conditions) > 1:
        columns.update({f"fw_hit_{index}": bool_value(condition) for index, condition in enumerate(conditions)})
    query = clients.alias(**compiler.aliases).filter(reduce(operator.or_, conditions))
    return query.values(fw_pk=F("pk"), **columns)


def _branches_hit(program: RuleProgram, row: dict) -> list[int]:
    if len(program.branches) == 1:
        return [0]
    if program.hit_policy == "first":
        return [row["fw_branch"]]
    return [index for index in range(len(program.branches)) if row[f"fw_hit_{index}"]]


def framework_evaluate(
    *,
    version: FrameworkVersion | None = None,
    client_ids=None,
    today: date | None = None,
    client_id_range: tuple[int, int] | None = None,
) -> list[RuleResult]:
    """Every firing of the version's enabled rules (default: the active version) over current clients.

    `client_ids` (ids or a queryset of ids) limits the evaluation to those clients; or
    `client_id_range` (start, stop): the current clients with ids in [start, stop). Queries: a
    handful to load the rules, then one per rule, whatever the size of the book.
    """
    version = version or framework_version_active()
    if version is None:
        return []
    today = today or timezone.localdate()
    clients = Client.objects.filter(deleted_at__isnull=True)
    if client_id_range is not None:
        clients = clients.filter(pk__gte=client_id_range[0], pk__lt=client_id_range[1])
    elif client_ids is not None:
        # A queryset of ids stays a subquery; anything else is read once.
        clients = clients.filter(pk__in=client_ids if isinstance(client_ids, QuerySet) else list(client_ids))

    fired = []  # (rule, program, branch index, row)
    for rule, program in _programs(framework_rules(version=version)):
        for row in _matches(program, clients, today):
            fired.extend((rule, program, branch, row) for branch in _branches_hit(program, row))

    rules_per_client: dict[int, set] = {}
    for rule, _program, _branch, row in fired:
        rules_per_client.setdefault(row["fw_pk"], set()).add(rule.pk)

    results = []
    for rule, program, branch_index, row in fired:
        values = {
            label: normalize(row[f"fw_value_{index}"], node.type)
            for index, (label, node) in enumerate(program.reported)
        }
        deadline = normalize(row.get("fw_deadline"), program.deadline.type) if program.deadline else None
        branch = program.branches[branch_index]
        results.append(
            RuleResult(
                rule=rule,
                client_id=row["fw_pk"],
                alert_type=program.alert_type,
                granule=branch.granule,
                urgency=branch.urgency,
                branch=branch.label,
                values=values,
                deadline=deadline,
                message=message_render(program.message_template, values),
                granulation=Granulation(
                    age_band=age_band(row["fw_age"]),
                    household_type=row["fw_household_type"] or "unknown",
                    days_to_deadline=(deadline - today).days if deadline else None,
                    discrepancy_count=len(rules_per_client[row["fw_pk"]]),
                ),
            )
        )
    return results


# --- One client in memory -------------------------------------------------------------------------


@dataclass
class ClientFile:
    """One client's rows as the rules see them, and the model objects for their provenance."""

    client: Client
    facts: ClientFacts | None
    rows: dict[str, list]  # collection name -> current rows, by id
    home: object | None  # the own home (`property` in a rule)
    snapshot: dict = field(default_factory=dict)


def _row_values(obj, fields) -> dict:
    values = {"id": obj.pk}
    for spec in fields.values():
        value = getattr(obj, spec.source_field)
        if isinstance(value, datetime):
            value = timezone.localtime(value).date()
        values[spec.name] = value
    return values


def client_file_load(client_id: int) -> ClientFile:
    """A client's file for the in-memory evaluator: a query per kind of row (one client only)."""
    client = Client.objects.get(pk=client_id)
    facts = ClientFacts.objects.filter(client_id=client_id).first()
    current = schema()
    rows = {}
    for name, spec in current.collections.items():
        key = _owner_key(client, spec)
        if key is None:
            rows[name] = []
            continue
        rows[name] = list(spec.model._default_manager.filter(**{spec.client_path: key}, **spec.current).order_by("pk"))
    home, snapshot = _snapshot(current, client, facts, rows)
    return ClientFile(client=client, facts=facts, rows=rows, home=home, snapshot=snapshot)


def _owner_key(client: Client, spec):
    """What a collection's rows point at for this client: the client, or its household (None: none)."""
    return client.household_id if spec.client_path == "household" else client.pk


def _snapshot(current, client: Client, facts, rows: dict[str, list]) -> tuple[object | None, dict]:
    """The client's own home and the plain snapshot of its rows, as the rules read them."""
    home = next((row for row in rows["properties"] if row.is_primary_residence), None)
    snapshot = {
        "client": _row_values(client, current.scopes["client"]),
        "facts": _row_values(facts, current.scopes["facts"]) if facts else None,
        "property": _row_values(home, current.scopes["property"]) if home else None,
        **{
            name: [_row_values(row, current.collections[name].fields) for row in collection]
            for name, collection in rows.items()
        },
    }
    return home, snapshot


def client_snapshots(client_ids) -> dict[int, dict]:
    """`client_snapshot` of many clients at once, by client id: a query per kind of row in all, not
    per client (the zen-engine benchmark reads thousands of files; one by one that took 13 ms each)."""
    from django.db.models import F

    clients = Client.objects.in_bulk(list(client_ids))
    facts = {row.client_id: row for row in ClientFacts.objects.filter(client_id__in=list(clients))}
    current = schema()
    rows: dict[str, dict] = {}
    for name, spec in current.collections.items():
        keys = {_owner_key(client, spec) for client in clients.values()} - {None}
        found = (
            spec.model._default_manager.filter(**{f"{spec.client_path}__in": keys}, **spec.current)
            .annotate(steward_owner=F(spec.client_path))
            .order_by("pk")
        )
        by_owner = rows[name] = {}
        for row in found:
            by_owner.setdefault(row.steward_owner, []).append(row)
    snapshots = {}
    for client_id, client in clients.items():
        collections = {name: rows[name].get(_owner_key(client, spec), []) for name, spec in current.collections.items()}
        snapshots[client_id] = _snapshot(current, client, facts.get(client_id), collections)[1]
    return snapshots


def client_snapshot(client_id: int) -> dict:
    """The plain facts snapshot of one client: only whitelisted fields, only current rows.

    {"client": {...}, "facts": {...} or None, "property": {...} or None, "policies": [{...}], ...}
    """
    return client_file_load(client_id).snapshot


@dataclass(frozen=True)
class UsedValue:
    """A value an evaluation read, where it came from and how old it is."""

    name: str  # facts.replacement_ratio, loan_parts[12].fixed_rate_end_date
    value: object
    source: str
    source_label: str
    as_of: datetime | None
    age_days: int | None
    note: str = ""  # why a derived value is unknown, or which provider derived it


@dataclass(frozen=True)
class BranchOutcome:
    label: str
    granule: str
    urgency: str
    truth: bool | None  # None: unknown, because a value it needs is unknown


@dataclass(frozen=True)
class Explanation:
    rule: Rule
    client_id: int
    today: date
    fires: bool
    truth: bool | None
    branches: tuple[BranchOutcome, ...]
    values: dict
    message: str
    used: tuple[UsedValue, ...]
    parameters: dict
    reason: str


def _provenance(client_file: ClientFile, scope: str, row_id, name: str) -> tuple[Provenance | None, str]:
    if scope == "client":
        return client_file.client.provenance_for(name), ""
    if scope == "facts":
        facts = client_file.facts
        if facts is None:
            return None, _("no derived values computed yet")
        entry = facts.provenance.get(name) or {}
        computed = parse_datetime(entry["at"]) if entry.get("at") else facts.computed_at
        note = str(facts.unknown.get(name, "")) or (entry.get("by") or "")
        return Provenance(source=DERIVED, changed_at=computed, derived_by=entry.get("by", "")), note
    if scope == "property" and client_file.home is None:
        return None, _("no own home on file")
    collection = "properties" if scope == "property" else scope
    spec = schema().collections[collection].fields[name]
    obj = next((row for row in client_file.rows.get(collection, []) if row.pk == row_id), None)
    return (obj.provenance_for(spec.source_field), "") if obj is not None else (None, "")


def _used_values(client_file: ClientFile, evaluation: Evaluation) -> tuple[UsedValue, ...]:
    now = timezone.now()
    used = []
    for read in evaluation.reads.values():
        provenance, note = _provenance(client_file, read.scope, read.row_id, read.field)
        value = read.value
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            value = tidy_number(value)
        used.append(
            UsedValue(
                name=read.name,
                value=value,
                source=provenance.source if provenance else "",
                source_label=provenance.source_label if provenance else source_label(""),
                as_of=provenance.as_of if provenance else None,
                age_days=provenance.age_days(now) if provenance else None,
                note=note,
            )
        )
    return tuple(used)


def rule_explain(*, rule: Rule, client_id: int, today: date | None = None) -> Explanation:
    """Evaluate `rule` for one client in memory and say why it fires or not, with every value used."""
    return _explain(rule, client_file_load(client_id), today or timezone.localdate())


def client_rules_explain(
    *, client_id: int, version: FrameworkVersion | None = None, today: date | None = None
) -> list[Explanation]:
    """Every enabled rule of the version (default: the active one) explained for one client."""
    version = version or framework_version_active()
    if version is None:
        return []
    client_file = client_file_load(client_id)
    today = today or timezone.localdate()
    return [_explain(rule, client_file, today) for rule in framework_rules(version=version)]


def _explain(rule: Rule, client_file: ClientFile, today: date) -> Explanation:
    client_id = client_file.client.pk
    try:
        program = rule_program(rule)
    except RuleDefinitionError as error:
        return Explanation(
            rule=rule,
            client_id=client_id,
            today=today,
            fires=False,
            truth=None,
            branches=(),
            values={},
            message="",
            used=(),
            parameters={},
            reason=_("The rule is invalid and fires for no one: %s") % error,
        )
    evaluation = Evaluation(snapshot=client_file.snapshot, today=today)
    truths = [
        evaluate(branch.condition, client_file.snapshot, today=today, evaluation=evaluation)
        for branch in program.branches
    ]
    values = {
        label: normalize(evaluate(node, client_file.snapshot, today=today, evaluation=evaluation), node.type)
        for label, node in program.reported
    }
    if program.deadline is not None:
        evaluate(program.deadline, client_file.snapshot, today=today, evaluation=evaluation)
    truth = kleene_or(truths)
    used = _used_values(client_file, evaluation)
    branches = tuple(
        BranchOutcome(branch.label, branch.granule, branch.urgency, branch_truth)
        for branch, branch_truth in zip(program.branches, truths, strict=True)
    )
    if truth is True:
        hit = next(branch for branch in branches if branch.truth is True)
        reason = _("Fires: %s.") % (hit.label or _("the condition holds"))
    elif truth is None:
        unknown = ", ".join(
            f"{value.name} ({value.note})" if value.note else value.name for value in used if value.value is None
        )
        reason = _("Does not fire: the outcome is unknown because these values are unknown: %s.") % (unknown or "–")
    else:
        reason = _("Does not fire: the condition does not hold.")
    return Explanation(
        rule=rule,
        client_id=client_id,
        today=today,
        fires=truth is True,
        truth=truth,
        branches=branches,
        values=values,
        message=message_render(program.message_template, values) if truth is True else "",
        used=used,
        parameters=program.parameters,
        reason=reason,
    )


# --- Impact preview -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleImpact:
    """What activating a draft would change for one rule (matched across versions by its key)."""

    key: str
    name: str
    fires_now: int
    fires_after: int
    would_open: int
    would_close: int
    sample_open: tuple[int, ...]
    sample_close: tuple[int, ...]
    changed: bool  # the rule's definition differs from the active version's


def framework_impact(*, draft: FrameworkVersion, today: date | None = None, samples: int = 5) -> list[RuleImpact]:
    """Per rule: how many clients it fires for now (active version) and after activating the draft.

    Both versions are evaluated set-based over the current data, so the preview costs one query per
    rule per version, whatever the size of the book.
    """
    active = framework_version_active()
    after: dict[str, set[int]] = {}
    for result in framework_evaluate(version=draft, today=today):
        after.setdefault(result.rule.key, set()).add(result.client_id)
    now: dict[str, set[int]] = {}
    if active is not None and active.pk != draft.pk:
        for result in framework_evaluate(version=active, today=today):
            now.setdefault(result.rule.key, set()).add(result.client_id)
    active_rules = {rule.key: rule for rule in framework_rules(version=active)} if active else {}
    impacts = []
    for rule in framework_rules(version=draft, enabled_only=False):
        fires_after, fires_now = after.get(rule.key, set()), now.get(rule.key, set())
        opened, closed = sorted(fires_after - fires_now), sorted(fires_now - fires_after)
        previous = active_rules.get(rule.key)
        impacts.append(
            RuleImpact(
                key=rule.key,
                name=rule.name,
                fires_now=len(fires_now),
                fires_after=len(fires_after),
                would_open=len(opened),
                would_close=len(closed),
                sample_open=tuple(opened[:samples]),
                sample_close=tuple(closed[:samples]),
                changed=previous is None or _definition(previous) != _definition(rule),
            )
        )
    for key in sorted(set(active_rules) - {rule.key for rule in framework_rules(version=draft, enabled_only=False)}):
        fires_now = sorted(now.get(key, set()))
        impacts.append(
            RuleImpact(
                key, active_rules[key].name, len(fires_now), 0, 0, len(fires_now), (), tuple(fires_now[:samples]), True
            )
        )
    return impacts


def _definition(rule: Rule) -> tuple:
    return (
        rule.enabled,
        rule.kind,
        rule.condition,
        rule.hit_policy,
        json_dumps(rule.parameters),
        rule.deadline,
        tuple((value.label, value.expression) for value in rule.reported_values.all()),
        tuple((node.outline, node.kind, node.expression) for node in rule.condition_nodes.all()),
        tuple((item.label, item.expression) for item in rule.decision_inputs.all()),
        tuple((json_dumps(row.cells), row.granule, row.urgency) for row in rule.decision_rows.all()),
    )


def json_dumps(value) -> str:
    import json

    return json.dumps(value, sort_keys=True, default=str)
