"""Purpose limitation and consent: what a rule or a playbook may read, and who may be sent an offer.

In 2014 ING announced it would use its customers' payment data to show them offers from other
companies; the outcry, and the regulator after it, made the point that data collected to serve a
client is not, by that fact, available for selling to them (GDPR art. 5(1)(b), purpose limitation).
Here: each field's register entry (trust/privacy_register.py) lists the purposes it may serve, and
- a framework rule is refused on save when it reads a field its purpose does not allow
  (framework/rules.py calls `purpose_check_fields` with `framework.language.references`);
- a playbook (followup) checks the fields its messages and conditions read the same way;
- a commercial or newsletter message goes only to a client with a recorded opt-in for that purpose
  and channel (`commercial_opt_in_filter`, `opt_in_recorded`).
"""

from dataclasses import dataclass

from django.apps import apps
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from .privacy_register import REGISTER, TECHNICAL_FIELDS, Purpose, Tag

# Contacting a client for these purposes needs their opt-in for the purpose and the channel (GDPR
# art. 6(1)(a); Telecommunicatiewet art. 11.7 for e-mail, SMS and messaging).
OPT_IN_PURPOSES = frozenset({Purpose.COMMERCIAL, Purpose.NEWSLETTER})


@dataclass(frozen=True)
class PurposeError:
    """A field a purpose may not use: the field, the purposes it does allow, and a sentence saying so."""

    field: str
    purpose: str
    allowed: tuple[str, ...]
    message: str

    def __str__(self) -> str:
        return self.message


def _tag(field_key: str) -> Tag | None:
    tag = REGISTER.get(field_key)
    if tag is None and field_key.rsplit(".", 1)[-1] in TECHNICAL_FIELDS:
        from .privacy_register import TECHNICAL

        return TECHNICAL
    return tag


def _purpose_label(name: str) -> str:
    try:
        return str(Purpose(name).label)
    except ValueError:
        return name


def purpose_check_fields(purpose: str, field_names) -> list[PurposeError]:
    """The fields (register keys, "clients.Client.email") that `purpose` may not use, with why.

    Empty means allowed. A field without a register entry is refused too: unknown data is not
    assumed to be fair game (fail closed).
    """
    errors = []
    for name in sorted(set(field_names)):
        tag = _tag(name)
        if tag is None:
            errors.append(
                PurposeError(
                    name,
                    purpose,
                    (),
                    _("%(field)s has no entry in the privacy register (%(register)s), so no purpose may use it.")
                    % {"field": name, "register": "trust/privacy_register.py"},
                )
            )
            continue
        if not tag.is_personal or purpose in tag.purposes:
            continue
        allowed = tuple(sorted(tag.purposes, key=list(Purpose.values).index))
        errors.append(
            PurposeError(
                name,
                purpose,
                allowed,
                _("%(field)s may not be used for “%(purpose)s”; the register allows it for: %(allowed)s.")
                % {
                    "field": name,
                    "purpose": _purpose_label(purpose),
                    "allowed": ", ".join(_purpose_label(item) for item in allowed) or _("nothing"),
                },
            )
        )
    return errors


# --- Consent --------------------------------------------------------------------------------------


def _granted(*, channel: str, purpose: str, client_ref):
    ContactPreference = apps.get_model("clients", "ContactPreference")
    return ContactPreference.objects.filter(
        client=client_ref,
        purpose=purpose,
        channel=channel,
        consent=ContactPreference.Consent.GRANTED,
        deleted_at__isnull=True,
    )


def commercial_opt_in_filter(
    queryset: QuerySet, *, channel: str, purpose: str = Purpose.COMMERCIAL, client_field: str = ""
) -> QuerySet:
    """Only the rows whose client opted in to `purpose` through `channel` (for purposes that need it).

    `queryset` holds clients (client_field="") or rows pointing at one (client_field="client", e.g.
    followup Messages). For service and advice the queryset comes back as it is: those rest on the
    contract and the duty of care, and the followup step applies its own consent rules to them.
    """
    if purpose not in OPT_IN_PURPOSES:
        return queryset
    client_ref = OuterRef(client_field or "pk")
    return queryset.filter(Exists(_granted(channel=channel, purpose=purpose, client_ref=client_ref)))


def opt_in_q(*, purpose: str, channel_field: str = "channel", client_field: str = "client") -> Q:
    """A filter for rows that carry their own channel (Messages): opted in for their purpose and channel,
    or of a purpose that needs no opt-in."""
    if purpose not in OPT_IN_PURPOSES:
        return Q()
    ContactPreference = apps.get_model("clients", "ContactPreference")
    granted = ContactPreference.objects.filter(
        client=OuterRef(client_field),
        purpose=purpose,
        channel=OuterRef(channel_field),
        consent=ContactPreference.Consent.GRANTED,
        deleted_at__isnull=True,
    )
    return Q(Exists(granted))


def opt_in_recorded(*, client_id: int, channel: str, purpose: str = Purpose.COMMERCIAL) -> bool:
    """Whether this client may get a message of `purpose` through `channel` as far as consent goes.

    The last check before a send: consent withdrawn between planning and sending counts.
    """
    if purpose not in OPT_IN_PURPOSES:
        return True
    return _granted(channel=channel, purpose=purpose, client_ref=client_id).exists()
