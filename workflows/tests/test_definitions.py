import pytest
from django.core.exceptions import ValidationError

from workflows.definitions import validate_actions, validate_triggers


@pytest.mark.parametrize(
    "triggers",
    [
        [],
        [{"type": "device", "devices": ["mobile", "tablet"]}],
        [{"type": "utm", "params": {"utm_source": "newsletter", "utm_campaign": "spring"}}],
        [{"type": "scroll_depth", "percent": 50}],
        [{"type": "url_path", "match": "starts_with", "value": "/pricing"}],
        [{"type": "referrer", "match": "contains", "value": "google."}],
        [{"type": "time_on_page", "seconds": 15}],
        [{"type": "visitor", "kind": "returning"}],
    ],
)
def test_every_trigger_type_is_accepted_when_well_formed(triggers):
    validate_triggers(triggers)


@pytest.mark.parametrize(
    ("triggers", "message"),
    [
        ({"type": "device"}, "Expected a list of triggers."),
        ([{"type": "weather"}], "Trigger 1: unknown type 'weather'"),
        (
            [{"type": "device", "devices": []}],
            "Trigger 1 (device), devices: Choose at least one device",
        ),
        ([{"type": "device", "devices": ["watch"]}], "devices: Choose at least one device"),
        ([{"type": "utm", "params": {"utm_foo": "x"}}], "params: Fill in at least one UTM value"),
        ([{"type": "scroll_depth", "percent": 150}], "percent: Enter a number from 0 to 100."),
        ([{"type": "scroll_depth", "percent": "half"}], "percent: Enter a number from 0 to 100."),
        ([{"type": "scroll_depth"}], "percent: this field is required."),
        (
            [{"type": "url_path", "match": "regex", "value": "x"}],
            "match: Choose one of equals, contains, starts_with.",
        ),
        ([{"type": "visitor", "kind": "new", "extra": 1}], "unexpected field(s) extra"),
        ([{"type": "time_on_page", "seconds": True}], "seconds: Enter a number from 0 to 3600."),
    ],
)
def test_bad_triggers_are_refused_with_a_message_naming_the_problem(triggers, message):
    with pytest.raises(ValidationError) as error:
        validate_triggers(triggers)

    assert message in error.value.messages[0]


@pytest.mark.parametrize(
    "action",
    [
        {"type": "replace_text", "selector": ".hero-title", "text": "Special Offer!"},
        {"type": "set_attribute", "selector": "img", "attribute": "alt", "value": "A cat"},
        {"type": "add_class", "selector": ".hero", "className": "hero--sale"},
        {"type": "remove_class", "selector": ".hero", "className": "hidden"},
        {"type": "set_style", "selector": ".cta", "property": "color", "value": "red"},
        {"type": "hide", "selector": ".popup"},
        {"type": "show", "selector": ".popup"},
        {"type": "insert_before", "selector": "h1", "text": "New!"},
        {"type": "insert_after", "selector": "h1 ~ p, h1 + p", "text": "Ends soon"},
    ],
)
def test_every_action_type_is_accepted_when_well_formed(action):
    validate_actions([action])


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({"type": "replace_text", "text": "x"}, "selector: this field is required."),
        (
            {"type": "replace_text", "selector": " ", "text": "x"},
            "selector: Enter a CSS selector, like .hero-title.",
        ),
        ({"type": "hide", "selector": "x" * 1001}, "at most 1000 characters"),
        (
            {"type": "set_attribute", "selector": "a", "attribute": "onclick", "value": "x"},
            "cannot",
        ),
        ({"type": "set_attribute", "selector": "a", "attribute": "href", "value": "x"}, "cannot"),
        (
            {"type": "set_attribute", "selector": "svg a", "attribute": "xlink:href", "value": "x"},
            "cannot",
        ),
        (
            {"type": "set_attribute", "selector": "b", "attribute": "hx-on:click", "value": "x"},
            "cannot",
        ),
        (
            {"type": "set_attribute", "selector": "b", "attribute": "x-on:click", "value": "x"},
            "cannot",
        ),
        ({"type": "set_attribute", "selector": "b", "attribute": ":title", "value": "x"}, "cannot"),
        ({"type": "set_attribute", "selector": "b", "attribute": "v-html", "value": "x"}, "cannot"),
        ({"type": "set_attribute", "selector": "o", "attribute": "data", "value": "x"}, "cannot"),
        (
            {"type": "add_class", "selector": "a", "className": "two words"},
            "Enter one name, without spaces.",
        ),
        ({"type": "replace_text", "selector": "h1", "text": 5}, "text: Enter text."),
        ({"type": "hide", "selector": "a\x00"}, "NUL"),
        ({"type": "hide", "selector": "<<<not a selector"}, "“<” cannot start a selector."),
        ({"type": "replace_text", "selector": "h1", "text": "  "}, "Enter the text to show."),
        ({"type": "insert_before", "selector": "h1", "text": ""}, "Enter the text to show."),
        ({"type": "insert_after", "selector": "h1", "text": ""}, "Enter the text to show."),
    ],
)
def test_bad_actions_are_refused_with_a_message_naming_the_problem(action, message):
    with pytest.raises(ValidationError) as error:
        validate_actions([action])

    assert message in error.value.messages[0]


def test_a_playbook_needs_at_least_one_action():
    with pytest.raises(ValidationError, match="Add at least one action"):
        validate_actions([])


def test_a_url_path_or_referrer_trigger_needs_the_text_it_looks_for():
    with pytest.raises(ValidationError, match="Enter the text to look for."):
        validate_triggers([{"type": "url_path", "match": "contains", "value": " "}])


def test_there_is_a_limit_on_the_number_of_actions():
    with pytest.raises(ValidationError, match="At most 50 actions"):
        validate_actions([{"type": "hide", "selector": "a"}] * 51)
