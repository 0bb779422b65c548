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
