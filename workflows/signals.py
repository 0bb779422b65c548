from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from workflows.models import Profile


@receiver(user_logged_in)
def remember_time_zone(sender, request, user, **kwargs) -> None:
    """Kept in the session so that no page needs a query to know it."""
    profile = Profile.objects.filter(user=user).only("time_zone").first()
    request.session["time_zone"] = profile.time_zone if profile else "UTC"
