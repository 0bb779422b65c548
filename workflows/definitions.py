"""The shape of a playbook's triggers and actions, as the site script understands them.

Each trigger and action is a small JSON object with a `type` and that type's fields.
The validators below are attached to the model fields, so the admin, the REST API and
the dashboard forms all refuse the same things with the same messages. The site script gets
the names and the settable attributes from the server with the site's playbooks.
"""

from typing import Any

from django.core.exceptions import ValidationError

from workflows.selectors import selector_problem

MAX_TRIGGERS = 20
MAX_ACTIONS = 50
# Executions in one tracking request.
MAX_BATCH = 100
MAX_TEXT = 1000
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
DEVICE_TYPES = ("desktop", "mobile", "tablet")
TEXT_MATCHES = ("equals", "contains", "starts_with")
VISITOR_KINDS = ("new", "returning")

# type -> {field: kind}; a kind is a tuple of choices or one of the kinds `field_problem`
# knows: "selector", "content" (text shown to visitors), "pattern" (text looked for), "text",
# "percent", "seconds", "devices", "utm" (an object of utm_* keys), "attribute", "class",
# "css_property".
TRIGGER_FIELDS: dict[str, dict[str, Any]] = {
    "device": {"devices": "devices"},
    "utm": {"params": "utm"},
    "scroll_depth": {"percent": "percent"},
    "url_path": {"match": TEXT_MATCHES, "value": "pattern"},
    "referrer": {"match": TEXT_MATCHES, "value": "pattern"},
    "time_on_page": {"seconds": "seconds"},
    "visitor": {"kind": VISITOR_KINDS},
}

ACTION_FIELDS: dict[str, dict[str, Any]] = {
    "replace_text": {"selector": "selector", "text": "content"},
    "set_attribute": {"selector": "selector", "attribute": "attribute", "value": "text"},
    "add_class": {"selector": "selector", "className": "class"},
    "remove_class": {"selector": "selector", "className": "class"},
    "set_style": {"selector": "selector", "property": "css_property", "value": "text"},
    "hide": {"selector": "selector"},
    "show": {"selector": "selector"},
    "insert_before": {"selector": "selector", "text": "content"},
    "insert_after": {"selector": "selector", "text": "content"},
}

# What an execution's `triggerName` says for each trigger (the spec's "UTM Parameters").
TRIGGER_LABELS = {
    "device": "Device Type",
    "utm": "UTM Parameters",
    "scroll_depth": "Scroll Depth",
    "url_path": "URL Path",
    "referrer": "Referrer",
    "time_on_page": "Time on Page",
    "visitor": "Visitor Type",
}

# What an execution's action `name` says for each action (the spec's "Replace Text").
ACTION_LABELS = {
    "replace_text": "Replace Text",
    "set_attribute": "Set Attribute",
    "add_class": "Add Class",
    "remove_class": "Remove Class",
    "set_style": "Set Style",
    "hide": "Hide",
    "show": "Show",
    "insert_before": "Insert Text Before",
    "insert_after": "Insert Text After",
}

# The only attributes a playbook may set, compared without case: none of them can load or
# run anything on the visitor's page, whatever library the page uses. A name outside the list
# may (htmx's hx-on:click, Alpine's x-on:click, Vue's v-html and :title, an SVG's xlink:href).
SETTABLE_ATTRIBUTES = (
    "alt", "title", "placeholder", "lang", "dir", "target", "rel", "width", "height",
    "loading", "hidden", "aria-label", "aria-description", "aria-hidden",
)  # fmt: skip


def validate_triggers(value: Any) -> None:
    _validate_items(value, "trigger", TRIGGER_FIELDS, MAX_TRIGGERS)


NO_ACTION = "Add at least one action: a playbook without one changes nothing."


def validate_actions(value: Any) -> None:
    _validate_items(value, "action", ACTION_FIELDS, MAX_ACTIONS)
    if not value:
        raise ValidationError(NO_ACTION)


def _validate_items(value: Any, noun: str, fields_by_type: dict, limit: int) -> None:
    if not isinstance(value, list):
        raise ValidationError(f"Expected a list of {noun}s.")
    if len(value) > limit:
        raise ValidationError(f"At most {limit} {noun}s are allowed.")
    for position, item in enumerate(value, start=1):
        where = f"{noun.capitalize()} {position}"
        if not isinstance(item, dict):
            raise ValidationError(f"{where}: expected an object with a type.")
        kind = item.get("type")
        if kind not in fields_by_type:
            choices = ", ".join(fields_by_type)
            raise ValidationError(f"{where}: unknown type {kind!r}; expected one of {choices}.")
        expected = fields_by_type[kind]
        unknown = set(item) - set(expected) - {"type"}
        if unknown:
            raise ValidationError(f"{where}: unexpected field(s) {', '.join(sorted(unknown))}.")
        for field, field_kind in expected.items():
            if field not in item:
                raise ValidationError(f"{where} ({kind}), {field}: this field is required.")
            problem = field_problem(item[field], field_kind)
            if problem:
                raise ValidationError(f"{where} ({kind}), {field}: {problem}")


def field_problem(value: Any, kind: Any) -> str | None:
    """What is wrong with one field of a trigger or action, as a sentence a marketer can act on
    (the forms show it under the field); None when nothing is."""
    if isinstance(kind, tuple):
        return None if value in kind else f"Choose one of {', '.join(kind)}."
    if kind == "percent":
        return _number_problem(value, 0, 100)
    if kind == "seconds":
        return _number_problem(value, 0, 3600)
    if kind == "devices":
        if not isinstance(value, list) or not value or not set(value) <= set(DEVICE_TYPES):
            return f"Choose at least one device: {', '.join(DEVICE_TYPES)}."
        return None
    if kind == "utm":
        if not isinstance(value, dict) or not value or not set(value) <= set(UTM_KEYS):
            return f"Fill in at least one UTM value ({', '.join(UTM_KEYS)})."
        return next(
            (f"{key}: {problem}" for key, v in value.items() if (problem := _text_problem(v))),
            None,
        )
    required = REQUIRED_TEXT.get(kind)
    problem = _text_problem(value, required)
    if problem or not value:
        return problem
    if kind == "selector":
        return selector_problem(value)
    if kind == "attribute" and value.strip().lower() not in SETTABLE_ATTRIBUTES:
        return f"A playbook cannot set “{value}”: it may set {', '.join(SETTABLE_ATTRIBUTES)}."
    if kind in ("class", "css_property") and any(c.isspace() for c in value):
        return "Enter one name, without spaces."
    return None


# The text fields that must not be blank, and what to ask for when they are.
REQUIRED_TEXT = {
    "selector": "Enter a CSS selector, like .hero-title.",
    "content": "Enter the text to show.",
    "pattern": "Enter the text to look for.",
    "attribute": "Choose the attribute to set.",
    "class": "Enter a class name.",
    "css_property": "Enter a CSS property, like color.",
}


def _number_problem(value: Any, low: int, high: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        return f"Enter a number from {low} to {high}."
    return None


def _text_problem(value: Any, required: str | None = None) -> str | None:
    if not isinstance(value, str):
        return "Enter text."
    if required and not value.strip():
        return required
    if len(value) > MAX_TEXT:
        return f"Use at most {MAX_TEXT} characters."
    if "\x00" in value:
        return "Remove the NUL character (an invisible control character)."
    return None


def describe(workflow) -> str:
    """What a playbook does, in a sentence: "When utm_source is newsletter: replace the text of
    .hero-title with “Welcome back!”."."""
    triggers = [_trigger_phrase(trigger) for trigger in workflow.triggers]
    joined = (" or " if workflow.trigger_match == "any" else " and ").join(triggers)
    when = f"When {joined}" if triggers else "On every page view"
    actions = [_action_phrase(action) for action in workflow.actions]
    if not actions:
        return f"{when}: nothing (it has no action)."
    return f"{when}: {'; '.join(actions)}."


def _trigger_phrase(trigger: dict) -> str:
    kind = trigger.get("type")
    if kind == "device":
        return f"the visitor is on {' or '.join(trigger.get('devices', []))}"
    if kind == "utm":
        pairs = trigger.get("params", {}).items()
        return " and ".join(f"{name} is {value}" for name, value in pairs)
    if kind == "scroll_depth":
        return f"the visitor has seen {trigger.get('percent')}% of the page"
    if kind in ("url_path", "referrer"):
        noun = "the path" if kind == "url_path" else "the referrer"
        verb = {"equals": "is", "contains": "contains", "starts_with": "starts with"}
        return f"{noun} {verb.get(trigger.get('match'), 'contains')} {trigger.get('value')}"
    if kind == "time_on_page":
        return f"the visitor has been on the page {trigger.get('seconds')} s"
    if kind == "visitor":
        return f"the visitor is {trigger.get('kind')}"
    return str(kind)


def _action_phrase(action: dict) -> str:
    selector = action.get("selector", "")
    text = f"“{action.get('text', '')}”"
    phrases = {
        "replace_text": f"replace the text of {selector} with {text}",
        "set_attribute": f"set {action.get('attribute')} of {selector} to “{action.get('value')}”",
        "add_class": f"add the class {action.get('className')} to {selector}",
        "remove_class": f"remove the class {action.get('className')} from {selector}",
        "set_style": f"set {action.get('property')} of {selector} to {action.get('value')}",
        "hide": f"hide {selector}",
        "show": f"show {selector}",
        "insert_before": f"insert {text} before {selector}",
        "insert_after": f"insert {text} after {selector}",
    }
    return phrases.get(action.get("type"), str(action.get("type")))
