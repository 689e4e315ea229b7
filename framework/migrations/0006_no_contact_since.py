"""The shipped "no contact for 12 months" rule reports the date contact stopped, not a day count.

Its message said "No contact for {days_without_contact} days": a value that changes every day, so
every alert of the rule (about one client in eight) was rewritten every night with nothing in the
client's file changed, and a night could never skip those clients (framework.horizon). The date
the contact stopped says the same, holds until something happens, and is what an advisor checks
against the client's file.

Like 0003, this changes the shipped default framework only while it is the one in force and nobody
has changed it, and only while the rule is still as shipped. A firm's own framework is untouched.
"""

from django.db import migrations

VERSION_NAME = "Default framework"
RULE_KEY = "no_contact_12_months"

OLD_MESSAGE = "No contact for {days_without_contact} days (last contact: {last_contact})."
OLD_REPORTED = [
    ("last_contact", "max(contact_moments.occurred_on)"),
    ("days_without_contact", "days_between(coalesce(max(contact_moments.occurred_on), client.client_since), today)"),
]

NEW_MESSAGE = (
    "No contact since {no_contact_since} (last contact on file: {last_contact}): plan a contact, for instance "
    "the yearly review the service agreement promises."
)
NEW_REPORTED = [
    ("last_contact", "max(contact_moments.occurred_on)"),
    ("no_contact_since", "coalesce(max(contact_moments.occurred_on), client.client_since)"),
]


def _shipped_rule(apps, message, reported):
    FrameworkVersion = apps.get_model("framework", "FrameworkVersion")
    FrameworkChange = apps.get_model("framework", "FrameworkChange")
    Rule = apps.get_model("framework", "Rule")
    version = FrameworkVersion.objects.filter(name=VERSION_NAME, created_by=None, status="active").first()
    if version is None or FrameworkChange.objects.filter(version=version, user__isnull=False).exists():
        return None
    rule = Rule.objects.filter(version=version, key=RULE_KEY, message_template=message).first()
    if rule is None:
        return None
    values = list(rule.reported_values.order_by("position").values_list("label", "expression"))
    return rule if values == [tuple(pair) for pair in reported] else None


def _replace(apps, old, new):
    ReportedValue = apps.get_model("framework", "ReportedValue")
    FrameworkChange = apps.get_model("framework", "FrameworkChange")
    (old_message, old_reported), (new_message, new_reported) = old, new
    rule = _shipped_rule(apps, old_message, old_reported)
    if rule is None:
        return
    rule.message_template = new_message
    rule.save(update_fields=["message_template"])
    rule.reported_values.all().delete()
    for position, (label, expression) in enumerate(new_reported, start=1):
        ReportedValue.objects.create(rule=rule, position=position, label=label, expression=expression)
    changes = [("message_template", old_message, new_message)]
    changes += [
        ("reported values", "\n".join(f"{label}: {e}" for label, e in old_reported),
         "\n".join(f"{label}: {e}" for label, e in new_reported)),
    ]
    for field, old_value, new_value in changes:
        FrameworkChange.objects.create(
            version=rule.version, rule=rule, rule_key=rule.key, action="changed",
            field=field, old_value=old_value, new_value=new_value,
        )


def forwards(apps, schema_editor):
    _replace(apps, (OLD_MESSAGE, OLD_REPORTED), (NEW_MESSAGE, NEW_REPORTED))


def backwards(apps, schema_editor):
    _replace(apps, (NEW_MESSAGE, NEW_REPORTED), (OLD_MESSAGE, OLD_REPORTED))


class Migration(migrations.Migration):
    dependencies = [
        ("framework", "0005_client_evaluation"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
