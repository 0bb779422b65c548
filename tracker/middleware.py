import contextlib
import logging
import os
import socket
import threading
import time
import zoneinfo

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.utils import timezone

logger = logging.getLogger("tracker.database")


class QueryDeadline:
    """Gives up on a query still waiting on the database after `seconds`, from the app's side.

    PostgreSQL enforces its statement timeout only while it runs: a server that hangs (its
    processes stopped, its host frozen, the network cut without a reset) would hold the request
    for as long as it hangs. A watchdog thread shuts the socket of an overdue query down; the
    query then fails with OperationalError (a 503) and Django drops the connection.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.waiting: dict[object, tuple[float, object]] = {}
        self.watchdog: threading.Thread | None = None
        self.pid = None

    def __call__(self, execute, sql, params, many, context):
        if self.seconds <= 0:  # no deadline, as statement_timeout = 0 means in PostgreSQL
            return execute(sql, params, many, context)
        token = object()
        with self.lock:
            self.waiting[token] = (time.monotonic() + self.seconds, context["connection"])
            if self.pid != os.getpid():  # first query of this process (or of a forked one)
                self.pid = os.getpid()
                self.watchdog = threading.Thread(target=self._watch, daemon=True)
                self.watchdog.start()
        try:
            return execute(sql, params, many, context)
        finally:
            with self.lock:
                del self.waiting[token]

    def _watch(self) -> None:
        while True:
            time.sleep(min(self.seconds / 10, 0.25))
            now = time.monotonic()
            with self.lock:
                overdue = [wrapper for deadline, wrapper in self.waiting.values() if deadline < now]
            for wrapper in overdue:
                _abandon(wrapper)


def _abandon(wrapper) -> None:
    raw = wrapper.connection
    if wrapper.vendor != "postgresql" or raw is None or raw.closed:
        return
    logger.error("database hung for %.1f s: abandoning the connection", QUERY_DEADLINE.seconds)
    with contextlib.suppress(OSError):
        # Shut down, not closed: the descriptor stays the driver's, and the query waiting on
        # it returns at once with an error.
        socket.socket(fileno=os.dup(raw.pgconn.socket)).shutdown(socket.SHUT_RDWR)


QUERY_DEADLINE = QueryDeadline(settings.DB_QUERY_DEADLINE_SECONDS)


class DatabaseUnavailableMiddleware:
    """An unreachable database is a 503 the client can retry, never a 500 with a traceback; a
    hung one too, within QUERY_DEADLINE."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with connection.execute_wrapper(QUERY_DEADLINE):
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
        response["Retry-After"] = str(settings.DATABASE_RETRY_AFTER_SECONDS)
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
