from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import set_language

from accounts.views import favicon, home

from .health import healthz

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    # Browsers ask for /favicon.ico on every page without a <link rel="icon"> (Django admin's).
    path("favicon.ico", favicon, name="favicon"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("accounts.urls")),  # the second factor: /accounts/mfa/
    # Switching language must work on the login page too.
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
    path("clients/", include("clients.urls")),
    path("sources/", include("ingestion.urls")),
    path("dashboard/", include("alerts.urls")),
    path("enrichment/", include("enrichment.urls")),
    path("insights/", include("insights.urls")),
    # The page a client opens from a confirmation link: no login (the views are login_not_required).
    path("confirm/", include("enrichment.urls_public")),
    path("followup/", include("followup.urls")),
    # The client's pages from a follow-up message's signed link: no login (views are login_not_required).
    path("c/", include("followup.urls_public")),
    # The register of processing (admins) and a client's data export (access requests).
    path("privacy/", include("trust.privacy_urls")),
    path("trust/", include("trust.audit_urls")),  # a client's change history and duty-of-care file
    path("", include("canvas.urls")),  # /canvas/ and /api/canvas/: before api/, whose last route catches all
    path("api/", include("config.api")),
    path("admin/", admin.site.urls),
]
