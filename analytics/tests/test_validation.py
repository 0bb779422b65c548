"""The compiled checks answer exactly what DRF's serializer answers, or leave it to DRF."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.validators import RegexValidator
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from analytics.serializers import MAX_CONFIG_BYTES, TrackExecutionSerializer
from analytics.validation import CompiledSerializer, Undecided

SERIALIZER = TrackExecutionSerializer()
COMPILED = CompiledSerializer(SERIALIZER)
NOW = datetime.now(UTC)


def site_script_record() -> dict:
    """What the site script posts for one run."""
    return {
        "workflowId": "6f1c1c52-5a4e-4f7b-9d0a-0e7f4b1e9a11",
        "status": "success",
        "executionTimeMs": 250,
        "pageUrl": "https://shop.example/pricing?utm_source=news",
        "sessionId": "0123456789abcdef0123456789abcdef",
        "deviceType": "desktop",
        "triggerName": "UTM Parameters",
        "executionId": "fedcba9876543210fedcba9876543210",
        "startedAt": NOW.isoformat().replace("+00:00", "Z"),
        "actions": [
            {
                "name": "Replace Text",
                "selector": ".hero h1",
                "executionTimeMs": 4,
                "config": {"text": "Spring sale"},
                "error": "",
            },
            {"name": "Hide", "selector": "#popup", "executionTimeMs": 1, "config": {}, "error": ""},
        ],
    }


def text(limit: int) -> st.SearchStrategy:
    return st.sampled_from(
        ["", " ", "x", " padded ", "tab\t", "nul\x00", "lone \ud800", "é😀", "a" * limit,
         "a" * (limit + 1), "é" * limit]
    ) | st.text(max_size=8)  # fmt: skip


others = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False)
others |= st.just([]) | st.just({})
moments = st.sampled_from(
    [
        NOW.isoformat(),
        NOW.isoformat().replace("+00:00", "Z"),
        NOW.astimezone().isoformat(),
        (NOW - timedelta(hours=5)).isoformat().replace("+00:00", "+05:30"),
        NOW.replace(tzinfo=None).isoformat(),
        NOW.strftime("%Y-%m-%d"),
        NOW.strftime("%Y-%m-%d %H:%M:%SZ"),
        NOW.strftime("%Y-%m-%dT%H:%M:%S.123456789Z"),
        (NOW + timedelta(days=1)).isoformat(),
        (NOW - timedelta(days=400)).isoformat(),
        "yesterday",
    ]
)
urls = st.sampled_from(
    ["https://shop.example/", "http://localhost:8000/a?b=c#d", "ftp://shop.example/", "http://",
     "shop.example/pricing", "https://bücher.example/", "https://shop.example/" + "p" * 2030,
     "https://shop.example/" + "p" * 2040]
)  # fmt: skip
ids = st.sampled_from(["abc", "a:b.c-d_e", "a b", "x" * 64, "x" * 65, "ab\n", "ünï"])
configs = st.sampled_from(
    [{}, {"text": "x"}, {"nested": [1, {"deep": None}]}, {"nul": "\x00"}, {"lone": "\udfff"},
     {"big": "b" * MAX_CONFIG_BYTES}, {"d": [[[[[[[[[1]]]]]]]]]}, {"d": [[[[[[[1]]]]]]]}]
)  # fmt: skip
time_ms = st.sampled_from([0, 1, 250, 3_600_000, 3_600_001, -1, "250", 250.0, True])


ABSENT = object()


def changed(base: dict, choices: dict[str, st.SearchStrategy], most: int) -> st.SearchStrategy:
    """`base` with one to `most` of its fields given a likely value, anything else, or removed."""

    def apply(changes: dict) -> dict:
        data = {**base, **changes}
        return {name: value for name, value in data.items() if value is not ABSENT}

    values = {name: strategy | others | st.just(ABSENT) for name, strategy in choices.items()}
    names = st.lists(st.sampled_from(sorted(values)), min_size=1, max_size=most, unique=True)
    chosen = names.flatmap(lambda picked: st.fixed_dictionaries({n: values[n] for n in picked}))
    return chosen.map(apply)


RECORD = site_script_record()
ACTION_CHOICES = {
    "name": text(200),
    "selector": text(1000),
    "executionTimeMs": time_ms,
    "config": configs,
    "error": text(2000),
    "type": st.just("ignored"),
}
RECORD_CHOICES = {
    "workflowId": st.sampled_from(
        [
            "6f1c1c52-5a4e-4f7b-9d0a-0e7f4b1e9a11",
            "6f1c1c525a4e4f7b9d0a0e7f4b1e9a11",
            "{6f1c1c52-5a4e-4f7b-9d0a-0e7f4b1e9a11}",
            "6F1C1C52-5A4E-4F7B-9D0A-0E7F4B1E9A11",
            "not-a-uuid",
        ]
    ),  # fmt: skip
    "userId": text(128),
    "status": st.sampled_from(["success", "error", "timeout", "Success", ""]),
    "executionTimeMs": time_ms,
    "pageUrl": urls | text(2048),
    "sessionId": text(128),
    "deviceType": st.sampled_from(["desktop", "mobile", "tablet", "", "tv"]),
    "triggerName": text(200),
    "executionId": ids | text(64),
    "startedAt": moments,
    "siteKey": st.just("ignored"),
    "actions": st.just([RECORD["actions"][0]] * 51) | st.just([]),
}


def with_action(action: dict) -> dict:
    return {**RECORD, "actions": [RECORD["actions"][1], action]}


# Mostly one change to the site script's record, so that everything else about it is valid.
records = (
    changed(RECORD, RECORD_CHOICES, most=1)
    | changed(RECORD["actions"][0], ACTION_CHOICES, most=1).map(with_action)
    | changed(RECORD, RECORD_CHOICES, most=3)
)


def drf_answer(data) -> tuple[bool, object]:
    try:
        return True, SERIALIZER.run_validation(data)
    except serializers.ValidationError as error:
        return False, error.detail


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(records | others | st.lists(records, max_size=1) | st.text())
def test_what_the_compiled_checks_accept_drf_accepts_with_the_same_data(data):
    accepted, answer = drf_answer(data)
    try:
        compiled = COMPILED.validated(data)
    except Undecided:
        compiled = None

    if compiled is not None:
        assert accepted and compiled == answer
    try:
        assert (True, COMPILED.run_validation(data)) == (accepted, answer)
    except serializers.ValidationError as error:
        assert (False, error.detail) == (accepted, answer)


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"userId": "user-456"},
        {"deviceType": "", "actions": []},
        {"startedAt": (NOW - timedelta(hours=1)).isoformat()},
        {"actions": [{"name": "Hide", "executionTimeMs": None, "error": "no element"}]},
    ],
)
def test_the_site_scripts_records_take_the_compiled_checks(change):
    record = {**site_script_record(), **change}

    assert COMPILED.validated(record) == SERIALIZER.run_validation(record)


@pytest.mark.parametrize(
    "field",
    [
        serializers.FloatField(),
        serializers.IntegerField(validators=[lambda value: None]),
        serializers.CharField(default="x"),
        serializers.CharField(source="a.b"),
    ],
)
def test_a_field_it_cannot_check_exactly_stops_compilation(field):
    class Record(serializers.Serializer):
        value = field

    with pytest.raises(TypeError):
        CompiledSerializer(Record())


@pytest.mark.parametrize("inverse_match", [False, True])
@pytest.mark.parametrize("value", ["abc", "ABC", "a b", "ab1", "x\ny"])
def test_a_pattern_is_checked_as_djangos_validator_checks_it(inverse_match, value):
    letters = RegexValidator(r"^[a-z]+$", flags=re.IGNORECASE, inverse_match=inverse_match)

    class Record(serializers.Serializer):
        code = serializers.CharField(validators=[letters])

    drf_accepts, _ = _answer(Record(), {"code": value})
    try:
        CompiledSerializer(Record()).validated({"code": value})
        compiled_accepts = True
    except Undecided:
        compiled_accepts = False

    assert compiled_accepts == drf_accepts


def _answer(serializer, data) -> tuple[bool, object]:
    try:
        return True, serializer.run_validation(data)
    except serializers.ValidationError as error:
        return False, error.detail


def test_a_serializer_checking_more_than_its_fields_stops_compilation():
    class Record(serializers.Serializer):
        value = serializers.CharField()

        def validate(self, attrs):
            return attrs

    with pytest.raises(TypeError):
        CompiledSerializer(Record())


@pytest.mark.parametrize("compiled", [False, True])
def test_a_config_may_take_exactly_its_limit_in_utf8_json(compiled):
    validate = COMPILED.run_validation if compiled else SERIALIZER.run_validation
    frame = len('{"t":""}')
    fits = {"t": "é" * ((MAX_CONFIG_BYTES - frame) // 2)}  # two bytes each in UTF-8
    over = {"t": fits["t"] + "ab"}
    record = site_script_record()

    accepted = validate({**record, "actions": [{"name": "Set", "config": fits}]})
    with pytest.raises(serializers.ValidationError) as refused:
        validate({**record, "actions": [{"name": "Set", "config": over}]})

    assert accepted["actions"][0]["config"] == fits
    assert refused.value.detail["actions"][0]["config"] == [
        f"Must be at most {MAX_CONFIG_BYTES} bytes as JSON."
    ]
