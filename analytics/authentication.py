from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from workflows.cors import request_origin
from workflows.models import Site


class OriginNotAllowed(exceptions.PermissionDenied):
    """The page posting is on an origin its site does not list."""


class SiteKeyAuthentication(authentication.BaseAuthentication):
    """The site script's credential: the site's public key, in `X-Site-Key` or, for beacons
    that cannot set headers, as `siteKey` in the body. Authenticates as the site's owner,
    with the site as `request.auth`; meant for the tracking endpoint only."""

    def authenticate(self, request: Request) -> tuple | None:
        key = request.headers.get("X-Site-Key")
        if not key and isinstance(request.data, dict):
            key = request.data.get("siteKey")
        if not key:
            return None
        if not isinstance(key, str) or len(key) > 64:
            raise exceptions.AuthenticationFailed("Unknown site key.")
        origin = request_origin(request)
        site = Site.objects.by_key(key, origin)
        if site is None:
            raise exceptions.AuthenticationFailed("Unknown site key.")
        if origin and not site.origin_allowed:
            raise OriginNotAllowed(f"Origin {origin} is not allowed for this site.")
        if not site.owner.is_active:
            raise exceptions.AuthenticationFailed("Unknown site key.")
        return site.owner, site

    def authenticate_header(self, request: Request) -> str:
        return "SiteKey"


class SiteKeyScheme(OpenApiAuthenticationExtension):
    target_class = SiteKeyAuthentication
    name = "siteKey"

    def get_security_definition(self, auto_schema) -> dict:
        return {"type": "apiKey", "in": "header", "name": "X-Site-Key"}
