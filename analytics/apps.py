from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"

    def ready(self) -> None:
        # In every process, gunicorn's workers included (system checks do not run there): a
        # rate that cannot be read stops the app at startup instead of failing every request.
        from analytics.ratelimits import check_tracking_rates

        check_tracking_rates()
