import hashlib
import json

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_http_methods

from workflows.cors import allow_origin, preflight_response, request_origin
from workflows.models import Site, Workflow

CONFIG_MAX_AGE = 60


@require_http_methods(["GET", "HEAD", "OPTIONS"])
def site_config(request: HttpRequest, site_key: str) -> HttpResponse:
    """The active playbooks of a site, as the site script loads them: public and cacheable."""
    if request.method == "OPTIONS":
        return preflight_response(request, methods="GET", headers="Content-Type")
    sites = Site.objects.filter(site_key=site_key)
    origin = request_origin(request)
    if origin:
        sites = sites.with_origin_allowed(origin)
    site = get_object_or_404(sites)
    workflows = Workflow.objects.filter(site=site).active().order_by("pk")
    body = json.dumps(
        {
            "workflows": [
                {
                    "id": str(workflow.public_id),
                    "name": workflow.name,
                    "triggerMatch": workflow.trigger_match,
                    "triggers": workflow.triggers,
                    "actions": workflow.actions,
                }
                for workflow in workflows
            ]
        },
        separators=(",", ":"),
    ).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = etag
    patch_cache_control(response, public=True, max_age=CONFIG_MAX_AGE)
    if origin and site.origin_allowed:
        allow_origin(response, origin)
    return response


@require_GET
def demo_page(request: HttpRequest) -> HttpResponse:
    """A landing page with the install snippet, on which the demo playbooks fire."""
    site = Site.objects.filter(owner__username="demo").order_by("pk").first()
    if site is None:
        raise Http404("Load the demo first: python manage.py load_demo")
    script_url = request.build_absolute_uri("/static/tracker/UnifiedWorkflowSystem.js")
    return render(
        request,
        "workflows/demo.html",
        {"site": site, "script_url": script_url, "dashboard_url": reverse("admin:index")},
    )
