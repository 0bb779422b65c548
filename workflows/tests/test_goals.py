"""Goals: defined in the dashboard and the REST API, each kind with what it needs, scoped to
their owner; the site script gets them with the playbooks' holdout groups."""

import pytest

from workflows.models import Goal, Site, Workflow

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_goal(alice, alice_site):
    return Goal.objects.create(
        owner=alice, site=alice_site, name="Signed up", kind="click", selector="#signup"
    )


def form(site, **fields):
    return {"name": "Saw pricing", "site": site.pk, "kind": "page", "match": "equals",
            "path": "/pricing", "selector": "", "event": "", **fields}  # fmt: skip


def test_a_goal_is_created_with_only_what_its_kind_uses(as_alice, alice_site):
    response = as_alice.post(
        "/goals/new/", form(alice_site, selector=".left-over", event="left-over")
    )

    assert response.status_code == 302 and response["Location"] == "/goals/"
    goal = Goal.objects.get()
    assert (goal.kind, goal.match, goal.path) == ("page", "equals", "/pricing")
    assert (goal.selector, goal.event) == ("", "")
    assert goal.owner == alice_site.owner
    assert goal.description == "A visit to a page whose path is /pricing"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"kind": "click", "selector": ""}, "selector", "A goal of this kind needs a selector."),
        ({"kind": "click", "selector": "a >> b"}, "selector", None),
        ({"kind": "page", "path": ""}, "path", "A goal of this kind needs a path."),
        ({"kind": "page", "match": ""}, "match", None),
        ({"kind": "call", "event": ""}, "event", "A goal of this kind needs a event."),
        ({"kind": "call", "event": "sign up!"}, "event", None),
        ({"kind": "phone"}, "kind", None),
        ({"name": ""}, "name", None),
    ],
)
def test_each_problem_is_shown_under_its_field(as_alice, alice_site, fields, field, message):
    response = as_alice.post("/goals/new/", form(alice_site, **fields))

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors, errors
    if message:
        assert message in errors[field]
    assert not Goal.objects.exists()


def test_a_goal_can_only_be_on_ones_own_site(as_alice, charlie_site):
    response = as_alice.post("/goals/new/", form(charlie_site))

    assert "site" in response.context["form"].errors
    assert not Goal.objects.exists()


def test_another_users_goal_answers_404(client, charlie, alice_goal):
    client.force_login(charlie)
    for url in (f"/goals/{alice_goal.public_id}/edit/", f"/goals/{alice_goal.public_id}/delete/"):
        assert client.get(url).status_code == 404
        assert client.post(url, form(alice_goal.site)).status_code == 404
    assert "Signed up" not in client.get("/goals/").content.decode()
    assert Goal.objects.get() == alice_goal


def test_a_goal_is_edited_and_deleted_after_confirming(as_alice, alice_goal):
    edit = f"/goals/{alice_goal.public_id}/edit/"
    assert as_alice.post(edit, form(alice_goal.site, name="Pricing")).status_code == 302
    alice_goal.refresh_from_db()
    assert alice_goal.name == "Pricing" and alice_goal.selector == ""

    delete = f"/goals/{alice_goal.public_id}/delete/"
    assert "cannot be undone" in as_alice.get(delete).content.decode()
    assert Goal.objects.exists()
    as_alice.post(delete)
    assert not Goal.objects.exists()


def test_the_api_creates_lists_and_scopes_goals(api_client, alice, charlie, alice_site):
    api_client.force_authenticate(alice)
    created = api_client.post(
        "/api/goals/",
        {"name": "Signup", "site": str(alice_site.public_id), "kind": "call", "event": "signup",
         "selector": "ignored"},
        format="json",
    )  # fmt: skip

    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["kind"], body["event"], body["selector"]) == ("call", "signup", "")
    refused = api_client.post(
        "/api/goals/",
        {"name": "x", "site": str(alice_site.public_id), "kind": "click"},
        format="json",
    )
    assert refused.status_code == 400 and "selector" in refused.json()

    api_client.force_authenticate(charlie)
    assert api_client.get("/api/goals/").json()["results"] == []
    assert api_client.get(f"/api/goals/{body['id']}/").status_code == 404
    assert api_client.delete(f"/api/goals/{body['id']}/").status_code == 404
    foreign = api_client.post(
        "/api/goals/",
        {"name": "x", "site": str(alice_site.public_id), "kind": "call", "event": "x"},
        format="json",
    )  # fmt: skip
    assert foreign.status_code == 400 and "site" in foreign.json()


def test_the_holdout_is_set_in_the_playbook_form_and_the_api(
    as_alice, api_client, alice, alice_workflow
):
    api_client.force_authenticate(alice)
    url = f"/api/workflows/{alice_workflow.public_id}/"

    assert api_client.patch(url, {"holdoutPercent": 101}, format="json").status_code == 400
    assert (
        api_client.patch(url, {"holdoutPercent": 20}, format="json").json()["holdoutPercent"] == 20
    )
    alice_workflow.refresh_from_db()
    assert alice_workflow.holdout_percent == 20
    page = as_alice.get(f"/playbooks/{alice_workflow.public_id}/edit/").content.decode()
    assert 'name="holdout_percent"' in page and 'value="20"' in page


def test_the_site_script_gets_the_goals_and_each_playbooks_holdout(
    client, alice_goal, alice_workflow, charlie_site
):
    Goal.objects.create(
        owner=charlie_site.owner, site=charlie_site, name="Theirs", kind="call", event="x"
    )
    Workflow.objects.filter(pk=alice_workflow.pk).update(holdout_percent=15)

    config = client.get(f"/api/sites/{alice_workflow.site.site_key}/workflows").json()

    assert [playbook["holdoutPercent"] for playbook in config["workflows"]] == [15]
    assert config["goals"] == [
        {"id": str(alice_goal.public_id), "name": "Signed up", "kind": "click",
         "selector": "#signup", "match": "", "path": "", "event": ""}
    ]  # fmt: skip


def test_goals_of_a_site_go_with_it(alice, alice_goal):
    Site.objects.filter(pk=alice_goal.site_id).delete()
    assert not Goal.objects.exists()
