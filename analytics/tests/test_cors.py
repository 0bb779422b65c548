import pytest

from analytics.models import Execution
from analytics.tests.helpers import TRACK_URL, execution_body, post_execution

pytestmark = pytest.mark.django_db


def test_a_preflight_from_an_allowed_origin_is_answered(client, alice_site):
    response = client.options(
        TRACK_URL,
        HTTP_ORIGIN="https://shop.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type, x-site-key",
    )

    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "X-Site-Key" in response["Access-Control-Allow-Headers"]
    assert "Origin" in response["Vary"]


def test_a_preflight_from_an_unknown_origin_gets_no_cors_headers(client, alice_site):
    response = client.options(
        TRACK_URL, HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )

    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Methods" not in response


def test_a_post_from_an_allowed_origin_can_be_read_by_the_page(client, alice_workflow):
    response = post_execution(
        client,
        execution_body(alice_workflow),
        site=alice_workflow.site,
        HTTP_ORIGIN="https://SHOP.example:443",
    )

    assert response.status_code == 201
    assert response["Access-Control-Allow-Origin"] == "https://shop.example"


def test_a_post_from_another_origin_is_refused_and_stores_nothing(client, alice_workflow):
    response = post_execution(
        client,
        execution_body(alice_workflow),
        site=alice_workflow.site,
        HTTP_ORIGIN="https://evil.example",
    )

    assert response.status_code == 403
    assert response.json()["errors"] == {
        "origin": ["Origin https://evil.example is not allowed for this site."]
    }
    assert "Access-Control-Allow-Origin" not in response
    assert not Execution.objects.exists()


def test_an_origin_allowed_for_another_site_is_not_enough(client, alice_workflow, charlie_site):
    charlie_site.origins.create(origin="https://blog.example")

    response = post_execution(
        client,
        execution_body(alice_workflow),
        site=alice_workflow.site,
        HTTP_ORIGIN="https://blog.example",
    )

    assert response.status_code == 403
    assert not Execution.objects.exists()


def test_a_post_from_origin_null_is_refused_unless_the_site_lists_it(client, alice_workflow):
    # A sandboxed iframe on any page sends Origin: null; it is not "no origin".
    body = execution_body(alice_workflow)

    refused = post_execution(client, body, site=alice_workflow.site, HTTP_ORIGIN="null")
    alice_workflow.site.origins.create(origin="null")
    listed = post_execution(client, body, site=alice_workflow.site, HTTP_ORIGIN="null")

    assert refused.status_code == 403
    assert refused.json()["errors"] == {"origin": ["Origin null is not allowed for this site."]}
    assert listed.status_code == 201
    assert listed["Access-Control-Allow-Origin"] == "null"
    assert Execution.objects.count() == 1


def test_a_batch_and_the_config_treat_origin_null_alike(client, alice_workflow):
    site = alice_workflow.site
    batch = post_execution(
        client, {"executions": [execution_body(alice_workflow)]}, site=site, HTTP_ORIGIN="null"
    )
    config = client.get(f"/api/sites/{site.site_key}/workflows", HTTP_ORIGIN="null")

    assert batch.status_code == 403
    assert "Access-Control-Allow-Origin" not in config
    assert not Execution.objects.exists()


ALLOWED = {"HTTP_ORIGIN": "https://shop.example"}


@pytest.mark.usefixtures("frozen_window")
def test_a_rate_limited_answer_is_readable_with_its_retry_after(client, alice_workflow, settings):
    settings.TRACKING_RATELIMIT_SITE = "1/m"
    site = alice_workflow.site

    accepted = post_execution(client, execution_body(alice_workflow), site=site, **ALLOWED)
    limited = post_execution(client, execution_body(alice_workflow), site=site, **ALLOWED)
    elsewhere = post_execution(
        client, execution_body(alice_workflow), site=site, HTTP_ORIGIN="https://evil.example"
    )

    assert (accepted.status_code, limited.status_code, elsewhere.status_code) == (201, 429, 429)
    assert limited["Access-Control-Allow-Origin"] == "https://shop.example"
    assert limited["Access-Control-Expose-Headers"] == "Retry-After"
    assert int(limited["Retry-After"]) >= 1
    # Counted before any query: an origin the site does not list still cannot read it.
    assert "Access-Control-Allow-Origin" not in elsewhere


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_database_outage_is_readable_by_the_sites_pages(client, alice_workflow):
    from django.db import connection

    site = alice_workflow.site
    config_url = f"/api/sites/{site.site_key}/workflows"
    assert post_execution(client, execution_body(alice_workflow), site=site, **ALLOWED).status_code
    assert client.get(config_url, **ALLOWED).status_code == 200
    real_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = "1"
    try:
        tracked = post_execution(client, execution_body(alice_workflow), site=site, **ALLOWED)
        config = client.get(config_url, **ALLOWED)
    finally:
        connection.close()
        connection.settings_dict["PORT"] = real_port

    for answer in (tracked, config):
        assert answer.status_code == 503
        assert answer["Access-Control-Allow-Origin"] == "https://shop.example"
        assert int(answer["Retry-After"]) > 0
    assert tracked.json() == {
        "success": False,
        "errors": {"database": ["Temporarily unavailable; retry shortly."]},
    }


def test_refusals_after_the_site_is_known_are_readable_and_unknown_keys_are_not(
    client, alice_workflow
):
    site = alice_workflow.site
    bad = post_execution(client, execution_body(alice_workflow, status="x"), site=site, **ALLOWED)
    missing = post_execution(
        client,
        execution_body(alice_workflow, workflowId="00000000-0000-4000-8000-000000000000"),
        site=site,
        **ALLOWED,
    )
    unknown = post_execution(
        client, execution_body(alice_workflow), HTTP_X_SITE_KEY="sk_unknown", **ALLOWED
    )

    assert (bad.status_code, missing.status_code, unknown.status_code) == (400, 404, 401)
    assert bad["Access-Control-Allow-Origin"] == missing["Access-Control-Allow-Origin"]
    assert bad["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Access-Control-Allow-Origin" not in unknown
