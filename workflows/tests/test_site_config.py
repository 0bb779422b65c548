import gzip
from pathlib import Path

import pytest
from django.conf import settings

from analytics.serializers import TrackExecutionBatchSerializer
from workflows.definitions import (
    ACTION_FIELDS,
    MAX_BATCH,
    SETTABLE_ATTRIBUTES,
    TRIGGER_FIELDS,
)
from workflows.models import Workflow

pytestmark = pytest.mark.django_db


def config_url(site) -> str:
    return f"/api/sites/{site.site_key}/workflows"


def test_it_lists_the_sites_active_playbooks_for_the_script(client, alice_site, alice_workflow):
    Workflow.objects.create(
        owner=alice_site.owner, site=alice_site, name="Paused one", status="paused"
    )

    response = client.get(config_url(alice_site))

    assert response.status_code == 200
    assert response.json()["workflows"] == [
        {
            "id": str(alice_workflow.public_id),
            "name": "Mobile CTA Optimization",
            "triggerMatch": "all",
            "triggers": [{"type": "device", "devices": ["mobile"]}],
            "actions": [{"type": "replace_text", "selector": ".cta", "text": "Tap here"}],
            "holdoutPercent": 0,
        }
    ]


def test_it_carries_the_rules_the_script_runs_and_reports_by(client, alice_site, settings):
    settings.TRACKING_MAX_DELAY_SECONDS = 3600

    rules = client.get(config_url(alice_site)).json()

    assert rules["triggerNames"]["utm"] == "UTM Parameters"
    assert rules["triggerNames"].keys() == TRIGGER_FIELDS.keys()
    assert rules["actionNames"]["replace_text"] == "Replace Text"
    assert rules["actionNames"].keys() == ACTION_FIELDS.keys()
    assert rules["settableAttributes"] == list(SETTABLE_ATTRIBUTES)
    assert "alt" in rules["settableAttributes"] and "href" not in rules["settableAttributes"]
    assert (
        rules["maxBatch"]
        == MAX_BATCH
        == TrackExecutionBatchSerializer().fields["executions"].max_length
    )
    assert rules["maxDelaySeconds"] == 3600


def test_it_is_described_in_the_api_schema(client):
    schema = client.get("/api/schema/?format=json").json()

    operation = schema["paths"]["/api/sites/{site_key}/workflows"]["get"]
    reference = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    described = schema["components"]["schemas"][reference.rsplit("/", 1)[1]]["properties"]
    assert set(described) == {
        "workflows", "goals", "triggerNames", "actionNames", "settableAttributes", "maxBatch",
        "maxDelaySeconds",
    }  # fmt: skip


def test_another_sites_playbooks_are_not_listed(client, alice_site, charlie_workflow):
    response = client.get(config_url(alice_site))

    assert response.json()["workflows"] == []


def test_it_is_cacheable_and_answers_304_when_unchanged(client, alice_site, alice_workflow):
    first = client.get(config_url(alice_site))
    again = client.get(config_url(alice_site), HTTP_IF_NONE_MATCH=first["ETag"])
    alice_workflow.name = "Renamed"
    alice_workflow.save()
    changed = client.get(config_url(alice_site), HTTP_IF_NONE_MATCH=first["ETag"])

    assert "public" in first["Cache-Control"]
    assert "max-age=60" in first["Cache-Control"]
    assert again.status_code == 304
    assert again.content == b""
    assert changed.status_code == 200
    assert changed["ETag"] != first["ETag"]


@pytest.mark.parametrize("key", ["sk_nope", "sk_%00", "sk_%ED%A0%80", "sk_" + "x" * 70])
def test_an_unknown_or_malformed_site_key_is_404(client, alice_site, key):
    response = client.get(f"/api/sites/{key}/workflows")

    assert response.status_code == 404
    assert response.json() == {"detail": "Unknown site key."}


def test_a_deactivated_owners_playbooks_are_not_served(client, alice, alice_site, alice_workflow):
    alice.is_active = False
    alice.save()

    assert client.get(config_url(alice_site)).status_code == 404


@pytest.mark.parametrize("origin", [{}, {"HTTP_ORIGIN": "https://evil.example"}])
def test_every_answer_a_shared_cache_may_keep_varies_with_the_origin(
    client, alice_site, alice_workflow, origin
):
    # Else a cache could hand an allowed page the copy made for another, without CORS.
    response = client.get(config_url(alice_site), **origin)

    assert "public" in response["Cache-Control"]
    assert "Origin" in response["Vary"]


def test_allowed_origins_may_read_it_and_others_may_not(client, alice_site, alice_workflow):
    allowed = client.get(config_url(alice_site), HTTP_ORIGIN="https://shop.example")
    other = client.get(config_url(alice_site), HTTP_ORIGIN="https://evil.example")

    assert allowed["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Origin" in allowed["Vary"]
    assert "Access-Control-Allow-Origin" not in other


def test_the_demo_page_embeds_the_snippet_with_the_demo_sites_key(client):
    from django.core.management import call_command

    from workflows.models import Site

    missing = client.get("/demo/")
    call_command("load_demo", executions=0, force=True)
    site = Site.objects.get(owner__username="demo")
    response = client.get("/demo/")

    assert missing.status_code == 404
    assert response.status_code == 200
    snippet = (
        '<script async src="http://testserver/static/tracker/UnifiedWorkflowSystem.js" '
        f'data-site-key="{site.site_key}"></script>'
    )
    assert snippet.encode() in response.content
    assert b'class="hero-title"' in response.content


# Goals, holdout groups and consent took the site script past 10 KB.
@pytest.mark.parametrize("name", ["UnifiedWorkflowSystem.js", "WorkflowExecutor.js"])
def test_the_site_scripts_stay_under_12_kb_gzipped(name):
    source = (Path(settings.BASE_DIR) / "static" / "tracker" / name).read_bytes()

    assert len(gzip.compress(source, compresslevel=9)) < 12 * 1024
