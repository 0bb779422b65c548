import random
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from analytics.conversions import record_conversions
from analytics.services import count_not_counted, record_execution
from workflows.definitions import ACTION_LABELS
from workflows.models import Goal, Site, SiteOrigin, Workflow

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-password"
DEMO_ORIGINS = ["http://127.0.0.1:8000", "http://localhost:8000"]

GOALS = [
    {"name": "Started a trial", "kind": "click", "selector": ".cta"},
    {"name": "Saw pricing", "kind": "page", "match": "starts_with", "path": "/pricing"},
]
# Visitors who met each playbook's triggers, and how often the exposed and the held out among
# them reached the first goal.
EXPERIMENT_VISITORS = {"Spring campaign headline": 1500, "Mobile CTA Optimization": 300}
CONVERSION_RATES = {False: 0.14, True: 0.07}

PLAYBOOKS = [
    {
        "name": "Spring campaign headline",
        "trigger_match": "any",
        "triggers": [{"type": "utm", "params": {"utm_source": "newsletter"}}],
        "actions": [
            {
                "type": "replace_text",
                "selector": ".hero-title",
                "text": "Welcome, newsletter reader!",
            },
            {"type": "add_class", "selector": ".hero", "className": "hero--campaign"},
        ],
        "trigger_name": "UTM Parameters",
        "holdout_percent": 25,
        "pages": [
            "https://example.com/?utm_source=newsletter&utm_campaign=spring-sale",
            "https://example.com/pricing?utm_source=newsletter&utm_campaign=spring-sale",
            "https://example.com/blog?utm_source=newsletter&utm_campaign=april-digest",
        ],
        "devices": ["desktop", "desktop", "mobile", "tablet"],
    },
    {
        "name": "Mobile CTA Optimization",
        "trigger_match": "all",
        "triggers": [{"type": "device", "devices": ["mobile"]}],
        "actions": [
            {"type": "replace_text", "selector": ".cta", "text": "Tap to start free"},
            {"type": "set_style", "selector": ".cta", "property": "font-size", "value": "1.25rem"},
        ],
        "trigger_name": "Device Type",
        "holdout_percent": 10,
        "pages": [
            "https://example.com/",
            "https://example.com/?utm_source=google&utm_campaign=brand",
            "https://example.com/pricing",
        ],
        "devices": ["mobile"],
    },
    {
        "name": "Pricing nudge on scroll",
        "trigger_match": "all",
        "triggers": [{"type": "scroll_depth", "percent": 50}],
        "actions": [
            {"type": "show", "selector": ".pricing-nudge"},
            {"type": "insert_after", "selector": ".pricing-title", "text": "Save 20% this week"},
        ],
        "trigger_name": "Scroll Depth",
        "pages": [
            "https://example.com/pricing",
            "https://example.com/pricing?utm_source=google&utm_campaign=brand",
        ],
        "devices": ["desktop", "desktop", "mobile", "tablet"],
    },
]


class Command(BaseCommand):
    help = "Create the demo account with a site, playbooks and 30 days of executions."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--executions", type=int, default=600)
        parser.add_argument("--reset", action="store_true", help="Delete and recreate the demo.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Load it with DEBUG off too (it creates a superuser with a published password).",
        )

    def handle(self, *args, executions: int, reset: bool, force: bool, **options) -> None:
        if not (settings.DEBUG or force):
            raise CommandError(
                f"DEBUG is off: the demo creates the superuser {DEMO_USERNAME} with a published"
                " password. Pass --force to load it anyway (never on a public server)."
            )
        User = get_user_model()
        existing = User.objects.filter(username=DEMO_USERNAME).first()
        if existing and not reset:
            self.stdout.write(
                f"The demo account exists; log in as {DEMO_USERNAME} / {DEMO_PASSWORD}."
            )
            return
        if existing:
            existing.delete()
        with transaction.atomic():
            user = User.objects.create_superuser(DEMO_USERNAME, password=DEMO_PASSWORD)
            site = Site.objects.create(owner=user, name="Demo site")
            SiteOrigin.objects.bulk_create(SiteOrigin(site=site, origin=o) for o in DEMO_ORIGINS)
            workflows = [
                Workflow.objects.create(
                    owner=user,
                    site=site,
                    name=spec["name"],
                    trigger_match=spec["trigger_match"],
                    triggers=spec["triggers"],
                    actions=spec["actions"],
                    holdout_percent=spec.get("holdout_percent", 0),
                )
                for spec in PLAYBOOKS
            ]
            goals = [Goal.objects.create(owner=user, site=site, **goal) for goal in GOALS]
            Workflow.objects.create(
                owner=user,
                site=site,
                name="Holiday banner (paused)",
                status=Workflow.Status.PAUSED,
                triggers=[{"type": "url_path", "match": "starts_with", "value": "/holiday"}],
                actions=[{"type": "show", "selector": ".holiday-banner"}],
            )
        self._record_history(user, site, workflows, executions)
        self._record_experiments(user, site, workflows, goals[0])
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: log in as {DEMO_USERNAME} / {DEMO_PASSWORD}; "
                f"site key {site.site_key}; API token {token.key}"
            )
        )

    def _record_history(self, user, site: Site, workflows: list[Workflow], count: int) -> None:
        """Executions spread over 30 days through the real write path, reproducibly."""
        rng = random.Random(42)
        now = timezone.now()
        specs = {workflow.pk: spec for workflow, spec in zip(workflows, PLAYBOOKS, strict=True)}
        for _ in range(count):
            workflow = rng.choices(workflows, weights=[5, 3, 2])[0]
            spec = specs[workflow.pk]
            failed = rng.random() < 0.06
            timings = [rng.randint(2, 60) for _ in spec["actions"]]
            record_execution(
                owner=user,
                site=site,
                workflow_id=workflow.public_id,
                status="error" if failed else "success",
                execution_time_ms=sum(timings) + rng.randint(1, 30),
                page_url=rng.choice(spec["pages"]),
                session_id=f"demo-{rng.randrange(10**9)}",
                device_type=rng.choice(spec["devices"]),
                trigger_name=spec["trigger_name"],
                started_at=now - timedelta(seconds=rng.randint(60, 30 * 24 * 3600)),
                actions=[
                    {
                        "name": ACTION_LABELS[action["type"]],
                        "selector": action["selector"],
                        "execution_time_ms": timing,
                        "config": {
                            k: v for k, v in action.items() if k not in ("type", "selector")
                        },
                        "error": "Element not found" if failed and index == 0 else "",
                    }
                    for index, (action, timing) in enumerate(
                        zip(spec["actions"], timings, strict=True)
                    )
                ],
            )

    def _record_experiments(self, user, site: Site, workflows: list[Workflow], goal: Goal) -> None:
        """Visitors exposed to or held out of the playbooks with a holdout group, and the
        conversions some of them made after, through the real write paths, reproducibly."""
        rng = random.Random(7)
        now = timezone.now()
        conversions = []
        for workflow in workflows:
            for number in range(EXPERIMENT_VISITORS.get(workflow.name, 0)):
                visitor = f"demo-{workflow.pk}-{number}"
                held_out = rng.random() * 100 < workflow.holdout_percent
                ran_at = now - timedelta(seconds=rng.randint(3600, 14 * 24 * 3600))
                record_execution(
                    owner=user,
                    site=site,
                    workflow_id=workflow.public_id,
                    status="success",
                    execution_time_ms=0 if held_out else rng.randint(5, 80),
                    device_type=rng.choice(["desktop", "mobile"]),
                    trigger_name="Page View",
                    started_at=ran_at,
                    visitor_id=visitor,
                    held_out=held_out,
                )
                if rng.random() < CONVERSION_RATES[held_out]:
                    conversions.append(
                        {
                            "goal_id": goal.public_id,
                            "visitor_id": visitor,
                            "occurred_at": ran_at + timedelta(minutes=rng.randint(1, 600)),
                        }
                    )
        record_conversions(site_key=site.site_key, origin=None, items=conversions)
        for bot, executions in (("Googlebot", 14), ("AhrefsBot", 3)):
            count_not_counted(owner=user, reason=bot, executions=executions, conversions=1)
