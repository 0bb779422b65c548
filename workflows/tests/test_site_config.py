import gzip
from pathlib import Path

import pytest
from django.conf import settings

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
    assert response.json() == {
        "workflows": [
            {
                "id": str(alice_workflow.public_id),
                "name": "Mobile CTA Optimization",
                "triggerMatch": "all",
                "triggers": [{"type": "device", "devices": ["mobile"]}],
                "actions": [{"type": "replace_text", "selector": ".cta", "text": "Tap here"}],
            }
        ]
    }


def test_another_sites_playbooks_are_not_listed(client, alice_site, charlie_workflow):
    response = client.get(config_url(alice_site))

    assert response.json() == {"workflows": []}


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


def test_an_unknown_site_key_is_404(client, alice_site):
    assert client.get("/api/sites/sk_nope/workflows").status_code == 404


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
    call_command("load_demo", executions=0)
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


@pytest.mark.parametrize("name", ["UnifiedWorkflowSystem.js", "WorkflowExecutor.js"])
def test_the_site_scripts_stay_under_10_kb_gzipped(name):
    source = (Path(settings.BASE_DIR) / "static" / "tracker" / name).read_bytes()

    assert len(gzip.compress(source, compresslevel=9)) < 10 * 1024
