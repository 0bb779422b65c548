from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class TrackingJSONParser(JSONParser):
    """JSON that refuses absurd nesting with a 400 instead of exhausting the stack."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None


class PlainTextJSONParser(TrackingJSONParser):
    """`navigator.sendBeacon` posts strings as text/plain, which needs no CORS preflight."""

    media_type = "text/plain"
