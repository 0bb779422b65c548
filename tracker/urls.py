from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from analytics.api import (
    LiftRanking,
    TrackConversionView,
    TrackExecutionView,
    WorkflowExecutionList,
    WorkflowLift,
)
from tracker.views import healthz
from workflows.api import GoalViewSet, SiteConfigView, SiteViewSet, WorkflowViewSet
from workflows.views import RateLimitedLoginView, demo_page, signup

router = DefaultRouter(trailing_slash=True)
router.register("workflows", WorkflowViewSet, basename="workflow")
router.register("sites", SiteViewSet, basename="site")
router.register("goals", GoalViewSet, basename="goal")

urlpatterns = [
    # First: every page view of every customer site posts here.
    path("api/track-execution", TrackExecutionView.as_view(), name="track-execution"),
    path("api/track-conversion", TrackConversionView.as_view(), name="track-conversion"),
    path("", include("analytics.urls")),
    path("", include("workflows.urls")),
    path("accounts/login/", RateLimitedLoginView.as_view(), name="login"),
    path("accounts/signup/", signup, name="signup"),
    # No password reset by mail: this installation sends none. An administrator sets a new
    # password (`manage.py changepassword` or the admin).
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password_change/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    # One login, rate limited, for the admin too.
    path("admin/login/", RedirectView.as_view(pattern_name="login", query_string=True)),
    path("admin/", admin.site.urls),
    path("demo/", demo_page, name="demo"),
    path("healthz", healthz, name="healthz"),
    path(
        "api/workflows/<uuid:public_id>/executions/",
        WorkflowExecutionList.as_view(),
        name="workflow-executions",
    ),
    path("api/workflows/<uuid:public_id>/lift/", WorkflowLift.as_view(), name="workflow-lift"),
    path("api/lift/", LiftRanking.as_view(), name="lift-ranking"),
    path("api/sites/<str:site_key>/workflows", SiteConfigView.as_view(), name="site-config"),
    path("api/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
