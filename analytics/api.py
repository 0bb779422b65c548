import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.utils.decorators import method_decorator
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from analytics import outcomes
from analytics.authentication import OriginNotAllowed, SiteKeyAuthentication
from analytics.bots import bot_name
from analytics.conversions import record_conversions
from analytics.models import Execution
from analytics.parsers import PlainTextJSONParser, TrackingJSONParser
from analytics.queries import planned_for_their_values
from analytics.ratelimits import tracking_retry_after
from analytics.renderers import TrackingJSONRenderer
from analytics.serializers import (
    ExecutionSerializer,
    LiftSerializer,
    TrackConversionBatchSerializer,
    TrackConversionResponseSerializer,
    TrackConversionSerializer,
    TrackExecutionBatchSerializer,
    TrackExecutionErrorSerializer,
    TrackExecutionResponseSerializer,
    TrackExecutionSerializer,
    check_held_out,
)
from analytics.services import (
    WorkflowNotFound,
    count_not_counted,
    record_execution,
    record_executions,
    record_for_site_key,
)
from analytics.validation import CompiledSerializer
from workflows.cors import (
    DatabaseUnavailable,
    SiteScriptView,
    preflight_response,
    request_origin,
)
from workflows.definitions import MAX_BATCH
from workflows.models import SITE_KEY_FORM, Site, mask_site_key
from workflows.shortcuts import get_workflow_for_user

logger = logging.getLogger("analytics.tracking")

# The endpoint answers JSON only: nothing in it may load or be framed. Set on the response, the
# policy also spares the CSP middleware building the pages' policy for every post.
JSON_ONLY_POLICY = "default-src 'none'; frame-ancestors 'none'"

TRACKED = "Workflow execution tracked successfully"
ALREADY_TRACKED = "Workflow execution already tracked"
HELD_OUT_TRACKED = "Held-out run tracked"
HELD_OUT_ALREADY_TRACKED = "Held-out visitor already counted"
WORKFLOW_NOT_FOUND = "Workflow not found."
CONVERSION_TRACKED = "Conversion tracked"
CONVERSION_ALREADY_TRACKED = "Conversion already counted for this visitor today"
GOAL_NOT_FOUND = "Goal not found."

# The field each kind of refusal is about, for the {"errors": {field: [...]}} envelope.
FIELD_OF_ERROR = {
    exceptions.NotAuthenticated: "siteKey",
    exceptions.AuthenticationFailed: "siteKey",
    OriginNotAllowed: "origin",
    exceptions.PermissionDenied: "request",  # e.g. a session without its CSRF token
    exceptions.NotFound: "workflowId",  # "goalId" for conversions (see TrackingView)
    exceptions.Throttled: "rateLimit",
    exceptions.ParseError: "body",
    exceptions.UnsupportedMediaType: "body",
    exceptions.MethodNotAllowed: "method",
    DatabaseUnavailable: "database",
}


# How both tracking endpoints are described in the OpenAPI schema.
SITE_KEY_HEADER = OpenApiParameter(
    "X-Site-Key",
    location=OpenApiParameter.HEADER,
    required=False,
    description="The site's public key (or `siteKey` in the body).",
)
REFUSALS = dict.fromkeys((400, 401, 403, 404, 413, 429, 503), TrackExecutionErrorSerializer)


class JSONOnly(DefaultContentNegotiation):
    """The endpoint answers JSON whatever the client accepts: nothing to negotiate (DRF reads
    the Accept header and the format parameter of every post otherwise)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class TrackingView(SiteScriptView):
    """What the site script's posts have in common: a site key (or, for executions, a token or
    a session), JSON in either content type, limits, answers in the spec's envelope, CORS."""

    authentication_classes = [SiteKeyAuthentication, TokenAuthentication, SessionAuthentication]
    permission_classes = []  # the credentials are checked by `credentials`, where needed
    parser_classes = [TrackingJSONParser, PlainTextJSONParser]
    renderer_classes = [TrackingJSONRenderer]
    content_negotiation_class = JSONOnly
    # The field a 404 is about, and the one an answer names what it recorded by.
    not_found_field = "workflowId"
    recorded_id_field = "executionId"

    def perform_authentication(self, request: Request) -> None:
        """Lazily, as DRF allows: a site script's post is authenticated by the statement that
        records it, everything else by `credentials`."""

    def options(self, request: Request, *args, **kwargs) -> Response:
        return preflight_response(request, methods="POST", headers="Content-Type, X-Site-Key")

    def payload(self, request: Request) -> dict[str, Any]:
        """The posted JSON object, once the request is within its limits; its site key is
        `self.site_key` (None when it names none)."""
        payload = request.data
        if not isinstance(payload, dict):
            raise exceptions.ParseError("Expected a JSON object.")
        site_key = self.site_key = _site_key(request, payload)
        retry_after = tracking_retry_after(request, site_key)
        if retry_after is not None:
            raise exceptions.Throttled(wait=retry_after)
        return payload

    def from_a_bot(self, request: Request, payload: dict[str, Any], kind: str) -> Response | None:
        """When a site script's post comes from a known bot: count the `kind` (executions or
        conversions) it carried as not counted, for its site's owner, and answer that it was
        taken, so that it is not sent again. None for anyone else."""
        bot = self.site_key and bot_name(request.META.get("HTTP_USER_AGENT", ""))
        if not bot:
            return None
        owner, _ = self.credentials(request)
        batch = payload.get(kind)
        items = len(batch) if isinstance(batch, list) and 0 < len(batch) <= MAX_BATCH else 1
        count_not_counted(owner=owner, reason=bot, **{kind: items})
        return Response(
            {
                "success": True,
                self.recorded_id_field: None,
                "counted": False,
                "message": f"Not counted: {bot} is a known bot.",
            }
        )

    def credentials(self, request: Request) -> tuple[Any, Site | None]:
        """The owner the request records for, and its site when it came with a site key:
        401 without credentials or with an unknown key, 403 for a page on an origin its site
        does not list (see SiteKeyAuthentication)."""
        if not request.user.is_authenticated:
            raise exceptions.NotAuthenticated()
        site = request.auth if isinstance(request.auth, Site) else None
        if site is not None:
            self.allowed_origin = request_origin(request)
        return request.user, site

    def finalize_response(self, request: Request, response: Response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response.headers.setdefault("Content-Security-Policy", JSON_ONLY_POLICY)
        return response

    def get_exception_handler(self):
        return tracking_exception_handler

    def answer_batch(self, request: Request, items, *, validate, record, answer, not_found):
        """Validate each item on its own (one bad item spoils no other), `record` the valid ones
        together, and answer each in order: its own status, and `answer` of its recording."""
        results: list[dict[str, Any] | None] = []
        valid: list[tuple[int, dict[str, Any]]] = []
        for index, item in enumerate(items):
            try:
                valid.append((index, validate(item)))
                results.append(None)
            except exceptions.ValidationError as error:
                _log_rejection(request, 400, error.detail)
                results.append({"success": False, "status": 400, "errors": error.detail})
        recorded = record([fields for _, fields in valid])
        for (index, _), outcome in zip(valid, recorded, strict=True):
            if outcome is None:
                errors = {self.not_found_field: [not_found]}
                _log_rejection(request, 404, errors)
                results[index] = {"success": False, "status": 404, "errors": errors}
            else:
                results[index] = {"status": 201 if outcome.created else 200, **answer(outcome)}
        return Response(
            {
                "success": all(result["success"] for result in results),
                "recorded": sum(result["status"] == 201 for result in results),
                "duplicates": sum(result["status"] == 200 for result in results),
                "failed": sum(not result["success"] for result in results),
                "results": results,
            }
        )


class TrackExecutionView(TrackingView):
    """Record playbook executions sent by the site script: one, or a batch of up to 100
    validated one by one and recorded together."""

    @extend_schema(
        operation_id="track_execution",
        request=TrackExecutionSerializer,
        parameters=[SITE_KEY_HEADER],
        responses={
            201: TrackExecutionResponseSerializer,
            200: OpenApiResponse(
                TrackExecutionResponseSerializer,
                description="A retry of an `executionId` already recorded, or a batch's results.",
            ),
            **REFUSALS,
        },
    )
    def post(self, request: Request) -> Response:
        payload = self.payload(request)
        site_key = self.site_key
        not_counted = self.from_a_bot(request, payload, "executions")
        if not_counted is not None:
            return not_counted
        if "executions" in payload and "workflowId" not in payload:
            return self.post_batch(request, payload)
        try:
            fields = validated_execution(payload)
        except exceptions.ValidationError:
            self.credentials(request)  # a stranger is refused before being told what is wrong
            raise
        if site_key:
            origin = request_origin(request)
            recorded = record_for_site_key(site_key=site_key, origin=origin, fields=fields)
            if recorded is None:
                self.credentials(request)  # 401 or 403 when the key or the origin is at fault
                raise exceptions.NotFound(WORKFLOW_NOT_FOUND)
            self.allowed_origin = origin
        else:
            owner, _ = self.credentials(request)
            try:
                recorded = record_execution(owner=owner, site=None, **fields)
            except WorkflowNotFound:
                raise exceptions.NotFound(WORKFLOW_NOT_FOUND) from None
        return Response(_tracked(recorded), status=201 if recorded.created else 200)

    def post_batch(self, request: Request, payload: dict[str, Any]) -> Response:
        owner, site = self.credentials(request)
        envelope = TrackExecutionBatchSerializer(data=payload)
        envelope.is_valid(raise_exception=True)
        return self.answer_batch(
            request,
            envelope.validated_data["executions"],
            validate=validated_execution,
            record=lambda items: record_executions(owner=owner, site=site, items=items),
            answer=_tracked,
            not_found=WORKFLOW_NOT_FOUND,
        )


# Validates one execution at a time, in C when it is valid (building a serializer per request
# costs more than validating).
EXECUTION = CompiledSerializer(TrackExecutionSerializer())
CONVERSION = CompiledSerializer(TrackConversionSerializer())


def validated_execution(data: Any) -> dict[str, Any]:
    return check_held_out(EXECUTION.run_validation(data))


class TrackConversionView(TrackingView):
    """Record visitors reaching goals, sent by the site script with its site key: one, or a
    batch validated one by one and recorded together."""

    authentication_classes = [SiteKeyAuthentication]
    not_found_field = "goalId"
    recorded_id_field = "conversionId"

    @extend_schema(
        operation_id="track_conversion",
        request=TrackConversionSerializer,
        parameters=[SITE_KEY_HEADER],
        responses={
            201: TrackConversionResponseSerializer,
            200: OpenApiResponse(
                TrackConversionResponseSerializer,
                description="The visitor had reached this goal already that day (UTC), a "
                "known bot's post (not counted), or a batch's results.",
            ),
            **REFUSALS,
        },
    )
    def post(self, request: Request) -> Response:
        payload = self.payload(request)
        if self.site_key is None:
            self.credentials(request)  # 401 without a key, or with one that is no key
            raise exceptions.NotAuthenticated("Conversions are posted with the site's key.")
        not_counted = self.from_a_bot(request, payload, "conversions")
        if not_counted is not None:
            return not_counted
        if "conversions" in payload and "goalId" not in payload:
            envelope = TrackConversionBatchSerializer(data=payload)
            if not envelope.is_valid():
                self.credentials(request)
                raise exceptions.ValidationError(envelope.errors)
            return self.post_batch(request, envelope.validated_data["conversions"])
        try:
            fields = CONVERSION.run_validation(payload)
        except exceptions.ValidationError:
            self.credentials(request)  # a stranger is refused before being told what is wrong
            raise
        recorded = self.record(request, [fields])[0]
        if recorded is None:
            raise exceptions.NotFound(GOAL_NOT_FOUND)
        return Response(_converted(recorded), status=201 if recorded.created else 200)

    def post_batch(self, request: Request, items: list[Any]) -> Response:
        return self.answer_batch(
            request,
            items,
            validate=CONVERSION.run_validation,
            record=lambda valid: self.record(request, valid) if valid else [],
            answer=_converted,
            not_found=GOAL_NOT_FOUND,
        )

    def record(self, request: Request, items: list[dict[str, Any]]):
        """Each item's recording, once the key and the origin are known to be in order."""
        origin = request_origin(request)
        recorded = record_conversions(site_key=self.site_key, origin=origin, items=items)
        if recorded is None:
            self.credentials(request)  # 401 or 403 when the key or the origin is at fault
            raise exceptions.NotFound(GOAL_NOT_FOUND)
        self.allowed_origin = origin
        return recorded


def _converted(recorded) -> dict[str, Any]:
    return {
        "success": True,
        "conversionId": recorded.conversion_id,
        "message": CONVERSION_TRACKED if recorded.created else CONVERSION_ALREADY_TRACKED,
    }


def _site_key(request: Request, payload: dict[str, Any]) -> str | None:
    """The site key the request names, in its header or its body (a beacon has no headers),
    when it could be one: anything else (NUL, surrogates) is refused by SiteKeyAuthentication."""
    key = request.META.get("HTTP_X_SITE_KEY") or payload.get("siteKey")
    return key if isinstance(key, str) and SITE_KEY_FORM.fullmatch(key) else None


def _tracked(recorded) -> dict[str, Any]:
    if recorded.execution_id is None:  # held out
        message = HELD_OUT_TRACKED if recorded.created else HELD_OUT_ALREADY_TRACKED
    else:
        message = TRACKED if recorded.created else ALREADY_TRACKED
    return {"success": True, "executionId": recorded.execution_id, "message": message}


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
            if isinstance(exc, exceptions.NotFound):
                field = getattr(context["view"], "not_found_field", field)
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

    @method_decorator(planned_for_their_values())
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular inspecting the view
            return Execution.objects.none()
        workflow = get_workflow_for_user(self.request.user, self.kwargs["public_id"])
        return (
            Execution.objects.filter(workflow=workflow)
            .order_by("-executed_at", "-pk")
            .prefetch_related("events")
        )


class WorkflowLift(APIView):
    """A playbook's lift on each goal of its site."""

    @extend_schema(operation_id="workflow_lift", responses=LiftSerializer(many=True))
    def get(self, request: Request, public_id) -> Response:
        workflow = get_workflow_for_user(request.user, public_id)
        return Response(LiftSerializer(outcomes.lift_of_playbook(workflow), many=True).data)


class LiftRanking(APIView):
    """Every playbook with a holdout group against every goal of its site: those with enough
    data first, best lift first."""

    @extend_schema(operation_id="lift_ranking", responses=LiftSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(LiftSerializer(outcomes.lift_ranking(request.user), many=True).data)
