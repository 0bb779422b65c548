"""Every URL of the project, classified; each of alice's objects requested by charlie with
every method answers 404 (or the same 405 the owner gets), and anonymous visitors are sent
to log in. A new URL pattern that is not classified here fails the test."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from analytics.services import record_execution
from workflows.models import Goal

pytestmark = pytest.mark.django_db

METHODS = ["get", "post", "put", "patch", "delete"]

# URL name -> how to build one of alice's objects' URLs.
OWNED = {
    "playbook": lambda w: reverse("analytics:playbook", args=[w.public_id]),
    "playbook-csv": lambda w: reverse("analytics:playbook-csv", args=[w.public_id]),
    "edit": lambda w: reverse("workflows:edit", args=[w.public_id]),
    "toggle": lambda w: reverse("workflows:toggle", args=[w.public_id]),
    "delete": lambda w: reverse("workflows:delete", args=[w.public_id]),
    "site-edit": lambda w: reverse("workflows:site-edit", args=[w.site.public_id]),
    "site-rotate-key": lambda w: reverse("workflows:site-rotate-key", args=[w.site.public_id]),
    "execution": lambda w: reverse(
        "analytics:execution", args=[w.execution_records.get().execution_id]
    ),
    "workflow-executions": lambda w: f"/api/workflows/{w.public_id}/executions/",
    "workflow-detail": lambda w: f"/api/workflows/{w.public_id}/",
    "site-detail": lambda w: f"/api/sites/{w.site.public_id}/",
    "workflow-lift": lambda w: f"/api/workflows/{w.public_id}/lift/",
    "goal-edit": lambda w: reverse("workflows:goal-edit", args=[w.site.goals.get().public_id]),
    "goal-delete": lambda w: reverse("workflows:goal-delete", args=[w.site.goals.get().public_id]),
    "goal-detail": lambda w: f"/api/goals/{w.site.goals.get().public_id}/",
}
# Pages and API lists: only the requesting user's data.
PRIVATE = {
    "overview": "/",
    "playbooks": "/playbooks/",
    "explore": "/analytics/",
    "explore-csv": "/analytics/executions.csv",
    "create": "/playbooks/new/",
    "sites": "/sites/",
    "site-create": "/sites/new/",
    "settings": "/settings/",
    "password_change": "/accounts/password_change/",
    "password_change_done": "/accounts/password_change/done/",
    "workflow-list": "/api/workflows/",
    "site-list": "/api/sites/",
    "api-root": "/api/",
    "goals": "/goals/",
    "goal-create": "/goals/new/",
    "goal-list": "/api/goals/",
    "lift-ranking": "/api/lift/",
}
# Open by design: authentication pages, the site script's endpoints (site key), health,
# the API description, the demo page, and the admin (staff only, its own checks).
PUBLIC = {
    "login",
    "logout",
    "signup",
    "demo",
    "healthz",
    "track-execution",
    "track-conversion",
    "site-config",
    "api-schema",
    "api-docs",
    None,  # the admin's login redirect
}


def all_url_names(patterns=None) -> set:
    names = set()
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.app_name == "admin":
                continue
            names |= all_url_names(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            names.add(pattern.name)
    return names


def test_every_url_pattern_is_classified():
    unclassified = all_url_names() - set(OWNED) - set(PRIVATE) - PUBLIC

    assert not unclassified, f"classify these URL names in test_tenancy.py: {unclassified}"


@pytest.fixture
def alices_workflow_with_history(alice_workflow):
    record_execution(
        owner=alice_workflow.owner,
        site=None,
        workflow_id=alice_workflow.public_id,
        status="success",
        execution_time_ms=5,
        page_url="https://alice.example/secret-page",
    )
    Goal.objects.create(
        owner=alice_workflow.owner, site=alice_workflow.site, name="Secret goal", kind="page",
        match="equals", path="/secret-goal-page",
    )  # fmt: skip
    return alice_workflow


@pytest.mark.parametrize("name", sorted(OWNED))
@pytest.mark.parametrize("method", METHODS)
def test_a_stranger_gets_404_for_every_owned_url(
    client, alice, charlie, alices_workflow_with_history, name, method
):
    workflow = alices_workflow_with_history
    url = OWNED[name](workflow)
    site_key = workflow.site.site_key
    client.force_login(charlie)

    as_stranger = getattr(client, method)(url, {}, content_type="application/json")
    as_htmx = getattr(client, method)(
        url, {}, content_type="application/json", HTTP_HX_REQUEST="true"
    )

    workflow.refresh_from_db()
    workflow.site.refresh_from_db()
    assert (workflow.name, workflow.status, workflow.site.site_key) == (
        "Mobile CTA Optimization",
        "active",
        site_key,
    )
    assert workflow.site.goals.get().name == "Secret goal"
    client.force_login(alice)
    as_owner = getattr(client, method)(url, {}, content_type="application/json")
    expected = 405 if as_owner.status_code == 405 else 404  # 405: refused before any lookup
    assert as_stranger.status_code == as_htmx.status_code == expected


@pytest.mark.parametrize("name", sorted(OWNED))
def test_anonymous_visitors_cannot_reach_owned_urls(client, alices_workflow_with_history, name):
    response = client.get(OWNED[name](alices_workflow_with_history))

    if name.startswith(("workflow-", "site-detail", "goal-detail")):
        assert response.status_code in (401, 403)
    else:
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("name", sorted(PRIVATE))
def test_private_pages_show_a_stranger_nothing_of_alices(
    client, charlie, alices_workflow_with_history, name
):
    client.force_login(charlie)

    response = client.get(PRIVATE[name])
    content = b"".join(response.streaming_content) if response.streaming else response.content

    assert response.status_code == (302 if name == "create" else 200)  # create: add a site first
    assert b"Mobile CTA Optimization" not in content
    assert b"secret-page" not in content
    assert alices_workflow_with_history.site.site_key.encode() not in content


@pytest.mark.parametrize("name", sorted(PRIVATE))
def test_private_pages_need_a_login(client, name):
    response = client.get(PRIVATE[name])

    if PRIVATE[name].startswith("/api/"):
        assert response.status_code in (401, 403)
    else:
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
