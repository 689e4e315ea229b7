"""Pages of the enrichment step: back office's confirmation requests, and the client's own form."""

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from clients.selectors import clients_visible_to

from .forms import ConfirmationAnswerForm
from .models import ConfirmationRequest
from .selectors import confirmation_requests_recent, confirmation_requests_to_review
from .services.confirmations import (
    ConfirmationLinkInvalid,
    confirmation_request_accept,
    confirmation_request_answer,
    confirmation_request_for_token,
    confirmation_request_reject,
    confirmation_request_send,
    confirmation_values_to_record,
)

# The link just sent, shown once on the request's page (it is not stored: only its hash is).
JUST_SENT = "enrichment_confirmation_link"


def _visible_request(user, pk: int) -> ConfirmationRequest:
    queryset = ConfirmationRequest.objects.select_related("client", "requested_by", "reviewed_by")
    confirmation = get_object_or_404(queryset, pk=pk)
    if not clients_visible_to(user).filter(pk=confirmation.client_id).exists():
        raise Http404("No such request")
    return confirmation


@require_POST
@permission_required("enrichment.add_confirmationrequest", raise_exception=True)
def confirmation_send_view(request, client_id: int):
    client = get_object_or_404(clients_visible_to(request.user), pk=client_id)
    try:
        confirmation, link = confirmation_request_send(
            client=client,
            requested_by=request.user,
            link_for=lambda token: request.build_absolute_uri(reverse("confirm:answer", args=[token])),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("clients:detail", client_id)
    request.session[JUST_SENT] = {"id": confirmation.pk, "link": link}
    messages.success(request, _("The link was emailed to %(email)s.") % {"email": confirmation.email})
    return redirect("enrichment:confirmation_detail", confirmation.pk)


@permission_required("enrichment.view_confirmationrequest", raise_exception=True)
def confirmation_list_view(request):
    visible = clients_visible_to(request.user)
    return render(
        request,
        "enrichment/confirmation_list.html",
        {
            "to_review": confirmation_requests_to_review(clients=visible),
            "recent": confirmation_requests_recent(clients=visible),
        },
    )


@permission_required("enrichment.view_confirmationrequest", raise_exception=True)
def confirmation_detail_view(request, pk: int):
    confirmation = _visible_request(request.user, pk)
    just_sent = request.session.get(JUST_SENT)
    link = None
    if just_sent and just_sent.get("id") == confirmation.pk:
        link = request.session.pop(JUST_SENT)["link"]
    values, by_hand = confirmation_values_to_record(confirmation)
    return render(
        request,
        "enrichment/confirmation_detail.html",
        {
            "confirmation": confirmation,
            "link": link,
            "rows": _answer_rows(confirmation),
            "values": values,
            "by_hand": by_hand,
        },
    )


def _answer_rows(confirmation: ConfirmationRequest) -> list[dict]:
    current, answers = confirmation.current_values, confirmation.answers
    labels = [
        ("gross_annual_income", _("Gross income per year")),
        ("employer", _("Employer")),
        ("job_title", _("Job")),
        ("has_partner", _("Partner")),
        ("children_count", _("Children")),
        ("property_value", _("Home value (estimate)")),
    ]
    rows = []
    for key, label in labels:
        had, says = current.get(key), answers.get(key) if answers else None
        rows.append(
            {
                "key": key,
                "label": label,
                "had": _yes_no(had),
                "says": _yes_no(says) if answers else "",
                "changed": bool(answers)
                and str(had if had is not None else "") != str(says if says is not None else ""),
            }
        )
    return rows


def _yes_no(value) -> str:
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    return "" if value is None else str(value)


@require_POST
@permission_required("enrichment.change_confirmationrequest", raise_exception=True)
def confirmation_review_view(request, pk: int):
    confirmation = _visible_request(request.user, pk)
    decision = request.POST.get("decision")
    try:
        if decision == "accept":
            confirmation_request_accept(confirmation=confirmation, reviewed_by=request.user)
            messages.success(request, _("Accepted: the client's answers are now in the client file."))
        elif decision == "reject":
            confirmation_request_reject(confirmation=confirmation, reviewed_by=request.user)
            messages.info(request, _("Rejected: nothing was written."))
        else:
            messages.error(request, _("Choose accept or reject."))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("enrichment:confirmation_detail", confirmation.pk)


# --- The client's page (no login) -----------------------------------------------------------------


def _private(response):
    """The page holds personal data behind a secret link: never cached or indexed, never sent elsewhere.

    "same-origin" keeps the link out of any other site's Referer; "no-referrer" would also strip the
    Origin of the form's own POST, which Django's CSRF check then refuses.
    """
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@login_not_required
def confirmation_answer_view(request, token: str):
    try:
        confirmation = confirmation_request_for_token(token)
    except ConfirmationLinkInvalid as error:
        return _private(render(request, "enrichment/public/invalid.html", {"reason": error.reason}, status=410))
    current = confirmation.current_values
    form = ConfirmationAnswerForm(request.POST or None, initial=ConfirmationAnswerForm.initial_from(current))
    if request.method == "POST" and form.is_valid():
        try:
            confirmation_request_answer(token=token, answers=form.answers())
        except ConfirmationLinkInvalid as error:
            return _private(render(request, "enrichment/public/invalid.html", {"reason": error.reason}, status=410))
        return _private(
            render(request, "enrichment/public/thanks.html", {"first_name": confirmation.client.first_name})
        )
    return _private(
        render(
            request,
            "enrichment/public/form.html",
            {"form": form, "first_name": confirmation.client.first_name, "expires_at": confirmation.expires_at},
        )
    )
