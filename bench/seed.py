"""Seed the benchmark database (run through `manage.py shell`): one user, one site,
BENCH_WORKFLOWS playbooks whose public ids go to the file BENCH_IDS for wrk, and BENCH_GOALS
goals whose ids go to BENCH_GOAL_IDS. Playbook n gets
the public id 00000000-0000-4000-8000-<n as 12 digits>, so pgbench can name it too."""

import os
import uuid

from django.contrib.auth import get_user_model

from workflows.models import Goal, Site, Workflow

user = get_user_model().objects.create_user("bench")
site = Site.objects.create(owner=user, name="Bench")
Workflow.objects.bulk_create(
    Workflow(
        owner=user,
        site=site,
        name=f"Playbook {n}",
        public_id=uuid.UUID(f"00000000-0000-4000-8000-{n:012d}"),
    )
    for n in range(int(os.environ["BENCH_WORKFLOWS"]))
)
workflows = Workflow.objects.order_by("pk")
with open(os.environ["BENCH_IDS"], "w") as ids:
    ids.writelines(f"{public_id}\n" for public_id in workflows.values_list("public_id", flat=True))
goals = Goal.objects.bulk_create(
    Goal(owner=user, site=site, name=f"Goal {n}", kind="call", event=f"goal-{n}")
    for n in range(int(os.environ.get("BENCH_GOALS", "0")))
)
if os.environ.get("BENCH_GOAL_IDS"):
    with open(os.environ["BENCH_GOAL_IDS"], "w") as ids:
        ids.writelines(f"{goal.public_id}\n" for goal in goals)
pks = list(workflows.values_list("pk", flat=True))
print("SEEDED", site.site_key, user.pk, pks[0], pks[-1])
