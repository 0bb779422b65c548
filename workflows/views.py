from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.core import get_usage

from workflows.forms import (
    ActionFormSet,
    GoalForm,
    PlaybookForm,
    ProfileForm,
    SignupForm,
    SiteForm,
    TriggerFormSet,
    definitions,
    step_formset,
)
from workflows.models import Goal, Profile, Site, SiteOrigin, Workflow, new_site_key
from workflows.shortcuts import get_goal_for_user, get_site_for_user, get_workflow_for_user


@require_GET
def demo_page(request: HttpRequest) -> HttpResponse:
    """A landing page with the install snippet, on which the demo playbooks fire."""
    site = Site.objects.filter(owner__username="demo").order_by("pk").first()
    if site is None:
        raise Http404("Load the demo first: python manage.py load_demo")
    script_url = request.build_absolute_uri("/static/tracker/UnifiedWorkflowSystem.js")
    return render(
        request,
        "workflows/demo.html",
        {"site": site, "script_url": script_url, "dashboard_url": reverse("analytics:overview")},
    )


@login_required
@require_http_methods(["GET", "POST"])
def playbook_create(request: HttpRequest) -> HttpResponse:
    if not Site.objects.for_user(request.user).exists():
        messages.info(request, "Add your website first: playbooks run on a site.")
        return redirect("workflows:site-create")
    return _playbook_form(request, Workflow(owner=request.user))


@login_required
@require_http_methods(["GET", "POST"])
def playbook_edit(request: HttpRequest, public_id) -> HttpResponse:
    return _playbook_form(request, get_workflow_for_user(request.user, public_id))


def _playbook_form(request: HttpRequest, workflow: Workflow) -> HttpResponse:
    data = request.POST if request.method == "POST" else None
    form = PlaybookForm(data, instance=workflow, user=request.user)
    triggers = step_formset(TriggerFormSet, data, workflow.triggers, "triggers")
    actions = step_formset(ActionFormSet, data, workflow.actions, "actions")
    if data is not None and _every_part_valid(form, triggers, actions):
        workflow = form.save(commit=False)
        workflow.triggers = definitions(triggers)
        workflow.actions = definitions(actions)
        workflow.save()
        messages.success(request, f"Saved “{workflow.name}”.")
        for other, selectors in workflow.sharing_selectors():
            messages.warning(
                request,
                f"“{other.name}” also changes {', '.join(selectors)} on this site: where both "
                "run, the one that applies last wins.",
            )
        if "add_step" in request.POST:
            return redirect("workflows:edit", workflow.public_id)
        return redirect("analytics:playbook", workflow.public_id)
    context = {"form": form, "triggers": triggers, "actions": actions, "workflow": workflow}
    return render(request, "workflows/playbook_form.html", context)


def _every_part_valid(form: PlaybookForm, triggers, actions) -> bool:
    """Check every part, so that the page shows every problem at once."""
    valid = all([form.is_valid(), triggers.is_valid(), actions.is_valid()])
    if triggers.is_valid():
        valid = form.confirm_triggers(definitions(triggers)) and valid
    return valid


@login_required
@require_POST
def playbook_toggle(request: HttpRequest, public_id) -> HttpResponse:
    workflow = get_workflow_for_user(request.user, public_id)
    paused = workflow.status == Workflow.Status.ACTIVE
    workflow.status = Workflow.Status.PAUSED if paused else Workflow.Status.ACTIVE
    workflow.save(update_fields=["status", "updated_at"])
    messages.success(request, f"“{workflow.name}” is {'paused' if paused else 'running again'}.")
    return redirect("analytics:playbook", workflow.public_id)


@login_required
@require_http_methods(["GET", "POST"])
def playbook_delete(request: HttpRequest, public_id) -> HttpResponse:
    workflow = get_workflow_for_user(request.user, public_id)
    if request.method == "POST":
        workflow.delete()
        messages.success(request, f"Deleted “{workflow.name}” and its history.")
        return redirect("analytics:playbooks")
    return render(request, "workflows/playbook_confirm_delete.html", {"workflow": workflow})


@login_required
@require_GET
def site_list(request: HttpRequest) -> HttpResponse:
    sites = Site.objects.for_user(request.user).prefetch_related("origins")
    script_url = request.build_absolute_uri("/static/tracker/UnifiedWorkflowSystem.js")
    return render(request, "workflows/site_list.html", {"sites": sites, "script_url": script_url})


@login_required
@require_http_methods(["GET", "POST"])
def site_create(request: HttpRequest) -> HttpResponse:
    return _site_form(request, Site(owner=request.user))


@login_required
@require_http_methods(["GET", "POST"])
def site_edit(request: HttpRequest, public_id) -> HttpResponse:
    return _site_form(request, get_site_for_user(request.user, public_id))


def _site_form(request: HttpRequest, site: Site) -> HttpResponse:
    initial = (
        {"allowed_origins": "\n".join(o.origin for o in site.origins.all())} if site.pk else {}
    )
    form = SiteForm(
        request.POST if request.method == "POST" else None, instance=site, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            site = form.save()
            site.origins.all().delete()
            SiteOrigin.objects.bulk_create(
                SiteOrigin(site=site, origin=origin)
                for origin in form.cleaned_data["allowed_origins"]
            )
        messages.success(request, f"Saved “{site.name}”.")
        return redirect("workflows:sites")
    return render(request, "workflows/site_form.html", {"form": form, "site": site})


@login_required
@require_http_methods(["GET", "POST"])
def goal_create(request: HttpRequest) -> HttpResponse:
    return _goal_form(request, Goal(owner=request.user))


@login_required
@require_http_methods(["GET", "POST"])
def goal_edit(request: HttpRequest, public_id) -> HttpResponse:
    return _goal_form(request, get_goal_for_user(request.user, public_id))


def _goal_form(request: HttpRequest, goal: Goal) -> HttpResponse:
    form = GoalForm(
        request.POST if request.method == "POST" else None, instance=goal, user=request.user
    )
    if request.method == "POST" and form.is_valid():
        goal = form.save()
        messages.success(request, f"Saved “{goal.name}”.")
        return redirect("analytics:goals")
    return render(request, "workflows/goal_form.html", {"form": form, "goal": goal})


@login_required
@require_http_methods(["GET", "POST"])
def goal_delete(request: HttpRequest, public_id) -> HttpResponse:
    """Ask first (GET), then delete (POST), with its conversions and lift."""
    goal = get_goal_for_user(request.user, public_id)
    if request.method == "GET":
        return render(request, "workflows/goal_confirm_delete.html", {"goal": goal})
    goal.delete()
    messages.success(request, f"Deleted “{goal.name}”.")
    return redirect("analytics:goals")


@login_required
@require_http_methods(["GET", "POST"])
def settings_view(request: HttpRequest) -> HttpResponse:
    profile, _ = Profile.objects.get_or_create(user=request.user)
    form = ProfileForm(request.POST if request.method == "POST" else None, instance=profile)
    if request.method == "POST" and form.is_valid():
        form.save()
        request.session["time_zone"] = profile.time_zone
        messages.success(request, f"Dates are now shown in {profile.time_zone}.")
        return redirect("workflows:settings")
    return render(request, "workflows/settings.html", {"form": form})


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if not settings.ALLOW_SIGNUP:
        raise Http404("Sign-up is closed.")
    form = SignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        return redirect("workflows:site-create")
    return render(request, "registration/signup.html", {"form": form})


class RateLimitedLoginView(auth_views.LoginView):
    """Log in, with attempts limited per client IP (django-ratelimit).

    Each attempt is counted before its password is checked, in one atomic step of the shared
    cache: attempts sent together cannot all be checked against the same count. Fails closed:
    if the cache is down, logging in waits, since an unlimited login would let a password be
    guessed."""

    extra_context = {"allow_signup": settings.ALLOW_SIGNUP}

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            usage = get_usage(
                request, group="login", key="ip", rate=settings.LOGIN_RATELIMIT, increment=True
            )
        except Exception:
            usage = None
        if usage is None or usage["time_left"] < 0:  # the cache did not count it
            return self.refuse(request, 503, "Signing in is unavailable for a moment.", 30)
        if usage["should_limit"]:
            wait = max(usage["time_left"], 1)
            return self.refuse(request, 429, "Too many sign-in attempts. Try again shortly.", wait)
        return super().post(request, *args, **kwargs)

    def refuse(self, request: HttpRequest, status: int, message: str, wait: int) -> HttpResponse:
        response = render(
            request,
            "registration/login.html",
            {"form": self.get_form_class()(request), "refusal": message, **self.extra_context},
            status=status,
        )
        response["Retry-After"] = str(wait)
        return response


@login_required
@require_http_methods(["GET", "POST"])
def site_rotate_key(request: HttpRequest, public_id) -> HttpResponse:
    """Ask first (GET), then rotate (POST): the old key stops working at once."""
    site = get_site_for_user(request.user, public_id)
    if request.method == "GET":
        return render(request, "workflows/site_confirm_rotate_key.html", {"site": site})
    site.site_key = new_site_key()
    site.save(update_fields=["site_key"])
    messages.success(
        request,
        f"“{site.name}” has a new key and the old one no longer works: "
        "update the snippet on its pages.",
    )
    return redirect("workflows:sites")
