from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.shortcuts import render

from .forms import ClientSearchForm
from .selectors import ClientFilters, client_get_for_user, client_list, client_page
from .services import client_page_view_record


@permission_required("accounts.access_clients", raise_exception=True)
def client_list_view(request):
    form = ClientSearchForm(request.GET or None, user=request.user)
    filters = ClientFilters()
    if form.is_valid():
        data = form.cleaned_data
        filters = ClientFilters(
            query=data["q"],
            advisor_id=data["advisor"].pk if data["advisor"] else None,
            team_id=data["team"].pk if data.get("team") else None,
            segment=data["segment"],
        )
    page = client_page(
        client_list(user=request.user, filters=filters),
        after=request.GET.get("after", ""),
        before=request.GET.get("before", ""),
    )
    query = request.GET.copy()
    query.pop("after", None)
    query.pop("before", None)
    return render(
        request,
        "clients/client_list.html",
        {
            "form": form,
            "page": page,
            "base_query": query.urlencode(),
            "filtered": any(vars(filters).values()),
        },
    )


@permission_required("accounts.access_clients", raise_exception=True)
def client_detail_view(request, client_id: int):
    client = client_get_for_user(user=request.user, client_id=client_id)
    client_page_view_record(client=client, user=request.user)
    return render(
        request,
        "clients/client_detail.html",
        {
            "client": client,
            "bsn_enabled": settings.STEWARD_BSN_ENABLED,
            "show_bsn": request.user.has_perm("clients.reveal_bsn"),
            "timeline_sections": getattr(settings, "STEWARD_CLIENT_TIMELINE_SECTIONS", []),
            "page_sections": getattr(settings, "STEWARD_CLIENT_PAGE_SECTIONS", []),
        },
    )
