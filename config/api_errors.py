"""One JSON shape for every error of the API, and its description for the OpenAPI schema.

    {"error": {"code": "not_found", "message": "Not found.", "details": {}}}

`code` is stable and meant for programs; `message` is for people, in the request's language;
`details` holds the field errors of a 400 (field name → messages) and the wait of a 429.
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.signals import got_request_exception
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler, set_rollback

logger = logging.getLogger("steward.api")


def api_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every exception of an API view becomes one error in the one shape."""
    exc = _as_api_exception(exc)
    response = exception_handler(exc, context)
    if response is None:
        return _server_error(exc, context)
    response.data = error_body(code=_code(exc), message=_message(exc), details=_details(exc, response.data))
    return response


def error_body(*, code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": str(message), "details": details or {}}}


def _as_api_exception(exc: Exception) -> Exception:
    # A service refuses with Django's ValidationError; the user gets its messages as a 400.
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            return exceptions.ValidationError(exc.message_dict)
        return exceptions.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: exc.messages})
    # Django's own 404 and 403 carry internal, untranslated texts ("No such client"): say the standard thing.
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    return exc


def _code(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "invalid"
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else exc.default_code


def _message(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return _("The request is not valid; the details say what to change.")
    return str(exc.detail)


def _details(exc: exceptions.APIException, data) -> dict:
    if isinstance(exc, exceptions.ValidationError):
        return data if isinstance(data, dict) else {api_settings.NON_FIELD_ERRORS_KEY: data}
    if isinstance(exc, exceptions.Throttled):
        return {"wait_seconds": exc.wait}
    return {}


def _server_error(exc: Exception, context) -> Response:
    """An exception no one expected: logged with its traceback, reported as Django reports a 500, answered as JSON."""
    request = context.get("request")
    logger.error("Unhandled error in the API at %s", getattr(request, "path", "?"), exc_info=exc)
    # Error trackers (and Django's test client) learn of uncaught exceptions through this signal.
    got_request_exception.send(sender=None, request=getattr(request, "_request", request))
    set_rollback()
    return Response(
        error_body(code="server_error", message=_("Something went wrong on our side. Please try again later.")),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


# --- The shape in the OpenAPI schema --------------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=gettext_lazy("Stable, for programs: e.g. not_found, invalid."))
    message = serializers.CharField(help_text=gettext_lazy("For people, in the language of the request."))
    details = serializers.DictField(
        help_text=gettext_lazy("For 400: field name → messages (non_field_errors for the whole request).")
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


ERROR_DESCRIPTIONS = {
    400: gettext_lazy("The input is not valid."),
    401: gettext_lazy("Not authenticated: send a token or log in."),
    403: gettext_lazy("Your role may not use this part of Steward."),
    404: gettext_lazy("Not found, or not yours to see (another team's)."),
    409: gettext_lazy("The alert cannot make this change from its current status."),
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """The documented errors of an operation, for `@extend_schema(responses=...)`; 401 and 403 always."""
    return {code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]) for code in (401, 403, *codes)}
