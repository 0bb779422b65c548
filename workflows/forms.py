"""Forms for marketers: playbooks edited field by field (never raw JSON), sites, settings."""

from typing import Any
from zoneinfo import available_timezones

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError

from workflows.definitions import (
    ACTION_FIELDS,
    ACTION_LABELS,
    DEVICE_TYPES,
    NO_ACTION,
    SETTABLE_ATTRIBUTES,
    TEXT_MATCHES,
    TRIGGER_FIELDS,
    TRIGGER_LABELS,
    UTM_KEYS,
    VISITOR_KINDS,
    field_problem,
)
from workflows.models import Goal, Profile, Site, Workflow, normalize_origin

MATCH_CHOICES = [(match, match.replace("_", " ").capitalize()) for match in TEXT_MATCHES]


class PlaybookForm(forms.ModelForm):
    every_page_view = forms.BooleanField(
        required=False, label="No trigger: run on every page view of the site"
    )

    class Meta:
        model = Workflow
        fields = ["name", "site", "status", "trigger_match", "holdout_percent"]
        labels = {"trigger_match": "Run when"}
        help_texts = {
            "holdout_percent": "The share of visitors who meet the triggers but see no change, "
            "so that the playbook's lift on the site's goals can be measured. 0 turns it off; "
            "each visitor stays in their group for good."
        }

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = Site.objects.for_user(user)
        self.fields["site"].empty_label = None
        self.fields["every_page_view"].initial = bool(
            self.instance.pk and not self.instance.triggers
        )
        self.fields["holdout_percent"].required = False  # blank: no holdout group

    def clean_holdout_percent(self) -> int:
        return self.cleaned_data["holdout_percent"] or 0

    def confirm_triggers(self, triggers: list[dict[str, Any]]) -> bool:
        """A playbook without a trigger changes every page view: only when that was chosen."""
        every_page_view = self.cleaned_data["every_page_view"]
        if not triggers and not every_page_view:
            self.add_error(
                "every_page_view", "Add a trigger, or tick this box to run on every page view."
            )
        elif triggers and every_page_view:
            self.add_error(
                "every_page_view", "Untick this box, or remove the triggers: it cannot be both."
            )
        return not self.errors


class GoalForm(forms.ModelForm):
    """A goal: its kind, and the one setting that kind uses (the model checks each)."""

    class Meta:
        model = Goal
        fields = ["name", "site", "kind", "selector", "match", "path", "event"]
        labels = {"kind": "Counts when", "match": "Page path", "path": "Path"}
        help_texts = {
            "selector": "For a click: the CSS selector of the element (a click inside it counts "
            "too), e.g. #signup or .buy-button.",
            "match": "For a page visit: how the page's path is compared.",
            "path": "For a page visit: the path, e.g. /thank-you.",
            "event": 'For a call: the name the page passes, as in workflowSystem.goal("signup").',
        }
        widgets = {"kind": forms.RadioSelect}

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = Site.objects.for_user(user)
        self.fields["site"].empty_label = None
        self.fields["kind"].choices = Goal.Kind.choices  # a radio button for each, none blank
        self.initial["kind"] = self.instance.kind or Goal.Kind.CLICK
        self.fields["match"].choices = [("", "—"), *Goal.PathMatch.choices]


def step_type_field(labels: dict[str, str], label: str) -> forms.ChoiceField:
    # The "step-type" class lets the stylesheet show only the chosen type's fields.
    return forms.ChoiceField(
        choices=[("", "—"), *labels.items()],
        required=False,
        label=label,
        widget=forms.Select(attrs={"class": "step-type"}),
    )


class StepForm(forms.Form):
    """One trigger or action: a type and the fields that type uses; a blank type is no step.
    Each problem is shown under its field, in the words of `field_problem`."""

    kinds: dict[str, dict[str, Any]] = {}

    def definition(self) -> dict[str, Any] | None:
        kind = self.cleaned_data.get("type")
        if not kind or self.cleaned_data.get("DELETE"):
            return None
        item = {"type": kind}
        for name in self.kinds[kind]:
            item[name] = self._value(name)
        return item

    def _value(self, name: str) -> Any:
        return self.cleaned_data.get(name)

    def _form_field(self, name: str) -> str:
        return name

    def clean(self) -> dict:
        data = super().clean()
        item = self.definition() if not self.errors else None
        for name, kind in self.kinds[item["type"]].items() if item else ():
            problem = field_problem(item[name], kind)
            if problem and self._form_field(name) not in self.errors:
                self.add_error(self._form_field(name), problem)
        return data

    @classmethod
    def initial_from(cls, item: dict[str, Any]) -> dict[str, Any]:
        return dict(item)


class TriggerForm(StepForm):
    kinds = TRIGGER_FIELDS

    type = step_type_field(TRIGGER_LABELS, "Trigger")
    devices = forms.MultipleChoiceField(
        choices=[(d, d.capitalize()) for d in DEVICE_TYPES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    utm_source = forms.CharField(required=False, max_length=1000, label="utm_source")
    utm_medium = forms.CharField(required=False, max_length=1000, label="utm_medium")
    utm_campaign = forms.CharField(required=False, max_length=1000, label="utm_campaign")
    utm_term = forms.CharField(required=False, max_length=1000, label="utm_term")
    utm_content = forms.CharField(required=False, max_length=1000, label="utm_content")
    percent = forms.IntegerField(required=False, label="Scroll depth %")
    match = forms.ChoiceField(choices=MATCH_CHOICES, required=False, label="Match")
    value = forms.CharField(required=False, max_length=1000, label="Text")
    seconds = forms.IntegerField(required=False, label="Seconds on page")
    kind = forms.ChoiceField(
        choices=[(k, k.capitalize()) for k in VISITOR_KINDS], required=False, label="Visitor"
    )

    def _value(self, name: str) -> Any:
        if name == "params":
            return {key: self.cleaned_data[key] for key in UTM_KEYS if self.cleaned_data.get(key)}
        return self.cleaned_data.get(name)

    def _form_field(self, name: str) -> str:
        return "utm_source" if name == "params" else name

    @classmethod
    def initial_from(cls, item: dict[str, Any]) -> dict[str, Any]:
        return {**{k: v for k, v in item.items() if k != "params"}, **item.get("params", {})}


class ActionForm(StepForm):
    kinds = ACTION_FIELDS

    type = step_type_field(ACTION_LABELS, "Action")
    selector = forms.CharField(required=False, max_length=1000, label="CSS selector")
    text = forms.CharField(required=False, max_length=1000, label="Text")
    attribute = forms.ChoiceField(
        choices=[("", "—"), *((name, name) for name in SETTABLE_ATTRIBUTES)],
        required=False,
        label="Attribute",
    )
    property = forms.CharField(required=False, max_length=100, label="CSS property")
    className = forms.CharField(required=False, max_length=100, label="Class")
    value = forms.CharField(required=False, max_length=1000, label="Value")

    def _value(self, name: str) -> Any:
        value = self.cleaned_data.get(name)
        return "" if value is None else value


TriggerFormSet = forms.formset_factory(TriggerForm, extra=1, can_delete=True, max_num=20)


class BaseActionFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        if not any(self.errors) and not definitions(self):
            raise ValidationError(NO_ACTION)


ActionFormSet = forms.formset_factory(
    ActionForm, formset=BaseActionFormSet, extra=1, can_delete=True, max_num=50
)


def step_formset(formset_class, data, items: list[dict], prefix: str):
    initial = [formset_class.form.initial_from(item) for item in items]
    return formset_class(data, initial=initial, prefix=prefix)


def definitions(formset) -> list[dict[str, Any]]:
    return [item for form in formset.forms if (item := form.definition()) is not None]


class SiteForm(forms.ModelForm):
    allowed_origins = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text="One origin per line, like https://www.example.com. Pages on these origins may "
        "load your playbooks and report executions.",
    )

    class Meta:
        model = Site
        fields = ["name"]

    def clean_allowed_origins(self) -> list[str]:
        origins, problems = [], []
        for line in self.cleaned_data["allowed_origins"].splitlines():
            if not line.strip():
                continue
            try:
                origins.append(normalize_origin(line))
            except ValidationError as error:
                problems.extend(error.messages)
        if problems:
            raise ValidationError(problems)
        if len(origins) > 50:
            raise ValidationError("At most 50 origins.")
        return list(dict.fromkeys(origins))


class ProfileForm(forms.ModelForm):
    time_zone = forms.ChoiceField(choices=[(tz, tz) for tz in sorted(available_timezones())])

    class Meta:
        model = Profile
        fields = ["time_zone"]


class SignupForm(UserCreationForm):
    pass
