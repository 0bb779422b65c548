"""A DRF serializer's checks, compiled for msgspec, which runs them in C.

Validating the site script's record field by field through DRF costs as much as the rest of a
batch item's work together. `CompiledSerializer` derives a msgspec type from
the serializer's own fields (lengths, ranges, choices, required, null), adds the checks msgspec
does not make (trimmed text without NUL or surrogates, the fields' own validators and the
serializer's `validate_<field>` methods) and answers what DRF would answer. Whatever it does
not accept outright, DRF validates again, so refusals keep DRF's exact messages.
"""

import datetime
import functools
import re
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
from django.core import validators as django_validators
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import fields as drf_fields
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

# Validators that msgspec's lengths and bounds or `_text` already apply.
COVERED = (
    django_validators.MaxLengthValidator,
    django_validators.MinLengthValidator,
    django_validators.MaxValueValidator,
    django_validators.MinValueValidator,
    django_validators.ProhibitNullCharactersValidator,
    ProhibitSurrogateCharactersValidator,
)


class Undecided(Exception):
    """The compiled checks do not accept the data: the serializer decides."""


class CompiledSerializer:
    def __init__(self, serializer: serializers.Serializer) -> None:
        self.serializer = serializer
        self.struct, self.checks = _compile(serializer)

    def run_validation(self, data: Any) -> dict[str, Any]:
        """The serializer's validated data for `data`; raises its ValidationError."""
        try:
            return self.validated(data)
        except Undecided:
            return self.serializer.run_validation(data)

    def validated(self, data: Any) -> dict[str, Any]:
        """What the serializer would answer for data the compiled checks accept; raises
        Undecided otherwise."""
        try:
            record = msgspec.convert(data, self.struct)
        except msgspec.ValidationError:
            raise Undecided from None
        return _finish(record, self.checks)


# Each field's checks left to Python: (its key in the validated data, check).
Checks = list[tuple[str, Callable[[Any], Any]]]


def _compile(serializer: serializers.Serializer) -> tuple[type[msgspec.Struct], Checks]:
    if type(serializer).validate is not serializers.Serializer.validate or serializer.validators:
        raise TypeError(f"{type(serializer).__name__} validates more than its fields")
    fields, checks = [], []
    for name, field in serializer.fields.items():
        if field.read_only:
            continue
        if field.default is not drf_fields.empty or field.source == "*" or "." in field.source:
            raise TypeError(f"{name}: defaults and nested sources are not compiled")
        kind, check = _kind(field)
        if field.allow_null:
            kind = kind | None
        method = getattr(serializer, f"validate_{name}", None)
        if check or method:
            checks.append((field.source, _chain(check, method, field.allow_null)))
        if field.required:
            fields.append((field.source, kind, msgspec.field(name=name)))
        else:
            optional = msgspec.field(default=msgspec.UNSET, name=name)
            fields.append((field.source, kind | msgspec.UnsetType, optional))
    return msgspec.defstruct(type(serializer).__name__, fields, kw_only=True), checks


def _kind(field: serializers.Field) -> tuple[Any, Callable[[Any], Any] | None]:
    """The msgspec type for `field`, and what Python must still check, if anything."""
    own = [validator for validator in field.validators if not isinstance(validator, COVERED)]
    if isinstance(field, serializers.ChoiceField) and not own:
        choices = [*field.choices, *([""] if field.allow_blank else [])]
        return Literal[tuple(choices)], None
    if isinstance(field, serializers.CharField):
        length = msgspec.Meta(
            min_length=field.min_length or (0 if field.allow_blank else 1),
            max_length=field.max_length,
        )
        passes = [_passes(validator) for validator in own]
        return Annotated[str, length], functools.partial(_text, passes=passes)
    if own:
        raise TypeError(f"{type(field).__name__} with validators is not compiled")
    if isinstance(field, serializers.IntegerField):
        return Annotated[int, msgspec.Meta(ge=field.min_value, le=field.max_value)], None
    if isinstance(field, serializers.BooleanField):
        return bool, None  # DRF's other spellings of true and false go to DRF
    if isinstance(field, serializers.UUIDField):
        return uuid.UUID, None
    if isinstance(field, serializers.DateTimeField):
        return str, _aware_datetime
    if isinstance(field, serializers.DictField) and type(field.child) is UNVALIDATED:
        return Annotated[dict, msgspec.Meta(min_length=0 if field.allow_empty else 1)], None
    if isinstance(field, serializers.ListField) and isinstance(field.child, serializers.Serializer):
        struct, checks = _compile(field.child)
        size = msgspec.Meta(
            min_length=field.min_length or (0 if field.allow_empty else 1),
            max_length=field.max_length,
        )
        return Annotated[list[struct], size], functools.partial(_each, checks=checks)
    raise TypeError(f"{type(field).__name__} is not compiled")


UNVALIDATED = type(serializers.DictField().child)


def _chain(check, method, nullable: bool):
    if method is None and not nullable:
        return check  # msgspec has refused None already

    def checked(value):
        if value is None:
            raise Undecided  # DRF hands None to `validate_<field>`: let it
        if check is not None:
            value = check(value)
        if method is not None:
            try:
                value = method(value)
            except serializers.ValidationError:
                raise Undecided from None
        return value

    return checked


def _text(value: str, passes) -> str:
    # DRF trims text and refuses NUL and surrogates; anything of the kind goes to DRF.
    if value != value.strip() or "\x00" in value:
        raise Undecided
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise Undecided from None
    if value:  # DRF runs no validator on blank text
        for valid in passes:
            if not valid(value):
                raise Undecided
    return value


def _passes(validator) -> Callable[[str], bool]:
    """Whether `validator` passes a value. A URL check is remembered: pages repeat, and its
    regular expressions cost more than the rest of a record's checks. Other checks (an
    execution id's pattern, whose values never repeat) run each time."""
    if type(validator) is django_validators.RegexValidator:
        # Its own test on its own pattern, without the lazily compiled pattern's proxy and the
        # exception they raise to say no, which cost more than the test.
        search = re.compile(validator.regex.pattern, validator.regex.flags).search
        return lambda value: (search(value) is None) == validator.inverse_match

    def passes(value: str) -> bool:
        try:
            validator(value)
        except DjangoValidationError:
            return False
        return True

    if isinstance(validator, django_validators.URLValidator):
        return functools.lru_cache(maxsize=4096)(passes)
    return passes


def _aware_datetime(value: str) -> datetime.datetime:
    # Django's parse_datetime tries datetime.fromisoformat first: the same reading.
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise Undecided from None
    if moment.tzinfo is None:
        raise Undecided  # DRF would place it in the current time zone
    return moment


def _each(records: list[msgspec.Struct], checks: Checks) -> list[dict[str, Any]]:
    return [_finish(record, checks) for record in records]


def _finish(record: msgspec.Struct, checks: Checks) -> dict[str, Any]:
    data = {
        name: value
        for name, value in msgspec.structs.asdict(record).items()
        if value is not msgspec.UNSET
    }
    for name, check in checks:
        if name in data:
            data[name] = check(data[name])
    return data
