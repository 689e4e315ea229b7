"""The demo's follow-up: playbooks for all four quadrants, templates in Dutch and English, the demo
advisors' weekly hours, and consents for clients that have none. Safe to run again."""

import datetime as dt

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef

from alerts.models import AlertType, Quadrant
from clients.models import Channel, Client, ContactPreference, Purpose

from .models import AdvisorAvailability, ClientContactRules, MessageTemplate, Playbook
from .services.playbooks import playbook_save

PLAYBOOKS = [
    # (name, quadrant, alert type key, purpose, call to action, flow, [(channel, handled_by, delivery)])
    (
        "Urgent advice: the advisor calls",
        Quadrant.URGENT_SENSITIVE,
        None,
        Purpose.ADVICE,
        "booking",
        "",
        [("phone", "advisor", "direct"), ("email", "back_office", "direct")],
    ),
    (
        "Fixed rate ends soon: choose a new period",
        Quadrant.URGENT_ROUTINE,
        "fixed_rate_ending",
        Purpose.SERVICE,
        "self_service",
        "fixed_rate_period",
        [("email", "back_office", "direct"), ("sms", "back_office", "direct"), ("letter", "back_office", "direct")],
    ),
    (
        "Urgent service matters",
        Quadrant.URGENT_ROUTINE,
        None,
        Purpose.SERVICE,
        "booking",
        "",
        [("email", "back_office", "direct"), ("phone", "back_office", "direct")],
    ),
    (
        "Advice at the next meeting",
        Quadrant.LATER_SENSITIVE,
        None,
        Purpose.ADVICE,
        "booking",
        "",
        [("meeting", "advisor", "direct"), ("email", "back_office", "mailing")],
    ),
    (
        "Routine: confirm your policy",
        Quadrant.LATER_ROUTINE,
        None,
        Purpose.SERVICE,
        "self_service",
        "confirm_policy",
        [("portal", "back_office", "direct"), ("email", "back_office", "mailing")],
    ),
]

TEMPLATES = {
    ("email", "nl"): (
        "{{ client.first_name }}, er is iets in uw dossier dat aandacht vraagt",
        "Beste {{ client.full_name }},\n\nBij de controle van uw dossier zagen wij:\n"
        "{% for alert in alerts %}- {{ alert.type }}{% if alert.due_date %} (vóór {{ alert.due_date|date }})"
        "{% endif %}\n{% endfor %}\n"
        "{% if call_to_action == 'self_service' %}U regelt dit zelf in een paar minuten: {{ link }}"
        "{% else %}Maak een afspraak met {{ advisor.name }}: {{ link }}{% endif %}\n\n"
        "Met vriendelijke groet,\n{{ advisor.name }}\n",
    ),
    ("email", "en"): (
        "{{ client.first_name }}, something in your file needs your attention",
        "Dear {{ client.full_name }},\n\nWhile checking your file we noticed:\n"
        "{% for alert in alerts %}- {{ alert.type }}{% if alert.due_date %} (before {{ alert.due_date|date }})"
        "{% endif %}\n{% endfor %}\n"
        "{% if call_to_action == 'self_service' %}You can arrange this yourself in a few minutes: {{ link }}"
        "{% else %}Book a meeting with {{ advisor.name }}: {{ link }}{% endif %}\n\n"
        "Kind regards,\n{{ advisor.name }}\n",
    ),
    ("sms", "nl"): (
        "",
        "Beste {{ client.first_name }}, uw dossier vraagt aandacht ({{ alerts|length }}). Bekijk: {{ link }}",
    ),
    ("sms", "en"): (
        "",
        "Dear {{ client.first_name }}, your file needs attention ({{ alerts|length }}). See: {{ link }}",
    ),
}

DEFAULT_CONSENTS = [
    (Purpose.SERVICE, Channel.EMAIL, True),
    (Purpose.SERVICE, Channel.LETTER, False),
    (Purpose.SERVICE, Channel.PORTAL, False),
    (Purpose.ADVICE, Channel.EMAIL, True),
    (Purpose.ADVICE, Channel.PHONE, False),
    (Purpose.ADVICE, Channel.MEETING, False),
]


@transaction.atomic
def demo_followup_load(*, stdout) -> None:
    User = get_user_model()
    admin = User.objects.filter(username="admin").first()
    created = 0
    if not Playbook.objects.exists():
        types = {t.key: t for t in AlertType.objects.all()}
        for name, quadrant, type_key, purpose, cta, flow, steps in PLAYBOOKS:
            playbook = Playbook(
                name=name,
                quadrant=quadrant,
                alert_type=types.get(type_key) if type_key else None,
                purpose=purpose,
                call_to_action=cta,
                self_service_flow=flow,
            )
            if type_key and playbook.alert_type is None:
                continue
            playbook_save(
                playbook=playbook,
                steps=[{"channel": c, "handled_by": h, "delivery": d} for c, h, d in steps],
                user=admin,
            )
            created += 1
    for (channel, language), (subject, body) in TEMPLATES.items():
        MessageTemplate.objects.get_or_create(
            channel=channel,
            language=language,
            playbook=None,
            defaults={"subject": subject, "body": body, "updated_by": admin},
        )
    # The demo advisors meet clients on weekdays, 9 to 12 and 13 to 17, an hour each.
    for advisor in User.objects.filter(groups__name="Advisor"):
        if not AdvisorAvailability.objects.filter(advisor=advisor).exists():
            AdvisorAvailability.objects.bulk_create(
                AdvisorAvailability(advisor=advisor, weekday=day, start_time=start, end_time=end)
                for day in range(5)
                for start, end in ((dt.time(9), dt.time(12)), (dt.time(13), dt.time(17)))
            )
    # Clients from the demo sources may have no consents recorded: give them the common ones.
    missing = list(
        Client.objects.filter(deleted_at__isnull=True)
        .exclude(Exists(ContactPreference.objects.filter(client=OuterRef("pk"))))
        .values_list("pk", flat=True)
    )
    ContactPreference.objects.bulk_create(
        [
            ContactPreference(
                client_id=pk, purpose=purpose, channel=channel, consent="granted", preferred=preferred, source="demo"
            )
            for pk in missing
            for purpose, channel, preferred in DEFAULT_CONSENTS
        ],
        batch_size=5000,
        ignore_conflicts=True,
    )
    # One client in ten reads English.
    english = Client.objects.filter(deleted_at__isnull=True).exclude(
        Exists(ClientContactRules.objects.filter(client=OuterRef("pk")))
    )
    ClientContactRules.objects.bulk_create(
        [
            ClientContactRules(client_id=pk, language="en")
            for pk in english.values_list("pk", flat=True)
            if pk % 10 == 0
        ],
        batch_size=5000,
        ignore_conflicts=True,
    )
    stdout.write(
        f"Follow-up: {created} playbooks, {MessageTemplate.objects.count()} templates, "
        f"consents added for {len(missing)} clients."
    )
