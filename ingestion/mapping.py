"""Reading a source record into Steward fields: paths, transforms and validation.

Pure functions over plain data. A record that cannot be read raises `MappingError` with a reason a
person can act on ("client.postcode: '12345' is not a Dutch postcode"); the sync engine quarantines
it and the rest of the page lands.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models
from jsonpath_ng import parse as jsonpath_parse
from jsonpath_ng.exceptions import JsonPathParserError

from clients.validators import normalise_phone_number, normalise_postcode, validate_phone_number

from .targets import TARGETS

MISSING = object()


class MappingError(ValueError):
    """The record cannot be read; `reason` says which field and why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class MappingRule:
    """A FieldMapping as plain data, so mapping runs without the ORM."""

    source_path: str
    target: str
    transform: str = "none"
    argument: str = ""
    required: bool = False

    @classmethod
    def from_model(cls, mapping) -> "MappingRule":
        return cls(
            mapping.source_path,
            mapping.target,
            mapping.transform,
            mapping.transform_argument,
            mapping.required,
        )


# --- Paths ----------------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _compiled_jsonpath(path: str):
    return jsonpath_parse(path)


def read_path(data: Any, path: str) -> Any:
    """The value at a dotted path ('properties.email', 'loans.0.rate') or a JSONPath ('$.a[0].b')."""
    if not path:
        return MISSING
    if path.startswith("$"):
        try:
            matches = _compiled_jsonpath(path).find(data)
        except JsonPathParserError as error:
            raise MappingError(f"invalid JSONPath {path!r}: {error}") from error
        return matches[0].value if matches else MISSING
    current = data
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return MISSING
    return current


def validate_path(path: str) -> None:
    """Refuse a JSONPath that does not parse, at save time rather than during a sync."""
    if path.startswith("$"):
        try:
            _compiled_jsonpath(path)
        except JsonPathParserError as error:
            raise ValidationError(f"Invalid JSONPath: {error}") from error


# --- Transforms -----------------------------------------------------------------------------------

TRUE_WORDS = {"true", "yes", "ja", "j", "y", "1", "waar"}
FALSE_WORDS = {"false", "no", "nee", "n", "0", "onwaar"}
DECIMAL_COMMA_RE = re.compile(r"^-?[0-9]{1,3}(\.[0-9]{3})*(,[0-9]+)?$|^-?[0-9]+(,[0-9]+)?$")


# Dutch surname prefixes (tussenvoegsels), longest first so "van der" wins over "van".
SURNAME_PREFIXES = sorted(
    [
        "van",
        "de",
        "der",
        "den",
        "van de",
        "van der",
        "van den",
        "van het",
        "in 't",
        "'t",
        "ten",
        "ter",
        "te",
        "op de",
        "op den",
        "uit de",
        "uit den",
        "el",
        "la",
        "le",
        "du",
        "von",
    ],
    key=len,
    reverse=True,
)


def split_surname(full_surname: str) -> tuple[str, str]:
    """'van den Berg' -> ('van den', 'Berg'): CRMs often keep the prefix in the last name."""
    text = " ".join(full_surname.split())
    lowered = text.lower()
    for prefix in SURNAME_PREFIXES:
        if lowered.startswith(prefix + " ") and len(text) > len(prefix) + 1:
            return text[: len(prefix)], text[len(prefix) + 1 :]
    return "", text


def parse_enum_map(argument: str) -> dict[str, str]:
    """'M=male, V=female' -> {'M': 'male', 'V': 'female'}."""
    pairs = {}
    for item in argument.split(","):
        if "=" not in item:
            continue
        code, value = item.split("=", 1)
        pairs[code.strip()] = value.strip()
    return pairs


def _text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise ValueError("expected a single value, got a nested structure")
    return str(value).strip()


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    if isinstance(value, float):
        value = repr(value)
    result = Decimal(_text(value))
    if not result.is_finite():
        raise ValueError("expected a finite number")
    return result


def _decimal_comma(value: Any) -> Decimal:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _decimal(value)
    text = _text(value).replace("€", "").replace("EUR", "").replace(" ", "").replace("\u00a0", "")
    if not DECIMAL_COMMA_RE.match(text):
        raise ValueError(f"{text!r} is not a Dutch number such as 1.234,56")
    return Decimal(text.replace(".", "").replace(",", "."))


def _epoch_milliseconds(value: float) -> date:
    """HubSpot stores date properties as midnight UTC in epoch milliseconds."""
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC).date()
    except (OverflowError, OSError) as error:  # far beyond any date: the C library's EOVERFLOW is an OSError
        raise ValueError(f"{value!r} milliseconds is not a date") from error


def _date(value: Any, argument: str) -> date:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _epoch_milliseconds(value)
    text = _text(value)
    if text.isdigit() and len(text) >= 12:
        return _epoch_milliseconds(int(text))
    if argument:
        return datetime.strptime(text, argument).replace(tzinfo=UTC).date()
    return date.fromisoformat(text[:10])


def _datetime(value: Any) -> datetime:
    parsed = datetime.fromisoformat(_text(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("a date and time needs its UTC offset")
    return parsed


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = _text(value).lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{word!r} is not yes or no")


def transform_value(value: Any, transform: str, argument: str = "") -> Any:
    """Apply one transform; raises ValueError or ValidationError with a readable message."""
    match transform:
        case "none":
            return _text(value)
        case "lowercase":
            return _text(value).lower()
        case "decimal":
            return _decimal(value)
        case "decimal_comma":
            return _decimal_comma(value)
        case "cents":
            return _decimal(value) / 100
        case "integer":
            number = _decimal(value)
            if number != number.to_integral_value():
                raise ValueError(f"{value!r} is not a whole number")
            return int(number)
        case "date":
            return _date(value, argument)
        case "datetime":
            return _datetime(value)
        case "boolean":
            return _boolean(value)
        case "enum":
            codes = parse_enum_map(argument)
            key = _text(value)
            if key not in codes:
                raise ValueError(f"{key!r} is not one of the mapped codes {sorted(codes)}")
            return codes[key]
        case "phone":
            return normalise_phone_number(_text(value))
        case "postcode":
            return normalise_postcode(_text(value))
        case "constant":
            return argument
        case "surname_prefix":
            return split_surname(_text(value))[0]
        case "surname_base":
            return split_surname(_text(value))[1]
    raise ValueError(f"unknown transform {transform!r}")


# --- Whole records --------------------------------------------------------------------------------


def _is_empty(value: Any) -> bool:
    return value is MISSING or value is None or (isinstance(value, str) and not value.strip())


def field_value_check(target: str, value: Any) -> Any:
    """Validate a transformed value against the Steward field it goes into."""
    entity, field_name = TARGETS[target]
    field = entity.model._meta.get_field(field_name)
    cleaned = field.clean(value, None)
    if isinstance(field, models.DecimalField):
        if cleaned < 0:
            raise ValueError("cannot be negative")
        if "rate" in field_name and cleaned > 20:
            raise ValueError("an interest rate above 20% is not plausible")
        # 38000 and 38.000,00 are one amount: store both as 38000.00, or they would look like a conflict.
        cleaned = cleaned.quantize(Decimal(1).scaleb(-field.decimal_places))
    return cleaned


def value_normalise(target: str, value: Any) -> Any:
    """A value a person typed, in the form syncs store it (phone in E.164, postcode as '1234 AB')."""
    field_name = TARGETS[target][1]
    if isinstance(value, str):
        if field_name == "phone":
            return normalise_phone_number(value)
        if field_name == "postcode":
            return normalise_postcode(value)
        if field_name == "email":
            return value.strip().lower()
    return value


def to_json_value(value: Any) -> Any:
    """Store values as JSON: Decimals and dates as text, so they round-trip exactly."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def map_record(data: dict, rules: "list[MappingRule] | CompiledRules") -> dict[str, Any]:
    """Read every mapped target from a raw record: {target: JSON value}. Empty values are left out.

    `rules` may be compiled already (`compile_rules`), as a sync does once per run.
    """
    values: dict[str, Any] = {}
    for rule in rules if isinstance(rules, CompiledRules) else compile_rules(tuple(rules)):
        raw = rule.argument if rule.constant else rule.read(data)
        if raw is MISSING or raw is None or (isinstance(raw, str) and not raw.strip()):
            if rule.required:
                raise MappingError(f"{rule.target}: required field {rule.source_path!r} is missing")
            continue
        if type(raw) is str:
            # Most raw values repeat across a source (names, cities, dates, amounts): the stored
            # JSON value of a string is remembered per rule. Errors are not remembered, so a bad
            # value raises below exactly as before.
            stored = rule.stored.get(raw, MISSING)
            if stored is not MISSING:
                if stored is not _EMPTY:
                    values[rule.target] = stored
                continue
        try:
            value = rule.check(rule.transform(raw))
        except ValidationError as error:
            raise MappingError(f"{rule.target}: {' '.join(error.messages)} (got {str(raw)[:60]!r})") from error
        except (ValueError, InvalidOperation, TypeError, ArithmeticError) as error:
            raise MappingError(f"{rule.target}: {error or 'unreadable value'} (got {str(raw)[:60]!r})") from error
        if isinstance(value, str) and not storable_text(value):
            raise MappingError(f"{rule.target}: text with invalid Unicode or a NUL character (got {value[:60]!r})")
        stored = _EMPTY if _is_empty(value) else to_json_value(value)
        if type(raw) is str and len(rule.stored) < CHECKED_VALUES_PER_TARGET:
            rule.stored[raw] = stored
        if stored is not _EMPTY:
            values[rule.target] = stored
    return values


_EMPTY = object()  # a remembered value that maps to nothing (see map_record)


def storable_text(text: str) -> bool:
    """Whether a database can store this text: no lone UTF-16 surrogates, no NUL (PostgreSQL refuses both).

    Checked while mapping, so such a value quarantines its record instead of failing its batch.
    """
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- Compiled rules -------------------------------------------------------------------------------
# A sync maps every record with the same rules: what can be decided once per rule (the path split,
# the enum map parsed, the field and its validators looked up) is, and a value's check is
# remembered. `map_record` over compiled rules returns exactly what the plain functions above do.

CHECKED_VALUES_PER_TARGET = 4096  # a bounded memory: names, cities, dates and amounts repeat a lot


@dataclass(frozen=True, slots=True)
class CompiledRule:
    target: str
    source_path: str
    required: bool
    constant: bool
    argument: str
    read: Callable[[Any], Any]
    transform: Callable[[Any], Any]
    check: Callable[[Any], Any]
    # raw text -> its stored JSON value, bounded (CHECKED_VALUES_PER_TARGET); only when every step
    # is a pure function of the text, which holds for every transform (they take no clock, no state).
    stored: dict = field(default_factory=dict)


class CompiledRules(tuple):
    """Mapping rules ready to run, in their order."""


@lru_cache(maxsize=128)
def compile_rules(rules: tuple[MappingRule, ...]) -> CompiledRules:
    """The rules ready to run; cached, so the same rules are compiled once per process."""
    return CompiledRules(
        CompiledRule(
            target=rule.target,
            source_path=rule.source_path,
            required=rule.required,
            constant=rule.transform == "constant",
            argument=rule.argument,
            read=_path_reader(rule.source_path),
            transform=_transformer(rule.transform, rule.argument),
            check=_value_checker(rule.target, rule.transform),
        )
        for rule in rules
    )


def _path_reader(path: str) -> Callable[[Any], Any]:
    if not path or path.startswith("$") or "." in path:
        return lambda data: read_path(data, path)

    def read_key(data):  # the common case: one key of a flat record, as read_path would read it
        if isinstance(data, dict):
            return data.get(path, MISSING)
        return read_path(data, path)

    return read_key


_split_surname = lru_cache(maxsize=CHECKED_VALUES_PER_TARGET)(split_surname)  # surnames repeat


def _transformer(transform: str, argument: str) -> Callable[[Any], Any]:
    if transform == "surname_prefix":
        return lambda value: _split_surname(_text(value))[0]
    if transform == "surname_base":
        return lambda value: _split_surname(_text(value))[1]
    if transform == "enum":
        codes = parse_enum_map(argument)

        def translate(value):
            key = _text(value)
            if key not in codes:
                raise ValueError(f"{key!r} is not one of the mapped codes {sorted(codes)}")
            return codes[key]

        return translate
    if transform == "phone":
        return lambda value: _phone_number(_text(value))
    return lambda value: transform_value(value, transform, argument)


@lru_cache(maxsize=CHECKED_VALUES_PER_TARGET)
def _phone_number(text: str) -> str:
    return normalise_phone_number(text)


def _value_checker(target: str, transform: str) -> Callable[[Any], Any]:
    """`field_value_check` for one target, remembering the values it accepted."""
    if target not in TARGETS:
        return lambda value: field_value_check(target, value)  # raises the same KeyError, per record
    entity, field_name = TARGETS[target]
    field = entity.model._meta.get_field(field_name)
    if transform == "phone" and _only_checks_phone_numbers(field):
        # The transform parsed and validated the number and returned its E.164 form, which
        # validate_phone_number accepts again by construction: a second parse would only cost time.
        return lambda value: value

    @lru_cache(maxsize=CHECKED_VALUES_PER_TARGET)
    def checked(kind: type, key: Any, value: Any) -> Any:
        return field_value_check(target, value)

    def check(value):
        # The type is part of the key (True == 1), and a Decimal is keyed by its text: 1.0 and
        # 1.000 are equal, but only one of them fits two decimal places.
        kind = type(value)
        try:
            return checked(kind, str(value) if kind is Decimal else value, value)
        except TypeError:  # an unhashable value is checked without the memory
            return field_value_check(target, value)

    return check


def _only_checks_phone_numbers(field) -> bool:
    return (
        type(field) is models.CharField
        and field.choices is None
        and all(
            validator is validate_phone_number
            or (isinstance(validator, MaxLengthValidator) and validator.limit_value >= 16)  # E.164 is at most 16
            for validator in field.validators
        )
    )
