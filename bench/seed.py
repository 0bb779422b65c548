"""Seed the benchmark database (run through `manage.py shell`): one user, one site, and
BENCH_WORKFLOWS playbooks whose public ids go to the file BENCH_IDS for wrk. Playbook n gets
the public id 00000000-0000-4000-8000-<n as 12 digits>, so pgbench can name it too."""

import os
import uuid

from django.contrib.auth import get_user_model

from workflows.models import Site, Workflow

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
pks = list(workflows.values_list("pk", flat=True))
print("SEEDED", site.site_key, user.pk, pks[0], pks[-1])
