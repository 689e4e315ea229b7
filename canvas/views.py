"""The canvas pages: the board, its history, two versions compared, and the downloads.

The board works without JavaScript too (typing the scores posts the form here); with it, the
cards are dragged or moved with the keyboard and canvas.js saves through the API.
"""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from alerts.models import AlertType, Quadrant

from . import services
from .export import canvas_drawing, pdf_render, svg_render
from .forms import GranulationForm, PlaceForm
from .segments import Attribute
from .selectors import canvas_board, canvas_compare, canvas_versions, latest_version, placement_history, placements_at

CAN_USE = "accounts.access_canvas"


def _version(request, name: str = "version") -> int | None:
    try:
        return int(request.GET[name])
    except (KeyError, ValueError):
        return None


@permission_required(CAN_USE, raise_exception=True)
def board_view(request):
    board = canvas_board()
    splits = {split.alert_type_id: split for split in board.splits.values()}
    return render(
        request,
        "canvas/board.html",
        {
            "board": board,
            "quadrants": [
                (Quadrant.LATER_SENSITIVE, Quadrant.LATER_SENSITIVE.label),
                (Quadrant.URGENT_SENSITIVE, Quadrant.URGENT_SENSITIVE.label),
                (Quadrant.LATER_ROUTINE, Quadrant.LATER_ROUTINE.label),
                (Quadrant.URGENT_ROUTINE, Quadrant.URGENT_ROUTINE.label),
            ],
            "place_form": PlaceForm(cards=board.cards),
            "granulation_form": GranulationForm(),
            "granulations": [
                (alert_type, splits.get(alert_type.pk)) for alert_type in AlertType.objects.order_by("name")
            ],
            "attributes": Attribute.choices,
            "history": placement_history(limit=12),
            "texts": _texts(),
        },
    )


def _texts() -> dict:
    """What canvas.js says (to screen readers, and when a save fails), in the user's language."""
    return {
        "picked": _("%(card)s picked up. Arrow keys move it 5 points; Enter drops it, Escape puts it back."),
        "position": _("Urgency %(urgency)s, advice-sensitivity %(sensitivity)s: %(quadrant)s."),
        "hidden_position": _(", urgency %(urgency)s, advice-sensitivity %(sensitivity)s"),
        "saved": _("Saved: %(card)s; %(count)s open alerts re-prioritised."),
        "tray": _("%(card)s is back in the tray."),
        "cancelled": _("Move cancelled."),
        "undone": _("Undone: %(card)s is back where it was."),
        "failed": _("Not saved: %(message)s"),
        "type_both": _("Type both scores, from 0 to 100."),
        "quadrants": {value: str(label) for value, label in Quadrant.choices},
    }


@require_POST
@permission_required(CAN_USE, raise_exception=True)
def place_view(request):
    """Typing the two scores (or sending a card back to the tray) without JavaScript."""
    form = PlaceForm(request.POST, cards=canvas_board().cards)
    if not form.is_valid():
        messages.error(request, " ".join(str(error) for errors in form.errors.values() for error in errors))
        return redirect("canvas:board")
    key, segment = form.card_parts
    to_tray = form.cleaned_data["to_tray"]
    try:
        change = services.placement_move(
            alert_type=get_object_or_404(AlertType, key=key),
            segment=segment,
            urgency=None if to_tray else form.cleaned_data["urgency"],
            sensitivity=None if to_tray else form.cleaned_data["advice_sensitivity"],
            user=request.user,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Saved: %(count)s open alerts re-prioritised.") % {"count": change.alerts_updated})
    return redirect("canvas:board")


@require_POST
@permission_required(CAN_USE, raise_exception=True)
def undo_view(request):
    try:
        services.placement_undo(user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("Your latest move is undone."))
    return redirect("canvas:board")


@require_POST
@permission_required(CAN_USE, raise_exception=True)
def granulation_view(request):
    form = GranulationForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(error) for errors in form.errors.values() for error in errors))
        return redirect("canvas:board")
    data = form.cleaned_data
    updated = services.granulation_set(
        alert_type=data["alert_type"], attribute=data["attribute"], bounds=data["bounds"], user=request.user
    )
    messages.success(
        request,
        _("%(type)s is split anew; its segments wait in the tray. %(count)s open alerts re-prioritised.")
        % {"type": data["alert_type"].name, "count": updated},
    )
    return redirect("canvas:board")


@permission_required(CAN_USE, raise_exception=True)
def history_view(request):
    """The whole history, or (for htmx, after a move) the panel on the board."""
    if request.htmx:
        return render(request, "canvas/_history.html", {"history": placement_history(limit=12)})
    return render(request, "canvas/history.html", {"history": placement_history(limit=500)})


@permission_required(CAN_USE, raise_exception=True)
def compare_view(request):
    """Two versions side by side: the cards that moved, and the board with where they were."""
    versions = canvas_versions()
    latest = latest_version()
    version_b = _version(request, "b") or latest
    version_a = _version(request, "a") or (versions[1][0] if len(versions) > 1 else latest)
    context = {"versions": versions, "version_a": version_a, "version_b": version_b, "differences": []}
    if version_a and version_b:
        differences = canvas_compare(version_a=version_a, version_b=version_b)
        board = canvas_board(version=version_b)
        before = _card_positions(version_a)
        title = _("Canvas: version #%(a)s (dashed) and #%(b)s") % {"a": version_a, "b": version_b}
        context |= {
            "differences": differences,
            # Every text in the drawing is escaped by svg_render.
            "drawing": mark_safe(svg_render(canvas_drawing(board, title=title, before=before), title=title)),  # noqa: S308
        }
    return render(request, "canvas/compare.html", context)


def _card_positions(version: int) -> dict[str, tuple[int, int] | None]:
    types = dict(AlertType.objects.values_list("pk", "key"))
    return {
        f"{types[type_id]}|{segment}": position
        for (type_id, segment), position in placements_at(version=version).items()
    }


@permission_required(CAN_USE, raise_exception=True)
def export_view(request, file_format: str):
    """The board (now, or as it was after ?version=) as an SVG image or a PDF, for the team meeting."""
    version = _version(request)
    board = canvas_board(version=version)
    today = timezone.localdate()
    title = (
        _("Steward canvas, version #%(version)s") % {"version": version}
        if version
        else _("Steward canvas, %(date)s") % {"date": today.isoformat()}
    )
    shapes = canvas_drawing(board, title=title)
    name = f"steward-canvas-{f'v{version}' if version else today.isoformat()}"
    if file_format == "pdf":
        response = HttpResponse(pdf_render(shapes, title=title), content_type="application/pdf")
    else:
        response = HttpResponse(svg_render(shapes, title=title), content_type="image/svg+xml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.{file_format}"'
    return response
