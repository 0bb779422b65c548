"""CSS selectors checked by the rules browsers apply in `document.querySelectorAll`, so a
playbook never carries a selector its visitors' browsers would refuse.

tinycss2 splits the text into tokens exactly as browsers do (escapes, strings, comments,
unclosed brackets); the grammar of Selectors Level 4 on top of those tokens is short. A few
selectors Chromium accepts are refused on purpose, each with its reason: pseudo-elements
(a playbook changes elements), vendor prefixes and scrollbar states (other browsers refuse or
ignore them).
"""

import tinycss2
from tinycss2.ast import (
    FunctionBlock,
    HashToken,
    IdentToken,
    LiteralToken,
    Node,
    ParseError,
    SquareBracketsBlock,
    StringToken,
    WhitespaceToken,
)
from tinycss2.nth import parse_nth

PSEUDO_CLASSES = frozenset(
    {
        "active", "any-link", "autofill", "checked", "current", "default", "defined", "disabled",
        "empty", "enabled", "first-child", "first-of-type", "focus", "focus-visible",
        "focus-within", "fullscreen", "future", "host", "hover", "in-range", "indeterminate",
        "invalid", "last-child", "last-of-type", "link", "modal", "only-child", "only-of-type",
        "open", "optional",
        "out-of-range", "past", "picture-in-picture", "placeholder-shown", "popover-open",
        "read-only", "read-write", "required", "root", "scope", "target", "user-invalid",
        "user-valid", "valid", "visited",
    }
)  # fmt: skip
COMBINATORS = {">", "+", "~"}
ATTRIBUTE_MATCHERS = {"=", "~=", "|=", "^=", "$=", "*="}


class InvalidSelector(ValueError):
    pass


def selector_problem(selector: str) -> str | None:
    """Why browsers would refuse `selector`, in plain words; None when they accept it."""
    try:
        _selector_list(_tokens(tinycss2.parse_component_value_list(selector)))
    except InvalidSelector as error:
        return str(error)
    return None


def _tokens(nodes: list[Node]) -> list[Node]:
    """The tokens that matter: a comment is dropped (unlike whitespace, it does not separate two
    selectors), and so is the note that a string ran to the end (browsers close it)."""
    return [
        node
        for node in nodes
        if node.type != "comment"
        and not (isinstance(node, ParseError) and node.kind == "eof-in-string")
    ]


def _text(node: Node) -> str:
    return node.kind if isinstance(node, ParseError) else tinycss2.serialize([node])


def _skip_space(tokens: list[Node], position: int) -> int:
    while position < len(tokens) and isinstance(tokens[position], WhitespaceToken):
        position += 1
    return position


def _literal(node: Node | None, *values: str) -> bool:
    return isinstance(node, LiteralToken) and node.value in values


def _strip(tokens: list[Node]) -> list[Node]:
    start, end = 0, len(tokens)
    while start < end and isinstance(tokens[start], WhitespaceToken):
        start += 1
    while end > start and isinstance(tokens[end - 1], WhitespaceToken):
        end -= 1
    return tokens[start:end]


def _split_commas(tokens: list[Node]) -> list[list[Node]]:
    parts: list[list[Node]] = [[]]
    for token in tokens:
        if _literal(token, ","):
            parts.append([])
        else:
            parts[-1].append(token)
    return [_strip(part) for part in parts]


def _selector_list(tokens: list[Node], *, relative: bool = False, in_has: bool = False) -> None:
    parts = _split_commas(tokens)
    if not any(parts):
        raise InvalidSelector("Enter a CSS selector, like .hero-title.")
    if not all(parts):
        raise InvalidSelector("A selector is missing next to a comma.")
    for part in parts:
        _complex(part, relative=relative, in_has=in_has)


def _complex(tokens: list[Node], *, relative: bool, in_has: bool) -> None:
    position = 0
    if relative and _literal(tokens[0], *COMBINATORS):
        position = _after_combinator(tokens, 0)
    while True:
        end = _compound(tokens, position, in_has=in_has)
        position = _skip_space(tokens, end)
        if position == len(tokens):
            return
        if _literal(tokens[position], *COMBINATORS):
            position = _after_combinator(tokens, position)
        elif position == end:  # neither a combinator nor a space: "p/**/q", "p.1"
            raise InvalidSelector(f"“{_text(tokens[position])}” cannot appear there.")


def _after_combinator(tokens: list[Node], position: int) -> int:
    after = _skip_space(tokens, position + 1)
    if after == len(tokens):
        raise InvalidSelector(f"Nothing follows “{tokens[position].value}”.")
    return after


def _compound(tokens: list[Node], position: int, *, in_has: bool) -> int:
    """Read one compound selector (a type and its classes, ids, attributes and pseudo-classes)
    from `position`; return where it ends."""
    start = position
    position = _type_selector(tokens, position)
    while position < len(tokens):
        token = tokens[position]
        following = tokens[position + 1] if position + 1 < len(tokens) else None
        if isinstance(token, HashToken):
            if not token.is_identifier:
                raise InvalidSelector(
                    f"“#{token.value}” is not an id selector: an id that starts with a digit "
                    "must be escaped, like #\\31 23 for id 123."
                )
            position += 1
        elif _literal(token, "."):
            if not isinstance(following, IdentToken):
                raise InvalidSelector("A class name must follow the dot, like .hero-title.")
            position += 2
        elif isinstance(token, SquareBracketsBlock):
            _attribute(token.content)
            position += 1
        elif _literal(token, ":"):
            _pseudo_class(following, in_has=in_has)
            position += 2
        elif _literal(token, "&"):
            position += 1
        else:
            break
    if position == start:
        token = tokens[position] if position < len(tokens) else None
        if token is None:
            raise InvalidSelector("A selector is missing.")
        if isinstance(token, ParseError) or token.type in ("number", "dimension", "percentage"):
            raise InvalidSelector(f"“{_text(token)}” is not a selector.")
        raise InvalidSelector(f"“{_text(token)}” cannot start a selector.")
    return position


def _type_selector(tokens: list[Node], position: int) -> int:
    """Skip an element name (`p`, `*`, `*|p` or `|p`); return where it ends."""
    token = tokens[position] if position < len(tokens) else None
    following = tokens[position + 1] if position + 1 < len(tokens) else None
    if _literal(token, "|"):
        return _element_name(tokens, position + 1)
    if isinstance(token, IdentToken | LiteralToken) and _literal(following, "|"):
        if not _literal(token, "*"):
            raise InvalidSelector(
                f"“{token.value}|” names a namespace, which a page's selectors cannot declare."
            )
        return _element_name(tokens, position + 2)
    if isinstance(token, IdentToken) or _literal(token, "*"):
        return position + 1
    return position


def _element_name(tokens: list[Node], position: int) -> int:
    token = tokens[position] if position < len(tokens) else None
    if isinstance(token, IdentToken) or _literal(token, "*"):
        return position + 1
    raise InvalidSelector("An element name must follow “|”.")


def _attribute(content: list[Node]) -> None:
    tokens = _strip(_tokens(content))
    if len(tokens) > 1 and _literal(tokens[1], "|"):
        if not _literal(tokens[0], "*"):
            raise InvalidSelector(
                f"“{_text(tokens[0])}|” names a namespace, which a page's selectors cannot declare."
            )
        tokens = tokens[2:]
    elif tokens and _literal(tokens[0], "|"):
        tokens = tokens[1:]
    if not tokens or not isinstance(tokens[0], IdentToken):
        raise InvalidSelector("An attribute selector needs an attribute name, like [data-id].")
    rest = _strip(tokens[1:])
    if not rest:
        return
    if not _literal(rest[0], *ATTRIBUTE_MATCHERS):
        raise InvalidSelector(f"“{_text(rest[0])}” cannot appear in an attribute selector.")
    rest = _strip(rest[1:])
    if not rest or not isinstance(rest[0], IdentToken | StringToken):
        raise InvalidSelector(
            'An attribute selector\'s value must be a word or in quotes, like [data-id="5"].'
        )
    flags = _strip(rest[1:])
    if flags and not (
        len(flags) == 1 and isinstance(flags[0], IdentToken) and flags[0].lower_value == "i"
    ):
        raise InvalidSelector("After an attribute's value only “i” (ignore case) may follow.")


def _pseudo_class(token: Node | None, *, in_has: bool) -> None:
    if _literal(token, ":"):
        raise InvalidSelector(
            "Pseudo-elements such as ::before are not elements: a playbook cannot change them."
        )
    if isinstance(token, IdentToken):
        if token.lower_value not in PSEUDO_CLASSES:
            raise InvalidSelector(f"“:{token.value}” is not a pseudo-class playbooks can use.")
        return
    if not isinstance(token, FunctionBlock):
        raise InvalidSelector("A pseudo-class name must follow the colon, like :hover.")
    name, arguments = token.lower_name, _strip(_tokens(token.arguments))
    if name in ("is", "where"):
        return  # forgiving: browsers skip what they cannot read inside
    if name == "not":
        _selector_list(arguments, in_has=in_has)
    elif name == "has":
        if in_has:
            raise InvalidSelector("“:has()” cannot be used inside another “:has()”.")
        _selector_list(arguments, relative=True, in_has=True)
    elif name in ("nth-child", "nth-last-child"):
        _nth(arguments, name, of_allowed=True, in_has=in_has)
    elif name in ("nth-of-type", "nth-last-of-type"):
        _nth(arguments, name, of_allowed=False, in_has=in_has)
    elif name in ("lang", "dir", "state"):
        words = _split_commas(arguments) if name == "lang" else [arguments]
        if not all(len(word) == 1 and isinstance(word[0], IdentToken) for word in words):
            raise InvalidSelector(f"“:{name}()” takes a name, like :{name}(en).")
    elif name in ("host", "host-context"):
        if not arguments or _compound(arguments, 0, in_has=in_has) != len(arguments):
            raise InvalidSelector(f"“:{name}()” takes one selector without spaces.")
    else:
        raise InvalidSelector(f"“:{token.name}()” is not a pseudo-class playbooks can use.")


def _nth(arguments: list[Node], name: str, *, of_allowed: bool, in_has: bool) -> None:
    """`2n+1`, `odd`, ..., and for :nth-child() and :nth-last-child() `2n+1 of .item`."""
    of = next(
        (
            index
            for index, token in enumerate(arguments)
            if of_allowed and isinstance(token, IdentToken) and token.lower_value == "of"
        ),
        len(arguments),
    )
    formula, selectors = arguments[:of], arguments[of + 1 :]
    if parse_nth(formula) is None or (formula and formula[-1].type != "whitespace" and selectors):
        raise InvalidSelector(f"“:{name}()” takes a position like 2, odd, even or 2n+1.")
    if of < len(arguments):
        if not _strip(selectors):
            raise InvalidSelector(f"A selector must follow “of” in “:{name}()”.")
        _selector_list(selectors, in_has=in_has)
