"""The marketer's pages: editing playbooks and sites, settings, sign-up, scoping and CSRF."""

import pytest
from django.test import Client

from analytics.services import record_execution
from workflows.models import Profile, Site, Workflow

pytestmark = pytest.mark.django_db


def step_data(prefix: str, steps: list[dict]) -> dict:
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(steps)),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, step in enumerate(steps):
        data.update({f"{prefix}-{index}-{key}": value for key, value in step.items()})
    return data


def playbook_post(site: Site, triggers: list[dict], actions: list[dict], **fields) -> dict:
    return {
        "name": "Newsletter headline",
        "site": site.pk,
        "status": "active",
        "trigger_match": "all",
        **fields,
        **step_data("triggers", triggers),
        **step_data("actions", actions),
    }


def test_a_playbook_is_created_from_structured_fields(as_alice, alice, alice_site):
    data = playbook_post(
        alice_site,
        [
            {"type": "utm", "utm_source": "newsletter", "utm_campaign": "spring"},
            {"type": "device", "devices": ["mobile", "tablet"]},
            {"type": "", "percent": "40"},
        ],
        [
            {"type": "replace_text", "selector": ".hero-title", "text": "Hi reader"},
            {"type": "set_style", "selector": ".cta", "property": "color", "value": "red"},
        ],
    )

    response = as_alice.post("/playbooks/new/", data)

    workflow = Workflow.objects.get(name="Newsletter headline")
    assert response.status_code == 302
    assert response["Location"] == f"/playbooks/{workflow.public_id}/"
    assert workflow.owner == alice
    assert workflow.triggers == [
        {"type": "utm", "params": {"utm_source": "newsletter", "utm_campaign": "spring"}},
        {"type": "device", "devices": ["mobile", "tablet"]},
    ]
    assert workflow.actions == [
        {"type": "replace_text", "selector": ".hero-title", "text": "Hi reader"},
        {"type": "set_style", "selector": ".cta", "property": "color", "value": "red"},
    ]


def test_each_problem_is_shown_under_its_field_in_plain_words(as_alice, alice_site):
    data = playbook_post(
        alice_site,
        [{"type": "scroll_depth", "percent": "150"}, {"type": "utm"}],
        [
            {"type": "replace_text", "selector": ".hero-title", "text": ""},
            {"type": "hide", "selector": "<<<not a selector"},
            {"type": "set_attribute", "selector": "a", "attribute": "onclick", "value": "x"},
        ],
    )

    response = as_alice.post("/playbooks/new/", data)

    triggers, actions = response.context["triggers"], response.context["actions"]
    assert response.status_code == 200
    assert triggers.errors == [
        {"percent": ["Enter a number from 0 to 100."]},
        {"utm_source": ["Fill in at least one UTM value (utm_source, utm_medium, utm_campaign, "
                        "utm_term, utm_content)."]},
    ]  # fmt: skip
    assert actions.errors[0] == {"text": ["Enter the text to show."]}
    assert actions.errors[1] == {"selector": ["“<” cannot start a selector."]}
    assert list(actions.errors[2]) == ["attribute"]
    assert b'<span class="errorlist" role="alert">Enter the text to show.</span></label>' in (
        response.content
    )
    assert not Workflow.objects.exists()


def test_a_playbook_needs_an_action_and_a_trigger_or_an_explicit_every_page_view(
    as_alice, alice_site
):
    nothing = as_alice.post("/playbooks/new/", playbook_post(alice_site, [], []))
    nothing_and_no_name = playbook_post(alice_site, [], [])
    nothing_and_no_name["name"] = ""
    every_problem = as_alice.post("/playbooks/new/", nothing_and_no_name)
    no_trigger = playbook_post(alice_site, [], [{"type": "hide", "selector": ".popup"}])
    unconfirmed = as_alice.post("/playbooks/new/", no_trigger)
    both = playbook_post(
        alice_site,
        [{"type": "device", "devices": ["mobile"]}],
        [{"type": "hide", "selector": ".popup"}],
        every_page_view="on",
    )
    contradictory = as_alice.post("/playbooks/new/", both)

    assert nothing.context["actions"].non_form_errors() == [
        "Add at least one action: a playbook without one changes nothing."
    ]
    assert unconfirmed.context["form"].errors == {
        "every_page_view": ["Add a trigger, or tick this box to run on every page view."]
    }
    assert "every_page_view" in contradictory.context["form"].errors
    # Every problem at once, not one after the other.
    assert set(every_problem.context["form"].errors) == {"name", "every_page_view"}
    assert every_problem.context["actions"].non_form_errors()
    assert not Workflow.objects.exists()

    confirmed = as_alice.post("/playbooks/new/", {**no_trigger, "every_page_view": "on"})

    workflow = Workflow.objects.get()
    assert confirmed.status_code == 302
    assert workflow.triggers == []
    edit = as_alice.get(f"/playbooks/{workflow.public_id}/edit/")
    assert edit.context["form"]["every_page_view"].value() is True


def test_saving_warns_when_another_active_playbook_changes_the_same_element(
    as_alice, alice_site, alice_workflow
):
    data = playbook_post(
        alice_site,
        [{"type": "device", "devices": ["desktop"]}],
        [{"type": "replace_text", "selector": ".cta", "text": "Click here"}],
    )
    paused = {**data, "name": "Paused one", "status": "paused"}

    response = as_alice.post("/playbooks/new/", data, follow=True)
    quiet = as_alice.post("/playbooks/new/", paused, follow=True)

    warnings = [str(m) for m in response.context["messages"] if m.level_tag == "warning"]
    assert warnings == [
        "“Mobile CTA Optimization” also changes .cta on this site: where both run, the one that "
        "applies last wins."
    ]
    assert b"also changes .cta" in response.content
    assert not [m for m in quiet.context["messages"] if m.level_tag == "warning"]


def test_rotating_a_key_asks_for_confirmation_first(as_alice, alice_site):
    old_key = alice_site.site_key
    sites = as_alice.get("/sites/")
    confirm = as_alice.get(f"/sites/{alice_site.public_id}/rotate-key/")
    alice_site.refresh_from_db()
    assert alice_site.site_key == old_key
    assert f'href="/sites/{alice_site.public_id}/rotate-key/"'.encode() in sites.content
    assert b"stops working at once" in confirm.content

    as_alice.post(f"/sites/{alice_site.public_id}/rotate-key/")

    alice_site.refresh_from_db()
    assert alice_site.site_key != old_key


def test_the_edit_form_shows_the_saved_steps(as_alice, alice_workflow):
    response = as_alice.get(f"/playbooks/{alice_workflow.public_id}/edit/")

    assert response.status_code == 200
    assert b'value=".cta"' in response.content
    assert b'<option value="device" selected>' in response.content


def test_editing_keeps_the_counter(as_alice, alice_workflow):
    record_execution(
        owner=alice_workflow.owner,
        site=None,
        workflow_id=alice_workflow.public_id,
        status="success",
        execution_time_ms=5,
    )
    data = playbook_post(
        alice_workflow.site,
        [{"type": "device", "devices": ["desktop"]}],
        [{"type": "hide", "selector": ".popup"}],
        name="Renamed",
    )

    as_alice.post(f"/playbooks/{alice_workflow.public_id}/edit/", data)

    alice_workflow.refresh_from_db()
    assert (alice_workflow.name, alice_workflow.executions) == ("Renamed", 1)
    assert alice_workflow.actions == [{"type": "hide", "selector": ".popup"}]


def test_a_playbook_cannot_be_put_on_someone_elses_site(as_alice, alice_workflow, charlie_site):
    data = playbook_post(charlie_site, [], [{"type": "hide", "selector": "a"}])

    response = as_alice.post(f"/playbooks/{alice_workflow.public_id}/edit/", data)

    assert response.status_code == 200
    alice_workflow.refresh_from_db()
    assert alice_workflow.site != charlie_site


def test_pause_and_resume(as_alice, alice_workflow):
    as_alice.post(f"/playbooks/{alice_workflow.public_id}/toggle/")
    alice_workflow.refresh_from_db()
    paused = alice_workflow.status
    as_alice.post(f"/playbooks/{alice_workflow.public_id}/toggle/")
    alice_workflow.refresh_from_db()

    assert (paused, alice_workflow.status) == ("paused", "active")


def test_delete_asks_for_confirmation_first(as_alice, alice_workflow):
    confirm = as_alice.get(f"/playbooks/{alice_workflow.public_id}/delete/")
    assert Workflow.objects.exists()

    as_alice.post(f"/playbooks/{alice_workflow.public_id}/delete/")

    assert b"cannot be undone" in confirm.content
    assert not Workflow.objects.exists()


def test_a_site_is_created_with_normalized_origins_and_shows_its_snippet(as_alice, alice):
    response = as_alice.post(
        "/sites/new/",
        {"name": "Store", "allowed_origins": "HTTPS://Store.Example\n\nhttp://a.b:8080"},
    )
    site = Site.objects.get(name="Store")
    listing = as_alice.get("/sites/")

    assert response.status_code == 302
    assert sorted(o.origin for o in site.origins.all()) == [
        "http://a.b:8080",
        "https://store.example",
    ]
    assert site.site_key.encode() in listing.content
    assert b"UnifiedWorkflowSystem.js" in listing.content


def test_a_bad_origin_is_explained(as_alice):
    response = as_alice.post("/sites/new/", {"name": "Store", "allowed_origins": "store.example"})

    assert response.status_code == 200
    assert b"is not an origin like https://www.example.com" in response.content
    assert not Site.objects.exists()


def test_creating_a_playbook_without_a_site_leads_to_adding_one(as_alice):
    response = as_alice.get("/playbooks/new/")

    assert response.status_code == 302
    assert response["Location"] == "/sites/new/"


def test_the_time_zone_setting_is_saved_and_used(as_alice, alice):
    response = as_alice.post("/settings/", {"time_zone": "Europe/Paris"})

    assert response.status_code == 302
    assert Profile.objects.get(user=alice).time_zone == "Europe/Paris"
    assert as_alice.session["time_zone"] == "Europe/Paris"


def test_an_unknown_time_zone_is_refused(as_alice, alice):
    response = as_alice.post("/settings/", {"time_zone": "Mars/Olympus"})

    assert response.status_code == 200
    assert not Profile.objects.filter(user=alice, time_zone="Mars/Olympus").exists()


def test_sign_up_is_closed_unless_allowed(client, settings, django_user_model):
    closed = client.get("/accounts/signup/")
    settings.ALLOW_SIGNUP = True
    created = client.post(
        "/accounts/signup/",
        {
            "username": "dora",
            "password1": "a-long-passphrase-9",
            "password2": "a-long-passphrase-9",
        },
    )

    assert closed.status_code == 404
    assert created.status_code == 302
    assert django_user_model.objects.filter(username="dora").exists()


def test_log_in_and_out(client, alice):
    page = client.get("/")
    logged_in = client.post("/accounts/login/", {"username": "alice", "password": "alice-password"})
    logged_out = client.post("/accounts/logout/")

    assert page.status_code == 302
    assert page["Location"].startswith("/accounts/login/")
    assert logged_in["Location"] == "/"
    assert logged_out.status_code == 302
    assert client.get("/").status_code == 302


# Every dashboard URL that names one of alice's objects, with the methods it accepts.
OWNED_URLS = [
    ("get", "/playbooks/{workflow}/"),
    ("get", "/playbooks/{workflow}/executions.csv"),
    ("get", "/playbooks/{workflow}/edit/"),
    ("post", "/playbooks/{workflow}/edit/"),
    ("post", "/playbooks/{workflow}/toggle/"),
    ("get", "/playbooks/{workflow}/delete/"),
    ("post", "/playbooks/{workflow}/delete/"),
    ("get", "/sites/{site}/"),
    ("post", "/sites/{site}/"),
]
PAGES = ["/", "/playbooks/", "/analytics/", "/analytics/executions.csv", "/sites/", "/settings/"]


@pytest.mark.parametrize(("method", "pattern"), OWNED_URLS)
def test_another_users_objects_are_404(client, charlie, alice_workflow, method, pattern):
    client.force_login(charlie)
    url = pattern.format(workflow=alice_workflow.public_id, site=alice_workflow.site.public_id)

    response = getattr(client, method)(url, {"name": "Mine now"})

    assert response.status_code == 404
    alice_workflow.refresh_from_db()
    assert alice_workflow.name == "Mobile CTA Optimization"
    assert alice_workflow.status == "active"


@pytest.mark.parametrize(("method", "pattern"), OWNED_URLS + [("get", page) for page in PAGES])
def test_anonymous_visitors_are_sent_to_log_in(client, alice_workflow, method, pattern):
    url = pattern.format(workflow=alice_workflow.public_id, site=alice_workflow.site.public_id)

    response = getattr(client, method)(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert Workflow.objects.filter(pk=alice_workflow.pk, status="active").exists()


def test_another_users_data_is_not_on_my_pages(client, charlie, alice_workflow):
    record_execution(
        owner=alice_workflow.owner,
        site=None,
        workflow_id=alice_workflow.public_id,
        status="success",
        execution_time_ms=5,
    )
    client.force_login(charlie)

    for page in PAGES:
        response = client.get(page)
        content = response.content if hasattr(response, "content") else b"".join(response)
        assert b"Mobile CTA Optimization" not in content
        assert alice_workflow.site.site_key.encode() not in content


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/playbooks/{workflow}/toggle/", {}),
        ("/playbooks/{workflow}/delete/", {}),
        ("/sites/new/", {"name": "x"}),
        ("/settings/", {"time_zone": "Europe/Paris"}),
        ("/accounts/logout/", {}),
    ],
)
def test_every_form_needs_its_csrf_token_also_from_htmx(alice, alice_workflow, url, data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    url = url.format(workflow=alice_workflow.public_id)

    refused = client.post(url, data, HTTP_HX_REQUEST="true")
    token = str(client.get("/settings/").context["csrf_token"])
    accepted = client.post(url, data, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token)

    assert refused.status_code == 403
    assert accepted.status_code == 302


def test_pages_carry_the_csrf_token_for_htmx(as_alice):
    response = as_alice.get("/")

    assert b'hx-headers=\'{"X-CSRFToken": "' in response.content
