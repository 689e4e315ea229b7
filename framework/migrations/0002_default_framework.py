"""The default advisory framework: the after-care checks of a Dutch advisory practice.

Plain data (no imports of the rule language), so this migration stays valid whatever the code
becomes; a test compiles every rule shipped here. A firm adapts it by copying it to a draft.
"""

import datetime

from django.db import migrations

VERSION_NAME = "Default framework"

DUTY_OF_CARE = (
    "Wft art. 4:24a: the duty of care (zorgplicht) to act with due care in the client's legitimate "
    "interest, which for an adviser includes after-care on products advised earlier."
)

RULES = [
    {
        "key": "fixed_rate_ends_14_days",
        "name": "Fixed-interest period ends within 14 days",
        "alert_type": "fixed_rate_ending",
        "granule": "fixed_rate_within_14_days",
        "urgency": "critical",
        "condition": "any(loan_parts[fixed_rate_end_date >= today and fixed_rate_end_date <= today + days days])",
        "parameters": {"days": 14},
        "reported": [
            ("fixed_rate_end_date", "min(loan_parts[fixed_rate_end_date >= today].fixed_rate_end_date)"),
            (
                "balance",
                "sum(loan_parts[fixed_rate_end_date >= today and fixed_rate_end_date <= today + days days]"
                ".outstanding_balance)",
            ),
        ],
        "deadline": "min(loan_parts[fixed_rate_end_date >= today].fixed_rate_end_date)",
        "message": "The fixed-interest period of a loan part ends on {fixed_rate_end_date}: "
        "compare the lender's renewal offer with the market before it is accepted by default.",
        "legal_basis": DUTY_OF_CARE + " Firm policy: contact the client before a fixed-interest period ends, "
        "so that a renewal is a choice and not a default.",
    },
    {
        "key": "fixed_rate_ends_6_months",
        "name": "Fixed-interest period ends within 6 months",
        "alert_type": "fixed_rate_ending",
        "granule": "fixed_rate_within_6_months",
        "urgency": "normal",
        "condition": "any(loan_parts[fixed_rate_end_date > today + short_days days\n"
        "    and fixed_rate_end_date <= today + months months])",
        "parameters": {"short_days": 14, "months": 6},
        "reported": [
            ("fixed_rate_end_date", "min(loan_parts[fixed_rate_end_date > today + short_days days].fixed_rate_end_date)"),
        ],
        "deadline": "min(loan_parts[fixed_rate_end_date > today + short_days days].fixed_rate_end_date)",
        "message": "A fixed-interest period ends on {fixed_rate_end_date}: plan a review of the options "
        "(renewing early, interest averaging, a different fixed period).",
        "legal_basis": DUTY_OF_CARE + " Firm policy: start the renewal conversation about six months ahead.",
    },
    {
        "key": "home_underinsured",
        "name": "Home insured below its rebuild value",
        "alert_type": "home_underinsured",
        "urgency": "high",
        "condition": 'any(policies[kind = "home"])\n'
        'and sum(policies[kind = "home"].insured_amount) < property.rebuild_value * required_cover',
        "parameters": {"required_cover": 1},
        "reported": [
            ("insured_amount", 'sum(policies[kind = "home"].insured_amount)'),
            ("rebuild_value", "property.rebuild_value"),
            ("shortfall", 'property.rebuild_value * required_cover - sum(policies[kind = "home"].insured_amount)'),
        ],
        "deadline": "",
        "message": "The home is insured for € {insured_amount} against a rebuild value of € {rebuild_value}: "
        "underinsured by € {shortfall}.",
        "legal_basis": DUTY_OF_CARE + " Firm policy: at every review, check that the building insurance covers "
        "the rebuild value; underinsurance means a proportional payout after damage.",
    },
    {
        "key": "pension_gap",
        "name": "Pension replacement ratio below 70%",
        "alert_type": "pension_gap",
        "urgency": "normal",
        "kind": "table",
        "parameters": {"min_age": 30, "target_ratio": 0.7},
        "inputs": [("Age", "facts.age"), ("Replacement ratio", "facts.replacement_ratio")],
        "rows": [
            ([">= min_age", "< target_ratio"], "pension_gap", "normal", "30 and over"),
            # Under 30 the gap is real but there is time to close it: a separate, quieter granule.
            (["< min_age", "< target_ratio"], "pension_gap_under_30", "low", "under 30"),
        ],
        "reported": [
            ("replacement_percentage", "facts.replacement_ratio * 100"),
            ("target_percentage", "target_ratio * 100"),
            ("gross_income", "facts.gross_income"),
            ("retirement_income", "facts.projected_retirement_income"),
        ],
        "deadline": "",
        "message": "Projected retirement income (€ {retirement_income} a year) is {replacement_percentage}% of the "
        "current gross income; the target is {target_percentage}%.",
        "legal_basis": "Wft art. 4:23: advice rests on the client's financial position and objectives. "
        + DUTY_OF_CARE
        + " Firm policy: a replacement ratio below 70% is a pension gap to discuss.",
    },
    {
        "key": "interest_only_past_state_pension",
        "name": "Interest-only loan part runs past the state pension date",
        "alert_type": "interest_only_past_aow",
        "urgency": "high",
        "condition": 'any(loan_parts, repayment_type = "interest_only" and end_date > facts.state_pension_date)',
        "parameters": {},
        "reported": [
            ("interest_only_balance", 'sum(loan_parts[repayment_type = "interest_only"].outstanding_balance)'),
            ("term_ends", 'max(loan_parts[repayment_type = "interest_only"].end_date)'),
            ("state_pension_date", "facts.state_pension_date"),
        ],
        "deadline": "facts.state_pension_date",
        "message": "€ {interest_only_balance} is interest-only until {term_ends}, past the state pension (AOW) "
        "date {state_pension_date}: check that the client can carry the debt after retirement.",
        "legal_basis": DUTY_OF_CARE + " The AFM has asked lenders and advisers to reach clients with an "
        "interest-only mortgage about the risk of a remaining debt after retirement.",
    },
    {
        "key": "dependants_without_life_cover",
        "name": "Mortgage with dependants and no life cover",
        "alert_type": "no_life_cover",
        "urgency": "high",
        "kind": "tree",
        "parameters": {},
        "nodes": [
            ("1", "all", ""),
            ("1.1", "condition", "any(mortgages)"),
            ("1.2", "condition", "facts.has_dependants"),
            ("1.3", "not", ""),
            ("1.3.1", "condition", "facts.has_life_cover"),
        ],
        "reported": [
            ("mortgage_balance", "facts.mortgage_balance"),
            ("household_type", "facts.household_type"),
        ],
        "deadline": "",
        "message": "A mortgage of € {mortgage_balance} and dependants ({household_type}), but no life cover is "
        "known: discuss what happens to the housing costs if the client dies.",
        "legal_basis": DUTY_OF_CARE + " Firm policy: a household with a mortgage and dependants is advised on "
        "term life cover (overlijdensrisicoverzekering).",
    },
    {
        "key": "no_contact_12_months",
        "name": "No contact for 12 months",
        "alert_type": "no_recent_contact",
        "urgency": "normal",
        "condition": "coalesce(max(contact_moments.occurred_on), client.client_since) < today - months months",
        "parameters": {"months": 12},
        "reported": [
            ("last_contact", "max(contact_moments.occurred_on)"),
            (
                "days_without_contact",
                "days_between(coalesce(max(contact_moments.occurred_on), client.client_since), today)",
            ),
        ],
        "deadline": "",
        "message": "No contact for {days_without_contact} days (last contact: {last_contact}).",
        "legal_basis": "Firm policy (service agreement): at least one contact a year with every client. "
        + DUTY_OF_CARE,
    },
    {
        "key": "stale_income",
        "name": "Income data out of date",
        "alert_type": "stale_data",
        "granule": "stale_income",
        "urgency": "normal",
        "condition": "group in facts.stale_field_groups",
        "parameters": {"group": "income"},
        "reported": [("gross_income", "facts.gross_income")],
        "deadline": "",
        "message": "The income on file (€ {gross_income} a year) is older than allowed: ask for a recent "
        "payslip or employer's statement before advising.",
        "legal_basis": "Wft art. 4:23: advice rests on current information about the client's financial "
        "position. Firm policy: income and employment at most 12 months old.",
    },
    {
        "key": "complaint_unresolved_30_days",
        "name": "Complaint unresolved after 30 days",
        "alert_type": "complaint_overdue",
        "urgency": "high",
        "condition": 'any(complaints[status in ["open", "in_progress"] and received_on < today - days days])',
        "parameters": {"days": 30},
        "reported": [
            ("received_on", 'min(complaints[status in ["open", "in_progress"]].received_on)'),
            ("open_complaints", 'count(complaints[status in ["open", "in_progress"]])'),
        ],
        "deadline": "",
        "message": "A complaint received on {received_on} is still unresolved ({open_complaints} open).",
        "legal_basis": "Wft art. 4:17: an internal complaints procedure and affiliation with Kifid. Firm policy: "
        "a complaint is answered within 30 days.",
    },
]


def load(apps, schema_editor):
    FrameworkVersion = apps.get_model("framework", "FrameworkVersion")
    FrameworkChange = apps.get_model("framework", "FrameworkChange")
    Rule = apps.get_model("framework", "Rule")
    ReportedValue = apps.get_model("framework", "ReportedValue")
    ConditionNode = apps.get_model("framework", "ConditionNode")
    DecisionInput = apps.get_model("framework", "DecisionInput")
    DecisionRow = apps.get_model("framework", "DecisionRow")
    if FrameworkVersion.objects.exists():
        return  # a firm that already has a framework keeps it
    version = FrameworkVersion.objects.create(
        name=VERSION_NAME,
        status="active",
        effective_date=datetime.date(2026, 1, 1),
        notes="Shipped with Steward: the after-care checks of a Dutch advisory practice. "
        "Copy it to a new draft to adapt it to the firm.",
        activated_at=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    )
    for position, spec in enumerate(RULES, start=1):
        rule = Rule.objects.create(
            version=version,
            key=spec["key"],
            position=position * 10,
            name=spec["name"],
            alert_type=spec["alert_type"],
            granule=spec.get("granule", ""),
            urgency=spec["urgency"],
            kind=spec.get("kind", "expression"),
            condition=spec.get("condition", ""),
            hit_policy="first",
            parameters=spec["parameters"],
            deadline=spec["deadline"],
            message_template=spec["message"],
            legal_basis=spec["legal_basis"],
        )
        for index, (label, expression) in enumerate(spec["reported"], start=1):
            ReportedValue.objects.create(rule=rule, position=index, label=label, expression=expression)
        for outline, kind, expression in spec.get("nodes", []):
            ConditionNode.objects.create(rule=rule, outline=outline, kind=kind, expression=expression)
        for index, (label, expression) in enumerate(spec.get("inputs", []), start=1):
            DecisionInput.objects.create(rule=rule, position=index, label=label, expression=expression)
        for index, (cells, granule, urgency, note) in enumerate(spec.get("rows", []), start=1):
            DecisionRow.objects.create(rule=rule, position=index, cells=cells, granule=granule, urgency=urgency, note=note)
    FrameworkChange.objects.create(version=version, action="created", new_value=VERSION_NAME)
    FrameworkChange.objects.create(version=version, action="activated", old_value="draft", new_value="active")


def unload(apps, schema_editor):
    apps.get_model("framework", "FrameworkVersion").objects.filter(name=VERSION_NAME, created_by=None).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("framework", "0001_rules_and_versions"),
    ]

    operations = [migrations.RunPython(load, unload)]
