"""CORS for the endpoints the site script calls from a customer's pages."""

import logging
import threading

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from rest_framework import exceptions
from rest_framework.views import APIView

from workflows.models import SiteOrigin, normalize_origin

PREFLIGHT_MAX_AGE = 86400

logger = logging.getLogger("tracker.database")


def request_origin(request: HttpRequest) -> str | None:
    """The normalized `Origin` of a cross-origin request, or None when there is none. `null`
    (a sandboxed iframe, a file) is an origin like any other: refused unless a site lists it."""
    origin = request.META.get("HTTP_ORIGIN")  # request.headers would copy every header
    if not origin:
        return None
    try:
        origin = normalize_origin(origin)
    except ValidationError:
        return None
    own = normalize_origin(f"{request.scheme}://{request.get_host()}")
    return None if origin == own else origin


def any_site_allows(origin: str) -> bool:
    return SiteOrigin.objects.filter(origin=origin).exists()


def allow_origin(response: HttpResponse, origin: str) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Expose-Headers"] = "Retry-After"
    _vary_on_origin(response)
    return response


def preflight_response(request: HttpRequest, *, methods: str, headers: str) -> HttpResponse:
    """Answer a preflight: allowed when some site lists the origin; the request itself is
    checked against its own site's origins once the site key is known."""
    response = HttpResponse(status=204)
    origin = request_origin(request)
    if origin and any_site_allows(origin):
        allow_origin(response, origin)
        response["Access-Control-Allow-Methods"] = methods
        response["Access-Control-Allow-Headers"] = headers
        response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
    else:
        _vary_on_origin(response)
    return response


def _vary_on_origin(response: HttpResponse) -> None:
    patch_vary_headers(response, ["Origin"])


class ConfirmedOrigins:
    """The (site key, origin) pairs this process has seen the database allow: answers given
    without asking it (a rate limit counted before any query, a database that is down) are
    readable by those pages too. Bounded: past `size` pairs, the oldest are forgotten."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self.pairs: dict[tuple[str, str], None] = {}
        self.lock = threading.Lock()

    def confirm(self, site_key: str, origin: str) -> None:
        if (site_key, origin) in self.pairs:
            return
        with self.lock:
            self.pairs[(site_key, origin)] = None
            while len(self.pairs) > self.size:
                del self.pairs[next(iter(self.pairs))]

    def allows(self, site_key: str | None, origin: str) -> bool:
        return site_key is not None and (site_key, origin) in self.pairs


CONFIRMED = ConfirmedOrigins()


class SiteScriptView(APIView):
    """An endpoint the site script calls from its site's pages. Every answer to a page on an
    origin the site lists is readable there, with its Retry-After, refusals and a database
    outage included: set `site_key`, and `allowed_origin` once the database has allowed it."""

    site_key: str | None = None
    allowed_origin: str | None = None

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        origin = request_origin(request)
        if origin and self.allowed_origin == origin:
            CONFIRMED.confirm(self.site_key, origin)
            allow_origin(response, origin)
        elif origin and CONFIRMED.allows(self.site_key, origin):
            allow_origin(response, origin)
        else:
            _vary_on_origin(response)
        return response

    def handle_exception(self, exc: Exception):
        # A database outage answered here rather than by the middleware, so that the answer
        # goes through finalize_response (and its CORS).
        if isinstance(exc, OperationalError | InterfaceError):
            logger.error("database unavailable: %s", exc)
            exc = DatabaseUnavailable()
        return super().handle_exception(exc)


class DatabaseUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "Temporarily unavailable; retry shortly."
    default_code = "database_unavailable"

    def __init__(self) -> None:
        super().__init__()
        self.wait = settings.DATABASE_RETRY_AFTER_SECONDS  # DRF sends it as Retry-After
