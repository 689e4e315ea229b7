"""Purpose limitation and consent: what a rule or a playbook may read, and who may be sent an offer.

In 2014 ING announced it would use its customers' payment data to show them offers from other
companies; the outcry, and the regulator after it, made the point that data collected to serve a
client is not, by that fact, available for selling to them (GDPR art. 5(1)(b), purpose limitation).
Here: each field's register entry (trust/privacy_register.py) lists the purposes it may serve, and
- a framework rule is refused on save when it reads a field its purpose does not allow
  (framework/rules.py calls `purpose_check_fields` with `framework.language.references`);
- a playbook (followup) checks the fields its messages and conditions read the same way;
- a message goes only to a client with a recorded consent for its purpose and channel (opt-in, for
  commercial and newsletter messages): `consents_granted`, `consent_recorded`, which followup uses.
"""

from dataclasses import dataclass

from django.apps import apps
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
#
# One rule, in one place: a client hears from the firm for a purpose through a channel only with a
# live, granted consent for exactly that purpose and channel. The law asks it for offers and the
# newsletter (OPT_IN_PURPOSES); Steward asks it for service and advice too, so a client decides how
# the firm reaches them. Follow-up plans with `consents_granted` and asks `consent_recorded` right
# before every send, so the code the tests check is the code that decides.


def consents_granted():
    """The live, granted consents (a refused, withdrawn or deleted one is no consent): the one
    definition both the set-based planner and the last check before a send build on."""
    ContactPreference = apps.get_model("clients", "ContactPreference")
    return ContactPreference.objects.filter(consent=ContactPreference.Consent.GRANTED, deleted_at__isnull=True)


def consent_recorded(*, client_id: int, purpose: str, channel: str) -> bool:
    """Whether this client may get a message of `purpose` through `channel` now, as far as consent goes.

    Asked at the moment of sending, so consent withdrawn between planning and sending counts.
    """
    return consents_granted().filter(client_id=client_id, purpose=purpose, channel=channel).exists()
