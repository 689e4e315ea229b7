"""The framework evaluated the obvious ways, for the baselines of benchmarks/scenarios/framework.py.

- `orm_loop_evaluate`: per client, load the client file as ORM objects, run every rule in memory
  (the same evaluator `rule_explain` uses), then open, keep or close that client's alerts with one
  query and one `save()` per alert. What a first version of a rules engine looks like.
- `zen_evaluate`: the same rules as one `zen-engine` decision table (a JSON Decision Model with a
  "collect" hit policy), evaluated per client over a flat dict of that client's features. The
  features are read from the ORM snapshot beforehand and not timed, so only the engine is measured.
"""

from __future__ import annotations

import json
import time
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from alerts.models import Alert, AlertEvent, AlertType
from alerts.services import Finding
from clients.models import Client
from framework.language.evaluate import evaluate, kleene_or
from framework.language.values import normalize
from framework.rules import message_render, rule_program
from framework.selectors import client_file_load, framework_rules

# --- A per-client loop over ORM objects -----------------------------------------------------------


def orm_loop_evaluate(*, version, client_ids: list[int], today: date | None = None) -> dict[int, set[str]]:
    """Evaluate and reconcile each client on its own; returns the rule keys that fired per client."""
    today = today or timezone.localdate()
    programs = [(rule, rule_program(rule)) for rule in framework_rules(version=version)]
    now = timezone.now()
    fired: dict[int, set[str]] = {}
    for client_id in client_ids:
        client_file = client_file_load(client_id)
        snapshot = client_file.snapshot
        keys = fired.setdefault(client_id, set())
        types_seen = set()
        with transaction.atomic():
            for rule, program in programs:
                truths = [evaluate(branch.condition, snapshot, today=today) for branch in program.branches]
                if kleene_or(truths) is not True:
                    continue
                keys.add(rule.key)
                if program.alert_type in types_seen:
                    continue
                types_seen.add(program.alert_type)
                branch = program.branches[next(i for i, truth in enumerate(truths) if truth is True)]
                values = {
                    label: normalize(evaluate(node, snapshot, today=today), node.type)
                    for label, node in program.reported
                }
                deadline = evaluate(program.deadline, snapshot, today=today) if program.deadline else None
                finding = Finding(client_id=client_id, alert_type=program.alert_type, values=_jsonable(values))
                alert_type, _created = AlertType.objects.get_or_create(
                    key=program.alert_type, defaults={"name": rule.name}
                )
                alert = Alert.objects.filter(
                    client_id=client_id, alert_type=alert_type, status__in=Alert.LIVE_STATUSES
                ).first()
                if alert is None:
                    alert = Alert(
                        alert_type=alert_type,
                        client=client_file.client,
                        team_id=client_file.client.team_id,
                        assigned_to_id=client_file.client.advisor_id,
                        opened_at=now,
                    )
                alert.segment, alert.rule, alert.rule_version_id = branch.granule, rule, rule.version_id
                alert.message = message_render(program.message_template, values)
                alert.values, alert.values_fingerprint = finding.values, finding.fingerprint
                alert.due_date, alert.updated_at = deadline, now
                created = alert.pk is None
                alert.save()
                if created:
                    AlertEvent.objects.create(alert=alert, at=now, to_status=Alert.Status.OPEN)
            for alert in Alert.objects.filter(client_id=client_id, status__in=Alert.LIVE_STATUSES).select_related(
                "alert_type"
            ):
                if alert.alert_type.key not in types_seen:
                    alert.status, alert.closed_at = Alert.Status.RESOLVED, now
                    alert.save()
                    AlertEvent.objects.create(alert=alert, at=now, from_status="open", to_status="resolved")
    return fired


def _jsonable(values: dict) -> dict:
    return {
        key: value.isoformat() if isinstance(value, date) else (str(value) if isinstance(value, Decimal) else value)
        for key, value in values.items()
    }


# --- zen-engine: the rules as one decision table --------------------------------------------------

# One row per rule of the default framework, over the features below (dates as day numbers).
ZEN_ROWS = {
    "fixed_rate_ends_14_days": "some(fixed_rate_ends, # >= today and # <= today + 14)",
    "fixed_rate_ends_6_months": "some(fixed_rate_ends, # > today + 14 and # <= today_plus_6_months)",
    "home_underinsured": "home_policies > 0 and rebuild_value != null and home_insured < rebuild_value",
    "pension_gap": "replacement_ratio != null and age != null and replacement_ratio < 0.7",
    "interest_only_past_state_pension": "state_pension_date != null"
    " and some(interest_only_ends, # > state_pension_date)",
    "dependants_without_life_cover": "mortgages > 0 and has_dependants == true and has_life_cover == false",
    "no_contact_12_months": "last_contact != null and last_contact < today_minus_12_months",
    "stale_income": "'income' in stale_field_groups",
    "complaint_unresolved_30_days": "some(open_complaints_received, # < today - 30)",
    "mortgage_without_disability_cover": "mortgages > 0 and disability_policies == 0 and age != null and age < 60",
    "mortgage_term_past_state_pension": "state_pension_date != null and some(repaying_ends, # > state_pension_date)",
    "savings_buffer_low": "gross_income != null and gross_income > 0 and savings < gross_income * 0.25",
    "mortgage_within_nhg_limit": "mortgages > 0 and nhg_mortgages == 0 and mortgage_balance != null"
    " and mortgage_balance > 0 and mortgage_balance <= 470000",
    "market_value_outdated": "mortgages > 0 and market_value_date != null and market_value_date < today_minus_5_years",
}


def zen_decision():
    """The decision table as a zen-engine decision, compiled once."""
    import zen

    content = {
        "nodes": [
            {"id": "request", "type": "inputNode", "name": "Request", "position": {"x": 0, "y": 0}},
            {
                "id": "rules",
                "type": "decisionTableNode",
                "name": "Default framework",
                "position": {"x": 200, "y": 0},
                "content": {
                    "hitPolicy": "collect",
                    "inputs": [{"id": "condition", "name": "Condition"}],
                    "outputs": [{"id": "rule", "name": "Rule", "field": "rule"}],
                    "rules": [
                        {"_id": key, "condition": condition, "rule": json.dumps(key)}
                        for key, condition in ZEN_ROWS.items()
                    ],
                },
            },
            {"id": "response", "type": "outputNode", "name": "Response", "position": {"x": 400, "y": 0}},
        ],
        "edges": [
            {"id": "in", "sourceId": "request", "targetId": "rules", "type": "edge"},
            {"id": "out", "sourceId": "rules", "targetId": "response", "type": "edge"},
        ],
    }
    return zen.ZenEngine().create_decision(json.dumps(content))


def _day(value) -> int | None:
    return value.toordinal() if value is not None else None


def _number(value) -> float | None:
    return float(value) if value is not None else None


def zen_features(snapshot: dict, today: date) -> dict:
    """The flat features the decision table reads, from one client's facts snapshot."""
    from framework.language.dates import add_months

    facts = snapshot["facts"] or {}
    home = snapshot["property"] or {}
    policies, parts = snapshot["policies"], snapshot["loan_parts"]
    contacts = [row["occurred_on"] for row in snapshot["contact_moments"] if row["occurred_on"] is not None]
    last_contact = max(contacts) if contacts else snapshot["client"]["client_since"]
    savings = [row["balance"] for row in snapshot["assets"] if row["kind"] in ("savings", "bank_savings")]
    return {
        "today": today.toordinal(),
        "today_plus_6_months": add_months(today, 6).toordinal(),
        "today_minus_12_months": add_months(today, -12).toordinal(),
        "today_minus_5_years": add_months(today, -60).toordinal(),
        "fixed_rate_ends": [_day(p["fixed_rate_end_date"]) for p in parts if p["fixed_rate_end_date"]],
        "home_policies": sum(1 for p in policies if p["kind"] == "home"),
        "home_insured": float(sum(p["insured_amount"] or 0 for p in policies if p["kind"] == "home")),
        "disability_policies": sum(1 for p in policies if p["kind"] == "disability"),
        "rebuild_value": _number(home.get("rebuild_value")),
        "market_value_date": _day(home.get("market_value_date")),
        "age": facts.get("age"),
        "replacement_ratio": _number(facts.get("replacement_ratio")),
        "state_pension_date": _day(facts.get("state_pension_date")),
        "interest_only_ends": [
            _day(p["end_date"]) for p in parts if p["repayment_type"] == "interest_only" and p["end_date"]
        ],
        "repaying_ends": [
            _day(p["end_date"])
            for p in parts
            if p["repayment_type"] != "interest_only" and p["end_date"] and (p["outstanding_balance"] or 0) > 0
        ],
        "mortgages": len(snapshot["mortgages"]),
        "nhg_mortgages": sum(1 for m in snapshot["mortgages"] if m["nhg"]),
        "mortgage_balance": _number(facts.get("mortgage_balance")),
        "gross_income": _number(facts.get("gross_income")),
        "savings": float(sum(savings)),
        "has_dependants": facts.get("has_dependants"),
        "has_life_cover": facts.get("has_life_cover"),
        "last_contact": _day(last_contact),
        "stale_field_groups": list(facts.get("stale_field_groups") or []),
        "open_complaints_received": [
            _day(c["received_on"]) for c in snapshot["complaints"] if c["status"] in ("open", "in_progress")
        ],
    }


def zen_evaluate(decision, features: list[dict]) -> tuple[float, list[set[str]]]:
    """Seconds to evaluate the decision once per client, and the rules that fired for each."""
    fired = []
    started = time.perf_counter()
    for context in features:
        fired.append({row["rule"] for row in decision.evaluate(context)["result"]})
    return time.perf_counter() - started, fired


def sample_client_ids(count: int) -> list[int]:
    """An even spread of current clients over the book (every n-th id), the same each run."""
    total = Client.objects.filter(deleted_at__isnull=True).count()
    step = max(1, total // max(count, 1))
    ids = Client.objects.filter(deleted_at__isnull=True).order_by("pk").values_list("pk", flat=True)
    return list(ids[::step][:count]) if step > 1 else list(ids[:count])
