"""The default canvas: the default framework's alert types, and the firm's seed placements.

Plain data, so this migration stays valid whatever the code becomes. Scores are (urgency,
advice-sensitivity), 0–100; priority and quadrant are written out as the canvas computed them when
this was written: priority = round(0.6 · urgency + 0.4 · advice-sensitivity), 50 or more is urgent
(advice-sensitive). The other alert types wait in the tray for back office to place them.
"""

from django.db import migrations

LIVE = ["open", "in_progress", "snoozed"]

# Keys as the default framework's rules raise them (framework/migrations/0002_default_framework.py).
ALERT_TYPES = [
    ("fixed_rate_ending", "Fixed-interest period ends"),
    ("home_underinsured", "Home insured below its rebuild value"),
    ("pension_gap", "Pension replacement ratio below 70%"),
    ("interest_only_past_aow", "Interest-only loan part runs past the state pension date"),
    ("no_life_cover", "Mortgage with dependants and no life cover"),
    ("no_recent_contact", "No contact for 12 months"),
    ("stale_data", "Client data out of date"),
    ("complaint_overdue", "Complaint unresolved after 30 days"),
]

# (alert type, segment ("" = the whole type), urgency, advice-sensitivity, priority, quadrant)
PLACEMENTS = [
    # A fixed-interest period that ends within two weeks: urgent, and a little advice-sensitive.
    ("fixed_rate_ending", "fixed_rate_within_14_days", 90, 30, 66, "urgent_routine"),
    # Within six months: the same conversation, not urgent yet. When fewer than 14 days are left the
    # framework moves the alert to the card above, and it escalates by itself.
    ("fixed_rate_ending", "fixed_rate_within_6_months", 40, 30, 36, "later_routine"),
    # Home insurance below the property's value: a little urgent, not advice-sensitive.
    ("home_underinsured", "", 30, 5, 20, "later_routine"),
    # A poorly covered pension at age 30 and over: not urgent, but very advice-sensitive.
    ("pension_gap", "pension_gap", 10, 90, 42, "later_sensitive"),
]


def seed(apps, schema_editor):
    AlertType = apps.get_model("alerts", "AlertType")
    Alert = apps.get_model("alerts", "Alert")
    Placement = apps.get_model("canvas", "Placement")
    PlacementChange = apps.get_model("canvas", "PlacementChange")
    types = {}
    for key, name in ALERT_TYPES:
        types[key] = AlertType.objects.get_or_create(key=key, defaults={"name": name})[0]
    if Placement.objects.exists():
        return  # a firm that has placed its cards keeps them
    for key, segment, urgency, sensitivity, priority, quadrant in PLACEMENTS:
        Placement.objects.create(
            alert_type=types[key], segment=segment, urgency=urgency, advice_sensitivity=sensitivity
        )
        PlacementChange.objects.create(
            alert_type=types[key], segment=segment, to_urgency=urgency, to_advice_sensitivity=sensitivity
        )
        live = Alert.objects.filter(alert_type=types[key], status__in=LIVE)
        if segment:
            live = live.filter(segment=segment)
        live.update(priority=priority, quadrant=quadrant)


def unseed(apps, schema_editor):
    # The seed's own rows only: no user, from the tray, to the seeded place. Alert types stay (alerts use them).
    PlacementChange = apps.get_model("canvas", "PlacementChange")
    Placement = apps.get_model("canvas", "Placement")
    for key, segment, urgency, sensitivity, _priority, _quadrant in PLACEMENTS:
        seeded = {"alert_type__key": key, "segment": segment}
        PlacementChange.objects.filter(
            **seeded, user=None, from_urgency=None, to_urgency=urgency, to_advice_sensitivity=sensitivity
        ).delete()
        Placement.objects.filter(**seeded, updated_by=None, urgency=urgency, advice_sensitivity=sensitivity).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("canvas", "0001_placements_and_history"),
        ("alerts", "0001_alerts_and_lifecycle"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
