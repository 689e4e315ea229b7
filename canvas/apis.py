"""The canvas API under /api/canvas/: the board's cards, moving a card, undo, history, granulation.

Used by the canvas page (canvas.js) with the browser's session, so DRF checks the CSRF token of
every write; a token works too. Only roles with `accounts.access_canvas` (back office, admins) may
use it. Every write is one service call and answers with the whole board, so the page shows the
counts and places as the server now has them.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_errors import error_responses

from . import services
from .selectors import canvas_board, placement_history
from .serializers import (
    BoardSerializer,
    ChangeSerializer,
    GranulationInputSerializer,
    GranulationResultSerializer,
    PlacementInputSerializer,
)


class CanUseCanvas(BasePermission):
    message = _("Your role may not use the canvas.")

    def has_permission(self, request, view) -> bool:
        return request.user.has_perm("accounts.access_canvas")


def _cards() -> list[dict]:
    return [card.as_dict() for card in canvas_board().cards]


class CanvasApi(APIView):
    permission_classes = [IsAuthenticated, CanUseCanvas]


class CardListApi(CanvasApi):
    @extend_schema(
        tags=["canvas"],
        operation_id="canvas_cards",
        summary=_("Every card of the canvas: its place and its live alerts"),
        responses={200: BoardSerializer, **error_responses()},
    )
    def get(self, request):
        return Response({"cards": _cards(), "change": None})


class PlacementApi(CanvasApi):
    @extend_schema(
        tags=["canvas"],
        operation_id="canvas_place",
        summary=_("Place a card (or put it back in the tray); its live alerts follow at once"),
        request=PlacementInputSerializer,
        responses={200: BoardSerializer, **error_responses(400)},
    )
    def post(self, request):
        payload = PlacementInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        change = services.placement_move(
            alert_type=data["alert_type"],
            segment=data["segment"],
            urgency=data["urgency"],
            sensitivity=data["advice_sensitivity"],
            user=request.user,
        )
        return Response({"cards": _cards(), "change": ChangeSerializer(change).data})


class UndoApi(CanvasApi):
    @extend_schema(
        tags=["canvas"],
        operation_id="canvas_undo",
        summary=_("Undo your latest move"),
        request=None,
        responses={200: BoardSerializer, **error_responses(400)},
    )
    def post(self, request):
        change = services.placement_undo(user=request.user)
        return Response({"cards": _cards(), "change": ChangeSerializer(change).data})


class HistoryApi(CanvasApi):
    @extend_schema(
        tags=["canvas"],
        operation_id="canvas_history",
        summary=_("Who moved what, and when (the latest 200 changes)"),
        responses={200: ChangeSerializer(many=True), **error_responses()},
    )
    def get(self, request):
        return Response(ChangeSerializer(placement_history(limit=200), many=True).data)


class GranulationApi(CanvasApi):
    @extend_schema(
        tags=["canvas"],
        operation_id="canvas_granulate",
        summary=_("Split an alert type into segments by an attribute, or back to the framework's granules"),
        request=GranulationInputSerializer,
        responses={200: GranulationResultSerializer, **error_responses(400)},
    )
    def post(self, request):
        payload = GranulationInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        updated = services.granulation_set(
            alert_type=data["alert_type"], attribute=data["attribute"], bounds=data["bounds"], user=request.user
        )
        return Response({"alerts_updated": updated, "cards": _cards()})
