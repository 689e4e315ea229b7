"""The client API (read-only): the same selectors as the client pages, so the same access control.

An advisor reaches only their own team's clients; another team's client answers 404, as if it did
not exist. Lists page by keyset in name order, like the client list page.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework.pagination import BasePagination
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView

from config.api_errors import error_responses

from .selectors import client_get_for_user, client_list, client_page
from .serializers import ClientDetailSerializer, ClientFilterSerializer, ClientListItemSerializer
from .services import client_page_view_record


class CanUseClients(BasePermission):
    """The role opens the client area; which clients is up to `clients_visible_to`."""

    message = _("Your role may not use the client pages.")

    def has_permission(self, request, view) -> bool:
        return request.user.has_perm("accounts.access_clients")


class ClientPagination(BasePagination):
    """Keyset pages by (last name, first name, id), from `client_page`: page 20,000 is as quick as page 1.

    No total: counting a million rows is what keyset paging avoids. Follow `next` and `previous`.
    """

    max_page_size = 200

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.page = client_page(
            queryset,
            after=request.query_params.get("after", ""),
            before=request.query_params.get("before", ""),
            size=self.get_page_size(request),
        )
        return self.page.items

    def get_page_size(self, request) -> int:
        try:
            size = int(request.query_params["page_size"])
        except (KeyError, ValueError):
            return api_settings.PAGE_SIZE
        return min(max(size, 1), self.max_page_size)

    def get_paginated_response(self, data):
        return Response(
            {
                "next": self._link("after", self.page.next_cursor),
                "previous": self._link("before", self.page.previous_cursor),
                "results": data,
            }
        )

    def _link(self, direction: str, cursor: str | None) -> str | None:
        if not cursor:
            return None
        url = remove_query_param(remove_query_param(self.request.build_absolute_uri(), "after"), "before")
        return replace_query_param(url, direction, cursor)

    def get_paginated_response_schema(self, schema):
        link = {"type": ["string", "null"], "format": "uri"}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {"next": link, "previous": link, "results": schema},
        }

    def get_schema_operation_parameters(self, view):
        return [
            _query("after", str(_("Cursor: the page after this one (from `next`)."))),
            _query("before", str(_("Cursor: the page before this one (from `previous`)."))),
            _query("page_size", str(_("Clients per page: 50 unless asked, at most 200.")), "integer"),
        ]


def _query(name: str, description: str, type_: str = "string") -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": {"type": type_}}


class ClientListApi(APIView):
    permission_classes = [IsAuthenticated, CanUseClients]
    pagination_class = ClientPagination

    @extend_schema(
        tags=["clients"],
        operation_id="clients_list",
        summary=_("List and search clients"),
        parameters=[ClientFilterSerializer],
        responses={200: ClientListItemSerializer(many=True), **error_responses(400)},
    )
    def get(self, request):
        filters = ClientFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        clients = client_list(user=request.user, filters=filters.to_filters())
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(clients, request, view=self)
        return paginator.get_paginated_response(ClientListItemSerializer(page, many=True).data)


class ClientDetailApi(APIView):
    permission_classes = [IsAuthenticated, CanUseClients]

    @extend_schema(
        tags=["clients"],
        operation_id="clients_retrieve",
        summary=_("One client's file, with a summary of their products"),
        responses={200: ClientDetailSerializer, **error_responses(404)},
    )
    def get(self, request, client_id: int):
        client = client_get_for_user(user=request.user, client_id=client_id)
        # Reading a file through the API is a look like any other: staff must be able to account for it.
        client_page_view_record(client=client, user=request.user)
        return Response(ClientDetailSerializer(client, context={"request": request}).data)
