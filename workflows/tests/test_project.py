"""The project as a whole: migrations, API schema and docs, admin, health."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from analytics.services import record_execution

pytestmark = pytest.mark.django_db


def test_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_the_schema_describes_the_tracking_endpoint(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = response.json()
    track = schema["paths"]["/api/track-execution"]["post"]
    assert set(track["responses"]) >= {"200", "201", "400", "404", "429", "503"}
    assert "siteKey" in schema["components"]["securitySchemes"]
    assert "/api/workflows/{public_id}/executions/" in schema["paths"]


def test_the_interactive_docs_are_served_without_a_cdn(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert b"swagger-ui" in response.content
    assert b"cdn" not in response.content.lower()


def test_healthz_reports_database_and_cache(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}


@pytest.fixture
def admin_client_with_data(admin_client, alice_workflow):
    for index in range(20):
        record_execution(
            owner=alice_workflow.owner,
            site=alice_workflow.site,
            workflow_id=alice_workflow.public_id,
            status="success",
            execution_time_ms=index,
            actions=[{"name": "Hide", "selector": f".item-{index}"}],
        )
    return admin_client


@pytest.mark.parametrize(
    "url",
    [
        "/admin/workflows/workflow/",
        "/admin/workflows/site/",
        "/admin/analytics/execution/",
        "/admin/analytics/analyticsevent/",
    ],
)
def test_admin_lists_run_a_bounded_number_of_queries(
    admin_client_with_data, url, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        response = admin_client_with_data.get(url)

    assert response.status_code == 200


def test_the_admin_shows_counters_read_only(admin_client_with_data, alice_workflow):
    response = admin_client_with_data.get(f"/admin/workflows/workflow/{alice_workflow.pk}/change/")

    assert response.status_code == 200
    assert b'name="executions"' not in response.content
    assert b"20" in response.content


def test_the_demo_command_loads_a_working_demo():
    from django.contrib.auth import get_user_model

    from analytics.outcomes import lift_of_playbook
    from workflows.models import Workflow

    call_command("load_demo", executions=50, force=True)

    demo = get_user_model().objects.get(username="demo")
    workflows = Workflow.objects.for_user(demo)
    assert workflows.count() == 4
    # The history asked for, and the runs of the visitors of the playbooks with a holdout.
    assert sum(w.executions for w in workflows) == demo.executions.count() > 50
    lift = {
        row.goal.name: row.lift
        for row in lift_of_playbook(workflows.get(name__startswith="Spring"))
    }
    assert lift["Started a trial"].enough and lift["Started a trial"].lift > 0
    assert not lift["Saw pricing"].enough


def test_the_demo_command_refuses_to_create_its_superuser_with_debug_off(settings):
    from django.contrib.auth import get_user_model
    from django.core.management.base import CommandError

    settings.DEBUG = False

    with pytest.raises(CommandError, match="--force"):
        call_command("load_demo", executions=0)

    assert not get_user_model().objects.filter(username="demo").exists()


def test_env_example_names_every_variable_the_settings_and_gunicorn_read():
    read = set()
    for source in ("tracker/settings.py", "gunicorn.conf.py"):
        text = (Path(settings.BASE_DIR) / source).read_text()
        read |= set(re.findall(r"env_\w+\(\s*[\"']([A-Z_]+)[\"']", text))
        read |= set(re.findall(r"os\.environ(?:\.get\(|\[)\s*[\"']([A-Z_]+)[\"']", text))
    example = (Path(settings.BASE_DIR) / ".env.example").read_text()
    listed = set(re.findall(r"^([A-Z_]+)=", example, flags=re.MULTILINE))

    assert {"SECRET_KEY", "WEB_CONCURRENCY", "DB_STATEMENT_TIMEOUT_MS"} <= read
    assert read <= listed, f"missing from .env.example: {sorted(read - listed)}"
    assert listed <= read, f"listed but never read: {sorted(listed - read)}"
