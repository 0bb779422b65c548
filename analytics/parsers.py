import codecs
import io

import msgspec
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding


class TrackingJSONParser(JSONParser):
    """JSON that refuses absurd nesting with a 400 instead of exhausting the stack.

    UTF-8 JSON is read by msgspec, in C. Whatever msgspec refuses (NaN, a lone surrogate,
    malformed JSON) or another charset is read by DRF's parser, so it is taken or refused as DRF
    would, in DRF's words."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            if _utf8(parser_context):
                body = stream.read()
                try:
                    return msgspec.json.decode(body)
                except (msgspec.MsgspecError, ValueError):  # e.g. not UTF-8
                    stream = io.BytesIO(body)
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None


def _utf8(parser_context: dict | None) -> bool:
    """Whether the body is UTF-8, by the charset DRF reads it with (a 400 for one it refuses)."""
    return codecs.lookup(get_encoding(parser_context or {})).name == "utf-8"


class PlainTextJSONParser(TrackingJSONParser):
    """`navigator.sendBeacon` posts strings as text/plain, which needs no CORS preflight."""

    media_type = "text/plain"
