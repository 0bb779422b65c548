import json
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from analytics.authentication import OriginNotAllowed, SiteKeyAuthentication
from analytics.models import Execution
from analytics.parsers import PlainTextJSONParser, TrackingJSONParser
from analytics.ratelimits import tracking_retry_after
from analytics.serializers import (
    ExecutionSerializer,
    TrackExecutionBatchSerializer,
    TrackExecutionErrorSerializer,
    TrackExecutionResponseSerializer,
    TrackExecutionSerializer,
)
from analytics.services import (
    WorkflowNotFound,
    record_execution,
    record_executions,
    record_for_site_key,
)
from analytics.validation import CompiledSerializer
from workflows.cors import allow_origin, preflight_response, request_origin
from workflows.models import Site, Workflow, mask_site_key

logger = logging.getLogger("analytics.tracking")

# The endpoint answers JSON only: nothing in it may load or be framed. Set on the response, the
# policy also spares the CSP middleware building the pages' policy for every post.
JSON_ONLY_POLICY = "default-src 'none'; frame-ancestors 'none'"

TRACKED = "Workflow execution tracked successfully"
ALREADY_TRACKED = "Workflow execution already tracked"
WORKFLOW_NOT_FOUND = "Workflow not found."

# The field each kind of refusal is about, for the {"errors": {field: [...]}} envelope.
FIELD_OF_ERROR = {
    exceptions.NotAuthenticated: "siteKey",
    exceptions.AuthenticationFailed: "siteKey",
    OriginNotAllowed: "origin",
    exceptions.PermissionDenied: "request",  # e.g. a session without its CSRF token
    exceptions.NotFound: "workflowId",
    exceptions.Throttled: "rateLimit",
    exceptions.ParseError: "body",
    exceptions.UnsupportedMediaType: "body",
    exceptions.MethodNotAllowed: "method",
}


class TrackExecutionView(APIView):
    """Record playbook executions sent by the site script: one, or a batch of up to 100
    validated one by one and recorded together."""

    authentication_classes = [SiteKeyAuthentication, TokenAuthentication, SessionAuthentication]
    parser_classes = [TrackingJSONParser, PlainTextJSONParser]

    def get_permissions(self):
        # A CORS preflight carries no credentials.
        return [] if self.request.method == "OPTIONS" else super().get_permissions()

    def dispatch(self, request: HttpRequest, *args, **kwargs):
        # Limits first, then the common case (a site script's single execution) in one
        # database round trip; everything else, refusals included, takes DRF's full path.
        # In front of Django, analytics.ingest has usually done both already.
        self.retry_after = self.parsed_body = None
        if request.method == "POST":
            counted = request.META.get(COUNTED)
            if counted is None:
                counted = count_tracking_request(request)
                response = record_common_case(request, counted)
                if response is not None:
                    return response
            self.retry_after, self.parsed_body = counted.retry_after, counted.payload
        return super().dispatch(request, *args, **kwargs)

    def initial(self, request: Request, *args, **kwargs) -> None:
        if self.retry_after is not None:
            raise exceptions.Throttled(wait=self.retry_after)
        super().initial(request, *args, **kwargs)

    def options(self, request: Request, *args, **kwargs) -> Response:
        return preflight_response(request, methods="POST", headers="Content-Type, X-Site-Key")

    @extend_schema(
        operation_id="track_execution",
        request=TrackExecutionSerializer,
        parameters=[
            OpenApiParameter(
                "X-Site-Key",
                location=OpenApiParameter.HEADER,
                required=False,
                description="The site's public key (or `siteKey` in the body).",
            )
        ],
        responses={
            201: TrackExecutionResponseSerializer,
            200: OpenApiResponse(
                TrackExecutionResponseSerializer,
                description="A retry of an `executionId` already recorded, or a batch's results.",
            ),
            400: TrackExecutionErrorSerializer,
            401: TrackExecutionErrorSerializer,
            403: TrackExecutionErrorSerializer,
            404: TrackExecutionErrorSerializer,
            413: TrackExecutionErrorSerializer,
            429: TrackExecutionErrorSerializer,
            503: TrackExecutionErrorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        payload = request.data
        if not isinstance(payload, dict):
            raise exceptions.ParseError("Expected a JSON object.")
        if "executions" in payload and "workflowId" not in payload:
            return self._post_batch(request, payload)
        serializer = TrackExecutionSerializer(data=payload)
        serializer.is_valid(raise_exception=True)
        try:
            recorded = record_execution(
                owner=request.user, site=_site_of(request), **serializer.validated_data
            )
        except WorkflowNotFound:
            raise exceptions.NotFound(WORKFLOW_NOT_FOUND) from None
        return Response(
            _tracked(recorded), status=status.HTTP_201_CREATED if recorded.created else 200
        )

    def _post_batch(self, request: Request, payload: dict[str, Any]) -> Response:
        envelope = TrackExecutionBatchSerializer(data=payload)
        envelope.is_valid(raise_exception=True)
        results: list[dict[str, Any] | None] = []
        valid: list[tuple[int, dict[str, Any]]] = []
        for index, item in enumerate(envelope.validated_data["executions"]):
            try:
                valid.append((index, EXECUTION.run_validation(item)))
                results.append(None)
            except exceptions.ValidationError as error:
                _log_rejection(request, 400, error.detail)
                results.append({"success": False, "status": 400, "errors": error.detail})
        recorded = record_executions(
            owner=request.user, site=_site_of(request), items=[item for _, item in valid]
        )
        for (index, _), outcome in zip(valid, recorded, strict=True):
            if outcome is None:
                errors = {"workflowId": [WORKFLOW_NOT_FOUND]}
                _log_rejection(request, 404, errors)
                results[index] = {"success": False, "status": 404, "errors": errors}
            else:
                results[index] = {"status": 201 if outcome.created else 200, **_tracked(outcome)}
        return Response(
            {
                "success": all(result["success"] for result in results),
                "recorded": sum(result["status"] == 201 for result in results),
                "duplicates": sum(result["status"] == 200 for result in results),
                "failed": sum(not result["success"] for result in results),
                "results": results,
            }
        )

    def finalize_response(self, request: Request, response: Response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response.headers.setdefault("Content-Security-Policy", JSON_ONLY_POLICY)
        if isinstance(getattr(request, "_auth", None), Site) and request_origin(request):
            # Authentication already refused any origin the site does not list.
            allow_origin(response, request_origin(request))
        return response

    def get_exception_handler(self):
        return tracking_exception_handler


# Validates one execution at a time, in C when it is valid (building a serializer per request
# costs more than validating).
EXECUTION = CompiledSerializer(TrackExecutionSerializer())
COMPACT = {"separators": (",", ":")}
JSON_MEDIA_TYPES = {"application/json", "text/plain"}


def _json_object(request: HttpRequest) -> dict[str, Any] | None:
    """The body as a JSON object when it plainly is one (UTF-8, a media type the endpoint
    accepts, no NaN), else None: DRF's parsers then give the exact answer."""
    if request.content_type not in JSON_MEDIA_TYPES:
        return None
    if request.encoding and request.encoding.lower() not in {"utf-8", "utf8"}:
        return None
    try:
        payload = json.loads(request.body.decode(), parse_constant=_refuse_constant)
    except (ValueError, RecursionError, RequestDataTooBig):
        return None
    return payload if isinstance(payload, dict) else None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


@dataclass(frozen=True)
class CountedRequest:
    """A tracking post counted against the rate limits, with its body when it is a JSON
    object and its site key when it names one."""

    payload: dict[str, Any] | None
    site_key: str | None
    retry_after: int | None


# Where a request's CountedRequest is kept (in the WSGI environ, which Django's request
# shares as META), so that a request handed on from analytics.ingest is not counted twice.
COUNTED = "tracker.tracking_counted"


def count_tracking_request(request: HttpRequest) -> CountedRequest:
    payload = _json_object(request)
    # META, not request.headers: that copies every header first, a tenth of this function.
    site_key = request.META.get("HTTP_X_SITE_KEY") or (payload or {}).get("siteKey")
    if not isinstance(site_key, str):
        site_key = None
    counted = CountedRequest(payload, site_key, tracking_retry_after(request, site_key))
    request.META[COUNTED] = counted
    return counted


def record_common_case(request: HttpRequest, counted: CountedRequest) -> HttpResponse | None:
    """201 for a valid single execution with a site key, within the limits, recorded in one
    statement; None for anything else, which DRF's full path then answers."""
    payload, site_key = counted.payload, counted.site_key
    if counted.retry_after is not None or payload is None or site_key is None:
        return None
    if "workflowId" not in payload or len(site_key) > 64:
        return None
    try:
        fields = EXECUTION.run_validation(payload)
    except exceptions.ValidationError:
        return None
    origin = request_origin(request)
    recorded = record_for_site_key(site_key=site_key, origin=origin, fields=fields)
    if recorded is None:
        return None
    # Compact, as DRF renders the endpoint's other answers.
    response = JsonResponse(
        _tracked(recorded), status=status.HTTP_201_CREATED, json_dumps_params=COMPACT
    )
    response.headers["Content-Security-Policy"] = JSON_ONLY_POLICY
    return allow_origin(response, origin) if origin else response


def _site_of(request: Request) -> Site | None:
    return request.auth if isinstance(request.auth, Site) else None


def _tracked(recorded) -> dict[str, Any]:
    return {
        "success": True,
        "executionId": recorded.execution_id,
        "message": TRACKED if recorded.created else ALREADY_TRACKED,
    }


def tracking_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handling (status, Retry-After, WWW-Authenticate) in the spec's error envelope."""
    request = context["request"]
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        response = Response(status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
        errors = {"body": [f"Request body is larger than {limit} bytes."]}
    else:
        response = exception_handler(exc, context)
        if response is None:
            return None
        if isinstance(exc, exceptions.ValidationError):
            errors = exc.detail if isinstance(exc.detail, dict) else {"body": exc.detail}
        else:
            field = next(
                (name for kind, name in FIELD_OF_ERROR.items() if isinstance(exc, kind)), "request"
            )
            errors = {field: [str(exc.detail)]}
    response.data = {"success": False, "errors": errors}
    _log_rejection(request, response.status_code, errors)
    return response


def _log_rejection(request: Request, status_code: int, errors: Any) -> None:
    key = request.headers.get("X-Site-Key") or ""
    logger.info(
        "track-execution rejected: status=%s errors=%s site=%s ip=%s",
        status_code,
        errors,
        mask_site_key(key) if key else "-",
        request.META.get("REMOTE_ADDR"),
    )


class WorkflowExecutionList(generics.ListAPIView):
    """A playbook's execution history, newest first."""

    serializer_class = ExecutionSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular inspecting the view
            return Execution.objects.none()
        workflow = generics.get_object_or_404(
            Workflow.objects.for_user(self.request.user), public_id=self.kwargs["public_id"]
        )
        return (
            Execution.objects.filter(workflow=workflow)
            .order_by("-executed_at", "-pk")
            .prefetch_related("events")
        )


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check(_ping_database), "cache": _check(_ping_cache)}
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503
    )


def _ping_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _ping_cache() -> None:
    cache.set("healthz", "ok", 10)
    if cache.get("healthz") != "ok":
        raise RuntimeError("cache did not return what was stored")


def _check(ping) -> str:
    try:
        ping()
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"
