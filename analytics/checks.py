from django.conf import settings
from django.core.checks import Error, register

from analytics.ratelimits import parse_rate


@register
def tracking_rates_are_readable(app_configs, **kwargs) -> list[Error]:
    errors = []
    for name in ("TRACKING_RATELIMIT_IP", "TRACKING_RATELIMIT_SITE"):
        try:
            parse_rate(getattr(settings, name))
        except ValueError as problem:
            errors.append(Error(str(problem), obj=name, id="analytics.E001"))
    return errors
