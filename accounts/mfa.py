"""The second factor: a TOTP authenticator app (django-otp), offered to everyone, required for admins.

Logging in stays one page (username and password, throttled by django-axes). A user who has a
confirmed authenticator app is then asked for its six-digit code before any other page; an admin
without one, while `STEWARD_MFA_REQUIRED_FOR_ADMINS` is on, is sent to set one up first. Until
then the session is logged in but not verified, and `SecondFactorMiddleware` lets it reach only the
second-factor pages, logging out and the language switch (an API call with that session gets a 403).

API tokens are a credential of their own (made by an admin for a system, not a person at a browser)
and are not asked for a second factor.
"""

import base64
from urllib.parse import urlencode

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db import transaction
from django.dispatch import receiver
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.views import APIView

# In the session: whether this user had a confirmed authenticator app when they logged in. Read on
# every request instead of a query, so pages keep their fixed number of queries.
HAS_DEVICE_SESSION_KEY = "steward_has_second_factor"
DEVICE_NAME = "Authenticator app"

# Reachable by a logged-in session before its second factor.
ALWAYS_REACHABLE = {"accounts:mfa_setup", "accounts:mfa_verify", "logout", "set_language", "healthz"}


def mfa_required_for(user) -> bool:
    """Admins (the only staff of Django admin) must have a second factor while the setting is on."""
    return bool(settings.STEWARD_MFA_REQUIRED_FOR_ADMINS and (user.is_staff or user.is_superuser))


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


@receiver(user_logged_in, dispatch_uid="steward_second_factor_at_login")
def _remember_whether_user_has_a_device(sender, request, user, **kwargs):
    # A signal, not a view, because the login page and Django admin's login both log users in.
    if request is not None and hasattr(request, "session"):
        request.session[HAS_DEVICE_SESSION_KEY] = confirmed_device(user) is not None


def _has_device(request) -> bool:
    flag = request.session.get(HAS_DEVICE_SESSION_KEY)
    if flag is None:  # a session from before this code, or logged in without a request
        flag = request.session[HAS_DEVICE_SESSION_KEY] = confirmed_device(request.user) is not None
    return flag


class SecondFactorMiddleware:
    """Holds a logged-in but unverified session at the second-factor pages (see the module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        if request.resolver_match and request.resolver_match.view_name in ALWAYS_REACHABLE:
            return None
        is_api = issubclass(getattr(view_func, "cls", object), APIView)
        if not is_api and not getattr(view_func, "login_required", True):
            return None  # a page for people without a login (a client's confirmation link)
        if _has_device(request):
            target, code = "accounts:mfa_verify", "second_factor_required"
            message = _("Enter the code from your authenticator app first.")
        elif mfa_required_for(user):
            target, code = "accounts:mfa_setup", "second_factor_setup_required"
            message = _("Set up an authenticator app first: admins need a second factor.")
        else:
            return None
        if is_api:
            return JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=403)
        return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")


# --- Setting up and using an authenticator app ----------------------------------------------------


@transaction.atomic
def totp_device_start(*, user) -> TOTPDevice:
    """The user's unconfirmed authenticator app to scan, made once and reused until it is confirmed."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


@transaction.atomic
def totp_device_confirm(*, request, device: TOTPDevice, token: str) -> bool:
    """Confirm `device` with a code it shows; the session counts as verified from then on."""
    if not device.verify_token(token):
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=device.user, confirmed=False).delete()
    otp_login(request, device)
    request.session[HAS_DEVICE_SESSION_KEY] = True
    return True


def totp_verify(*, request, token: str) -> bool:
    """Check a code against the user's authenticator app (django-otp slows repeated failures down)."""
    device = confirmed_device(request.user)
    if device is None or not device.verify_token(token):
        return False
    otp_login(request, device)
    return True


def totp_secret_base32(device: TOTPDevice) -> str:
    """The key as authenticator apps accept it when typed in instead of scanned."""
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def totp_qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// link of `device` as an inline SVG QR code (no inline style: CSP-safe)."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return image.to_string(encoding="unicode")
