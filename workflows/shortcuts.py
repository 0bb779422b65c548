"""The signed-in user's own objects, or 404: anyone else's answers as a missing one would."""

from django.shortcuts import get_object_or_404

from workflows.models import Goal, Site, Workflow


def get_workflow_for_user(user, public_id) -> Workflow:
    return get_object_or_404(
        Workflow.objects.for_user(user).select_related("site"), public_id=public_id
    )


def get_site_for_user(user, public_id) -> Site:
    return get_object_or_404(Site.objects.for_user(user), public_id=public_id)


def get_goal_for_user(user, public_id) -> Goal:
    return get_object_or_404(
        Goal.objects.for_user(user).select_related("site"), public_id=public_id
    )
