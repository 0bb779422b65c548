import msgspec
from rest_framework.renderers import JSONRenderer


class TrackingJSONRenderer(JSONRenderer):
    """DRF's JSON, encoded by msgspec when the answer holds only plain values (as the tracking
    answers do); DRF's encoder takes anything else (error details, dates)."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            body = msgspec.json.encode(data) if data is not None else b""
        except TypeError:
            return super().render(data, accepted_media_type, renderer_context)
        # As DRF does, so that the JSON is also valid JavaScript.
        return body.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
