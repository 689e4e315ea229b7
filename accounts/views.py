from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponsePermanentRedirect
from django.shortcuts import redirect, render, resolve_url
from django.templatetags.static import static
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from . import mfa
from .forms import SecondFactorForm
from .navigation import areas_for
from .roles import ADVISOR
from .selectors import user_role


@login_not_required
def favicon(request):
    """Browsers ask for /favicon.ico on pages without a `<link rel="icon">` (Django admin's): no 404 then."""
    return HttpResponsePermanentRedirect(static("img/favicon.svg"))


def home(request):
    """The landing page: advisors go to their work queue; others see the areas their role may use."""
    if user_role(request.user) == ADVISOR and request.user.has_perm("accounts.access_alerts"):
        return redirect("alerts:dashboard")
    return render(request, "accounts/home.html", {"areas": areas_for(request.user)})


# --- Second factor (accounts/mfa.py) --------------------------------------------------------------


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return resolve_url("home")


def mfa_setup(request):
    """Set up an authenticator app: scan the QR code (or type the key), then confirm with a code."""
    device = mfa.confirmed_device(request.user)
    if device is not None:
        return render(request, "registration/mfa_setup.html", {"device": device, "next": _next_url(request)})
    device = mfa.totp_device_start(user=request.user)
    form = SecondFactorForm(request.POST or None)
    if form.is_valid():
        if mfa.totp_device_confirm(request=request, device=device, token=form.cleaned_data["code"]):
            messages.success(request, _("Two-step login is on: from now on Steward asks for a code at login."))
            return redirect(_next_url(request))
        form.add_error("code", _("That code is not right (or has expired). Try the code now showing."))
    context = {
        "form": form,
        "qr_svg": mark_safe(mfa.totp_qr_svg(device)),  # noqa: S308 - SVG made by qrcode from our own URL
        "secret": mfa.totp_secret_base32(device),
        "required": mfa.mfa_required_for(request.user),
        "next": _next_url(request),
    }
    return render(request, "registration/mfa_setup.html", context)


def mfa_verify(request):
    """The second step of logging in, for a user with an authenticator app."""
    if request.user.is_verified() or mfa.confirmed_device(request.user) is None:
        return redirect(_next_url(request))
    form = SecondFactorForm(request.POST or None)
    if form.is_valid():
        if mfa.totp_verify(request=request, token=form.cleaned_data["code"]):
            return redirect(_next_url(request))
        form.add_error("code", _("That code is not right. Wait for the next one if it keeps failing."))
    return render(request, "registration/mfa_verify.html", {"form": form, "next": _next_url(request)})
