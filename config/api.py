"""The REST API under /api/: its endpoints, the OpenAPI schema and the interactive docs.

Login: DRF marks its views `login_required = False`, so Django's LoginRequiredMiddleware lets API
calls through to DRF, which authenticates them itself (a token, or the session of a logged-in user)
and answers an anonymous call 401 in the one error shape (config/api_errors.py) instead of
redirecting it to the login page. Only the docs page, which people open in a browser, sends an
anonymous visitor to log in.
"""

from django.contrib.auth.decorators import login_required
from django.urls import path, re_path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.renderers import (
    OpenApiJsonRenderer,
    OpenApiJsonRenderer2,
    OpenApiYamlRenderer,
    OpenApiYamlRenderer2,
)
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.exceptions import NotFound
from rest_framework.views import APIView

from alerts import apis as alert_apis
from clients import apis as client_apis

app_name = "api"


class SchemaApi(SpectacularAPIView):
    # JSON unless YAML is asked for (?format=yaml), so the errors of this endpoint are JSON too.
    renderer_classes = [OpenApiJsonRenderer2, OpenApiJsonRenderer, OpenApiYamlRenderer, OpenApiYamlRenderer2]


class NotAnEndpointApi(APIView):
    """Any other address under /api/: a 404 in the error shape rather than Django's HTML page."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication first: anonymous callers get a 401
        raise NotFound(_("There is no API endpoint at this address."))


urlpatterns = [
    path("schema/", SchemaApi.as_view(), name="schema"),
    # The split view serves its start-up script as a file (?script), not inline: the CSP refuses inline scripts.
    path("docs/", login_required(SpectacularSwaggerSplitView.as_view(url_name="api:schema")), name="docs"),
    path("clients/", client_apis.ClientListApi.as_view(), name="client-list"),
    path("clients/<int:client_id>/", client_apis.ClientDetailApi.as_view(), name="client-detail"),
    path("alerts/", alert_apis.AlertListApi.as_view(), name="alert-list"),
    path("alerts/bulk/", alert_apis.AlertBulkApi.as_view(), name="alert-bulk"),
    path("alerts/<int:alert_id>/", alert_apis.AlertDetailApi.as_view(), name="alert-detail"),
    path("alerts/<int:alert_id>/status/", alert_apis.AlertStatusApi.as_view(), name="alert-status"),
    path("alerts/<int:alert_id>/assign/", alert_apis.AlertAssignApi.as_view(), name="alert-assign"),
    re_path(r"^.*$", NotAnEndpointApi.as_view(), name="not-found"),
]
