"""Privacy pages: the register of processing for admins, and a client's data export (access request)."""

from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.text import slugify

from clients.selectors import clients_visible_to

from .dsar import client_data_export
from .dsar_pdf import export_pdf
from .privacy_export import register_csv, register_markdown
from .privacy_register import processing_register


# Admins only: the role that holds trust's permissions (accounts/roles.py gives Admin everything).
@permission_required("trust.view_legalhold", raise_exception=True)
def processing_register_view(request):
    download = request.GET.get("format", "")
    if download == "csv":
        response = HttpResponse(register_csv(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="register-of-processing.csv"'
        return response
    if download == "md":
        response = HttpResponse(register_markdown(), content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="register-of-processing.md"'
        return response
    return render(request, "trust/privacy_register.html", {"activities": processing_register()})


@permission_required("trust.export_client_data", raise_exception=True)
def client_export_view(request, client_id: int, file_format: str):
    """Everything about one client (GDPR art. 15), for the advisors of the client's team and admins."""
    client = clients_visible_to(request.user).filter(pk=client_id).first()
    if client is None:
        raise Http404("No such client")
    export = client_data_export(client=client, include_bsn=request.user.has_perm("clients.reveal_bsn"))
    name = f"client-{client.pk}-{slugify(client.last_name)}"
    if file_format == "pdf":
        response = HttpResponse(export_pdf(export), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    else:
        response = HttpResponse(export.as_json(), content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.json"'
    response["Cache-Control"] = "no-store"  # personal data: no copy in a browser or proxy cache
    return response
