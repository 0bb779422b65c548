import contextlib
import logging
import zoneinfo

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.utils import timezone

logger = logging.getLogger("tracker.database")

RETRY_AFTER_SECONDS = 5


class DatabaseUnavailableMiddleware:
    """An unreachable database is a 503 the client can retry, never a 500 with a traceback."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.error("database unavailable: %s", exception)
        if request.path.startswith("/api/"):
            response = JsonResponse(
                {
                    "success": False,
                    "errors": {"database": ["Temporarily unavailable; retry shortly."]},
                },
                status=503,
            )
        else:
            response = TemplateResponse(request, "503.html", status=503).render()
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


class UserTimeZoneMiddleware:
    """Show dates in the signed-in user's time zone, kept in the session at login (no query)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        timezone.deactivate()
        try:
            # Without a session cookie there is no session to read (and reading one would
            # make every answer vary with cookies).
            signed_in = settings.SESSION_COOKIE_NAME in request.COOKIES
            name = request.session.get("time_zone") if signed_in else None
        except DatabaseError:
            # The view will meet the same outage and answer 503; dates can wait.
            name = None
        if name:
            with contextlib.suppress(zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.activate(zoneinfo.ZoneInfo(name))
        return self.get_response(request)
