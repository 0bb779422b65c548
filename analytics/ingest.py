"""The site script's common case served in front of Django's request cycle.

Nearly every tracking post is one valid execution with a site key. `TrackingIngest` wraps the
WSGI application: it counts such a post against the limits and records it in one statement
without the middleware that serve pages (sessions, CSRF, messages, ...), URL resolution or DRF,
and answers as the full path would, headers and database outages included. Anything else
(a refusal, a retry, a batch, a session) goes on to Django with its body and its count, which
the tracking view reuses; so does an unexpected error, which is logged.
"""

import io
import logging
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core import signals
from django.core.exceptions import DisallowedHost, PermissionDenied, RequestDataTooBig
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponse
from django.urls import reverse
from django.utils.module_loading import import_string

from analytics.api import count_tracking_request, record_common_case

logger = logging.getLogger("analytics.tracking")

# The middleware whose request checks (HTTPS redirect, allowed hosts), error answers and
# response headers (nosniff, referrer and opener policy, CSP, X-Frame-Options,
# Content-Length) a tracking answer gets, in settings.MIDDLEWARE's order. The others serve
# pages or sessions: a post with a site key needs none of them, and its answer does not vary
# with cookies.
APPLIED_MIDDLEWARE = {
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tracker.middleware.DatabaseUnavailableMiddleware",  # a database outage: 503
}
SKIPPED_MIDDLEWARE = {
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "tracker.middleware.UserTimeZoneMiddleware",
}

StartResponse = Callable[[str, list[tuple[str, str]]], object]


class TrackingIngest:
    def __init__(self, application: Callable) -> None:
        self.application = application
        self.path = reverse("track-execution")
        self.middleware = [
            import_string(path)(_never_called)
            for path in settings.MIDDLEWARE
            if path in APPLIED_MIDDLEWARE
        ]

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] != "POST" or environ.get("PATH_INFO") != self.path:
            return self.application(environ, start_response)
        signals.request_started.send(sender=self.__class__, environ=environ)
        try:
            response = self._answer(WSGIRequest(environ))
        except Exception:
            logger.warning("tracking ingest failed; answering through Django", exc_info=True)
            response = None
        finally:
            signals.request_finished.send(sender=self.__class__)
        if response is None:
            return self.application(environ, start_response)
        start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
        return [response.content]

    def _answer(self, request: WSGIRequest) -> HttpResponse | None:
        try:
            # Read once, and kept for Django should it take the post over.
            request.environ["wsgi.input"] = io.BytesIO(request.body)
            for middleware in self.middleware:
                if hasattr(middleware, "process_request") and middleware.process_request(request):
                    return None  # a redirect, which Django gives
        except (DisallowedHost, PermissionDenied, RequestDataTooBig, OSError):
            return None  # Django answers 400, 403 or 413 (a too large body is never read)
        counted = count_tracking_request(request)
        try:
            response = record_common_case(request, counted)
        except Exception as error:
            response = self._exception_response(request, error)
            if response is None:
                raise
        if response is not None:
            for middleware in reversed(self.middleware):
                if hasattr(middleware, "process_response"):
                    response = middleware.process_response(request, response)
        return response

    def _exception_response(self, request: WSGIRequest, error: Exception) -> HttpResponse | None:
        """What the middleware make of an error (a database outage: 503), as in Django."""
        for middleware in reversed(self.middleware):
            if hasattr(middleware, "process_exception"):
                response = middleware.process_exception(request, error)
                if response is not None:
                    return response
        return None


def _never_called(request):
    raise AssertionError("TrackingIngest runs its middleware's hooks, not the chain")
