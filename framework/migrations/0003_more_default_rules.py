"""Five more after-care checks for the shipped framework (14 rules in all).

Mortgage advice in the Netherlands covers more than the loan: the risks around it (disability,
retirement), the buffer the household keeps, whether the loan could carry National Mortgage
Guarantee (NHG), and whether the valuation it rests on is still current. Plain data, like 0002.

The rules join the shipped default framework only while it is still the one in force and nobody has
changed it (it was shipped, never edited: it has no changelog rows of a person). A firm that runs
its own framework keeps it untouched; it can copy these rules from the code into a draft.
"""

from django.db import migrations

VERSION_NAME = "Default framework"

DUTY_OF_CARE = (
    "Wft art. 4:24a: the duty of care (zorgplicht) to act with due care in the client's legitimate "
    "interest, which for an adviser includes after-care on products advised earlier."
)

RULES = [
    {
        "key": "mortgage_without_disability_cover",
        "name": "Mortgage without disability cover",
        "alert_type": "no_disability_cover",
        "urgency": "normal",
        "condition": 'any(mortgages) and not any(policies[kind = "disability"]) and facts.age < max_age',
        "parameters": {"max_age": 60},
        "reported": [
            ("mortgage_balance", "facts.mortgage_balance"),
            ("gross_income", "facts.gross_income"),
        ],
        "deadline": "",
        "message": "A mortgage of € {mortgage_balance} rests on an income of € {gross_income} a year, and no "
        "disability cover is known: discuss what happens to the housing costs if the client cannot work.",
        "legal_basis": DUTY_OF_CARE + " Wft art. 4:23: mortgage advice covers the risks of the loan. Firm "
        "policy: income protection (woonlastenbeschermer or AOV) is discussed with every mortgage client "
        "of working age.",
    },
    {
        "key": "mortgage_term_past_state_pension",
        "name": "Repaying loan part runs past the state pension date",
        "alert_type": "mortgage_past_aow",
        "urgency": "normal",
        "condition": 'any(loan_parts, repayment_type != "interest_only" and end_date > facts.state_pension_date\n'
        "    and outstanding_balance > 0)",
        "parameters": {},
        "reported": [
            (
                "balance_past_aow",
                'sum(loan_parts[repayment_type != "interest_only" and end_date > facts.state_pension_date]'
                ".outstanding_balance)",
            ),
            ("term_ends", 'max(loan_parts[repayment_type != "interest_only"].end_date)'),
            ("state_pension_date", "facts.state_pension_date"),
        ],
        "deadline": "facts.state_pension_date",
        "message": "€ {balance_past_aow} is still being repaid after the state pension (AOW) date "
        "{state_pension_date} (until {term_ends}): check that the payments fit the retirement income.",
        "legal_basis": DUTY_OF_CARE + " Firm policy: housing costs after retirement are tested against the "
        "projected retirement income, as lenders' affordability norms (Nibud) do.",
    },
    {
        "key": "savings_buffer_low",
        "name": "Savings buffer below three months of income",
        "alert_type": "savings_buffer_low",
        "urgency": "low",
        "condition": 'facts.gross_income > 0 and sum(assets[kind in ["savings", "bank_savings"]].balance)\n'
        "    < facts.gross_income * buffer_share",
        "parameters": {"buffer_share": 0.25},
        "reported": [
            ("savings", 'sum(assets[kind in ["savings", "bank_savings"]].balance)'),
            ("buffer_target", "facts.gross_income * buffer_share"),
        ],
        "deadline": "",
        "message": "Savings of € {savings} against a buffer of € {buffer_target} (three months of gross "
        "income): discuss a buffer for unexpected costs before new commitments.",
        "legal_basis": "Wft art. 4:23: advice rests on the client's financial position. Firm policy, after "
        "Nibud's advice: keep a buffer of about three months of income.",
    },
    {
        "key": "mortgage_within_nhg_limit",
        "name": "Mortgage within the NHG cost limit without NHG",
        "alert_type": "nhg_possible",
        "urgency": "low",
        "condition": "any(mortgages) and count(mortgages[nhg = true]) = 0 and facts.mortgage_balance > 0\n"
        "    and facts.mortgage_balance <= nhg_cost_limit",
        "parameters": {"nhg_cost_limit": 470000},
        "reported": [
            ("mortgage_balance", "facts.mortgage_balance"),
            ("nhg_cost_limit", "nhg_cost_limit"),
        ],
        "deadline": "",
        "message": "The mortgage (€ {mortgage_balance}) is below the NHG cost limit of € {nhg_cost_limit} "
        "but has no National Mortgage Guarantee: at the next refinancing or rate renewal, NHG may lower "
        "the interest rate and protects against a remaining debt.",
        "legal_basis": DUTY_OF_CARE + " Stichting WEW sets the NHG cost limit yearly (€ 470,000 for 2026; "
        "update the parameter each January). Firm policy: point out NHG wherever it is possible.",
    },
    {
        "key": "market_value_outdated",
        "name": "Market value of the home out of date",
        # A type of its own, not a granule of stale_data: one live alert per client and type, and a
        # client with stale income and an old valuation needs both followed up.
        "alert_type": "outdated_valuation",
        "urgency": "low",
        "condition": "any(mortgages) and property.market_value_date < today - valuation_years years",
        "parameters": {"valuation_years": 5},
        "reported": [
            ("market_value", "property.market_value"),
            ("market_value_date", "property.market_value_date"),
            ("indexed_value", "facts.indexed_property_value"),
        ],
        "deadline": "",
        "message": "The market value on file (€ {market_value}) dates from {market_value_date}; indexed it is "
        "about € {indexed_value}. A current valuation may lower the loan-to-value band and the interest rate.",
        "legal_basis": "Wft art. 4:23: advice rests on current information. Firm policy: a valuation older "
        "than five years is refreshed before advising on the mortgage.",
    },
]


def _shipped_default(apps):
    FrameworkVersion = apps.get_model("framework", "FrameworkVersion")
    FrameworkChange = apps.get_model("framework", "FrameworkChange")
    version = FrameworkVersion.objects.filter(name=VERSION_NAME, created_by=None, status="active").first()
    if version is None or FrameworkChange.objects.filter(version=version, user__isnull=False).exists():
        return None
    return version


def load(apps, schema_editor):
    Rule = apps.get_model("framework", "Rule")
    ReportedValue = apps.get_model("framework", "ReportedValue")
    FrameworkChange = apps.get_model("framework", "FrameworkChange")
    version = _shipped_default(apps)
    if version is None:
        return
    last = Rule.objects.filter(version=version).order_by("-position").values_list("position", flat=True).first() or 0
    for offset, spec in enumerate(RULES, start=1):
        if Rule.objects.filter(version=version, key=spec["key"]).exists():
            continue
        rule = Rule.objects.create(
            version=version,
            key=spec["key"],
            position=last + offset * 10,
            name=spec["name"],
            alert_type=spec["alert_type"],
            granule=spec.get("granule", ""),
            urgency=spec["urgency"],
            kind="expression",
            condition=spec["condition"],
            hit_policy="first",
            parameters=spec["parameters"],
            deadline=spec["deadline"],
            message_template=spec["message"],
            legal_basis=spec["legal_basis"],
        )
        for index, (label, expression) in enumerate(spec["reported"], start=1):
            ReportedValue.objects.create(rule=rule, position=index, label=label, expression=expression)
        FrameworkChange.objects.create(
            version=version, rule=rule, rule_key=rule.key, action="created", new_value=spec["name"]
        )


def unload(apps, schema_editor):
    Rule = apps.get_model("framework", "Rule")
    FrameworkVersion = apps.get_model("framework", "FrameworkVersion")
    version = FrameworkVersion.objects.filter(name=VERSION_NAME, created_by=None).first()
    if version is not None:
        Rule.objects.filter(version=version, key__in=[spec["key"] for spec in RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("framework", "0002_default_framework"),
    ]

    operations = [migrations.RunPython(load, unload)]
