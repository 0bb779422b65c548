"""CORS for the endpoints the site script calls from a customer's pages."""

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

from workflows.models import SiteOrigin, normalize_origin

PREFLIGHT_MAX_AGE = 86400


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
