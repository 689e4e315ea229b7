"""Playbooks and templates: every change is recorded as a PlaybookChange (the marker insights use)."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import MessageTemplate, Playbook, PlaybookChange, PlaybookStep
from ..templating import message_template_check


def _describe(playbook: Playbook, steps: list[dict]) -> str:
    channels = ", ".join(step["channel"] for step in steps) or "-"
    scope = playbook.get_quadrant_display()
    if playbook.alert_type_id:
        scope += f" / {playbook.alert_type}"
    if playbook.segment:
        scope += f" / {playbook.segment}"
    state = "" if playbook.is_active else " (inactive)"
    return f"{playbook.name}{state}: {scope}; {playbook.purpose}; {channels}; {playbook.call_to_action}"


@transaction.atomic
def playbook_save(*, playbook: Playbook, steps: list[dict], user) -> Playbook:
    """Create or update a playbook with its ordered steps (dicts of channel, handled_by, delivery)."""
    if not steps:
        raise ValidationError(_("A playbook needs at least one channel."))
    if playbook.call_to_action == "self_service" and not playbook.self_service_flow:
        raise ValidationError(_("Choose the self-service flow the client is asked to complete."))
    created = playbook.pk is None
    if created and not playbook.position:
        last = Playbook.objects.order_by("-position").values_list("position", flat=True).first()
        playbook.position = (last or 0) + 1
    playbook.updated_at, playbook.updated_by = timezone.now(), user
    playbook.full_clean()
    playbook.save()
    playbook.steps.all().delete()
    PlaybookStep.objects.bulk_create(
        PlaybookStep(
            playbook=playbook,
            order=index,
            channel=step["channel"],
            handled_by=step.get("handled_by") or PlaybookStep.HandledBy.BACK_OFFICE,
            delivery=step.get("delivery") or PlaybookStep.Delivery.DIRECT,
        )
        for index, step in enumerate(steps)
    )
    verb = _("Created") if created else _("Changed")
    PlaybookChange.objects.create(by=user, playbook=playbook, summary=f"{verb}: {_describe(playbook, steps)}")
    return playbook


@transaction.atomic
def playbook_delete(*, playbook: Playbook, user) -> None:
    PlaybookChange.objects.create(by=user, playbook=None, summary=_("Deleted: %(name)s") % {"name": playbook.name})
    playbook.delete()


@transaction.atomic
def playbook_move(*, playbook: Playbook, up: bool, user) -> None:
    """Swap with the neighbour above (or below): playbooks are read top-down."""
    ordered = list(Playbook.objects.select_for_update().order_by("position", "id"))
    index = next(i for i, p in enumerate(ordered) if p.pk == playbook.pk)
    other = index - 1 if up else index + 1
    if not 0 <= other < len(ordered):
        return
    ordered[index], ordered[other] = ordered[other], ordered[index]
    for position, item in enumerate(ordered, start=1):
        if item.position != position:
            Playbook.objects.filter(pk=item.pk).update(position=position)
    Playbook.objects.filter(pk=playbook.pk).update(updated_at=timezone.now(), updated_by=user)
    PlaybookChange.objects.create(
        by=user,
        playbook=playbook,
        summary=(_("Moved up: %(name)s") if up else _("Moved down: %(name)s")) % {"name": playbook.name},
    )


@transaction.atomic
def message_template_save(*, template: MessageTemplate, user) -> MessageTemplate:
    """Save a template after checking it parses inside the sandbox (the error says the line)."""
    for text in (template.subject, template.body):
        message_template_check(text)
    template.updated_at, template.updated_by = timezone.now(), user
    template.full_clean()
    template.save()
    PlaybookChange.objects.create(
        by=user,
        playbook=template.playbook,
        summary=_("Template saved: %(channel)s (%(language)s)")
        % {"channel": template.channel, "language": template.language},
    )
    return template


def playbooks_renumber() -> None:
    """Positions 1..n in the current order (after a delete)."""
    for position, pk in enumerate(Playbook.objects.order_by("position", "id").values_list("pk", flat=True), start=1):
        Playbook.objects.filter(pk=pk).exclude(position=position).update(position=F("position") * 0 + position)
