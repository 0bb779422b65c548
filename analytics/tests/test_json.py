"""The tracking endpoint reads and writes JSON with msgspec, and answers exactly as DRF would."""

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ErrorDetail, ParseError
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer

from analytics.parsers import TrackingJSONParser
from analytics.renderers import TrackingJSONRenderer

# JSON values as the site script sends them, and the odd ones DRF reads its own way.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
ODD_BODIES = [
    b'{"a": NaN}',
    b'{"a": Infinity}',
    b'{"a": 1e400}',
    b'{"a": "\\ud800"}',
    b'{"a": "\xff\xfe"}',
    b'\xef\xbb\xbf{"a": 1}',
    b'{"a": 1, "a": 2}',
    b'{"a": "tab\there"}',
    b'{"a": 1} x',
    b"",
    b"   ",
    b"[" * 50 + b"]" * 50,
]


def parsed(parser, body: bytes, encoding: str = "utf-8"):
    try:
        return parser.parse(io.BytesIO(body), "application/json", {"encoding": encoding})
    except ParseError as error:
        return ParseError, str(error.detail)


@settings(max_examples=500, deadline=None, derandomize=True)
@given(
    values.map(lambda value: json.dumps(value).encode())
    | st.sampled_from(ODD_BODIES)
    | st.binary(max_size=40)
)
def test_the_parser_reads_every_body_as_drfs_does(body):
    assert parsed(TrackingJSONParser(), body) == parsed(JSONParser(), body)


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_a_body_in_another_charset_is_read_in_that_charset(encoding):
    body = json.dumps({"triggerName": "Café"}, ensure_ascii=False).encode(encoding)

    assert parsed(TrackingJSONParser(), body, encoding) == {"triggerName": "Café"}


def test_a_body_nested_past_the_stack_answers_a_parse_error():
    with pytest.raises(ParseError, match="nested too deeply"):
        TrackingJSONParser().parse(io.BytesIO(b"[" * 100_000), "application/json", {})


@settings(max_examples=500, deadline=None, derandomize=True)
@given(values)
def test_the_renderer_writes_the_json_drfs_renderer_writes(data):
    written, drfs = TrackingJSONRenderer().render(data), JSONRenderer().render(data)

    assert written == drfs or json.loads(written) == json.loads(drfs)  # floats: 1e16, 1e+16
    assert "\u2028".encode() not in written and "\u2029".encode() not in written


def test_answers_of_plain_values_are_written_byte_for_byte_as_drf_writes_them():
    answer = {"success": True, "executionId": "ex_1", "counted": None, "note": "é \u2028 \u2029"}

    assert TrackingJSONRenderer().render(answer) == JSONRenderer().render(answer)


@pytest.mark.parametrize(
    "data", [None, {"workflowId": [ErrorDetail("Workflow not found.", code="not_found")]}]
)
def test_nothing_and_drfs_own_types_are_written_by_drf(data):
    assert TrackingJSONRenderer().render(data) == JSONRenderer().render(data)
