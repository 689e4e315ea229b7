"""Pages of the audit trail and the duty-of-care file: adapters over trust's selectors.

Both are about one client, so both answer 404 for a client the user may not see (another team's),
exactly as the 360° page does.
"""

from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render

from clients.models import Client
from clients.selectors import clients_visible_to

from .audit_selectors import client_changes
from .duty_of_care import duty_of_care_file, duty_of_care_filename, duty_of_care_json, duty_of_care_pdf


def _client_for(request, client_id: int) -> Client:
    return get_object_or_404(clients_visible_to(request.user).select_related("team", "advisor"), pk=client_id)


@permission_required("accounts.access_clients", raise_exception=True)
def client_history_view(request, client_id: int):
    """Every recorded change of the client's file: field, old → new, who or which source, when."""
    client = _client_for(request, client_id)
    template = "trust/audit_client_history_list.html" if request.htmx else "trust/audit_client_history.html"
    return render(request, template, {"client": client, "entries": client_changes(client=client)})


@permission_required("trust.download_duty_of_care", raise_exception=True)
def duty_of_care_download_view(request, client_id: int, file_format: str):
    """The client's duty-of-care file for the supervisor, as JSON or PDF."""
    if file_format not in ("json", "pdf"):
        raise Http404
    client = _client_for(request, client_id)
    document = duty_of_care_file(client=client, user=request.user)
    if file_format == "json":
        response = HttpResponse(duty_of_care_json(document), content_type="application/json; charset=utf-8")
    else:
        response = HttpResponse(duty_of_care_pdf(document), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{duty_of_care_filename(document, file_format)}"'
    return response
