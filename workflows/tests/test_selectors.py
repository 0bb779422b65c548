"""Selectors are judged as Chromium's `document.querySelector` judges them: each selector below
is put to the browser and to the playbook check, and the verdicts must agree."""

import pytest

from workflows.selectors import selector_problem

AGREED = [
    # Accepted by browsers.
    ".hero-title", "#main > h1", "h1.title, h2.title", "a[href^='https']", 'a[href$=".pdf" i]',
    "div:not(.x)", "li:nth-child(2n+1)", "li:nth-child(2n + 1 of .item)", "p:first-of-type",
    "input:checked", ":is(h1, h2) span", ":where(.a) .b", "section:has(> img)", "a:hover",
    "button:focus-visible", "*", "[data-x]", "[data-x='a b']", "div ~ p", "div + p", ":root",
    "body > main .card:last-child", ".a\\:b", "#\\31 23", "tr:nth-of-type(odd)", "p:lang(en)",
    ":scope > p", "a:any-link", "input:placeholder-shown", "*|div", "|div", "p:empty",
    ":target", "A", "DIV.Foo", "p:NOT(.x)", ":Hover", "P:Nth-Child(2N+1)", "[data-x=-a]",
    "[x='a' I]", "[x=a i]", "[ x ]", "[x='']", "[*|x]", "[|x]", "[lang|=en]", "[x ~= a]",
    "a:hover:focus", ":root:root", "p.x.y#z#w", "p.-x", "p.--x", ".\\31 x", "h1\n h2",
    "h1\t>h2", "p:nth-child(-n+3)", "li:nth-child(even)", ":nth-child( 2n + 1 )", "p:dir(rtl)",
    "p:not(.a, .b)", "p:not(p > q)", ":has(+ p)", ":has(~ p, > q)", "a:not(:not(b))",
    ":is(.a, :hoverr)", ":where()", "p:is(", "a[href='x]", "a[x='y", "&", ".a & .b",
    ":state(open)", ":host", ":host(.a)", ".café", "div /* note */ p", "p,/**/q", "p/*x",
    ":user-valid", ":popover-open", ":modal", "\\",
    # Refused by browsers.
    "<<<not a selector", "", "   ", ".", "#", "div[", "div]", ":not(", "h1,,h2", "h1,", ",h1",
    "div >", "> div", "+ p", ":hoverr", ":nth-child(foo)", "p:nth-child()", "div:has()", "123",
    ".1a", "#1a", "div..x", "div##x", "[x=y z]", "a:contains('x')", "p:unknown-thing",
    "input[type='text' s]", "[x i]", "[x=]", "[]", "[1]", "[data-x=1]", "[ns|x]", "[x|y=a]",
    "[x ~ = a]", "svg|rect", "ns|*", "||p", "p || q", "p> >q", "p ~ ~ q", "p#1", "p.1",
    "p/**/q", "<!--", "p { }", "p;", "p}", "@media", "url(x)", "p!important", ":not()",
    ":has(:has(a))", ":not(::before)", ":host()", ":lang('en')", ":nth-child(odd of)",
    ":nth-child(2n+1of p)", ":nth-child(+ 2n)", ":nth-child(1.5)", ":nth-of-type(2n of p)",
    ":local-link", ":paused", ":playing", ":muted", ":-soup-contains('x')", ":nth-col(1)",
    ":current(p)", ":state", "p::before.x", "::foo", "p:nth-child(2n+1 of)",
]  # fmt: skip

# Accepted by Chromium, refused here with a reason: pseudo-elements are not elements a playbook
# can change; vendor prefixes and scrollbar states are not understood by every browser.
ON_PURPOSE = [
    "::before", "h1::before", "p::first-line", "::selection", "::marker", "p:hover::before",
    "::slotted(p)", "p::part(x)", "::-webkit-scrollbar", ":-webkit-any-link", "div:-webkit-any(p)",
    ":-webkit-autofill", ":horizontal", ":window-inactive",
]  # fmt: skip


def chromium_accepts(browser, selectors: list[str]) -> dict[str, bool]:
    page = browser.new_page()
    try:
        verdicts = page.evaluate(
            """selectors => selectors.map(selector => {
                try { document.querySelector(selector); return true } catch { return false }
            })""",
            selectors,
        )
    finally:
        page.close()
    return dict(zip(selectors, verdicts, strict=True))


@pytest.mark.browser
def test_playbooks_accept_exactly_the_selectors_chromium_accepts(browser):
    chromium = chromium_accepts(browser, AGREED)
    ours = {selector: selector_problem(selector) is None for selector in AGREED}

    disagreements = {
        s: f"Chromium {chromium[s]}, ours {ours[s]}" for s in AGREED if chromium[s] != ours[s]
    }
    assert not disagreements
    assert 50 < sum(chromium.values()) < len(AGREED) - 50  # both verdicts are well tried


@pytest.mark.browser
def test_some_selectors_chromium_accepts_are_refused_on_purpose(browser):
    chromium = chromium_accepts(browser, ON_PURPOSE)

    assert all(chromium.values())
    assert all(selector_problem(selector) for selector in ON_PURPOSE)


@pytest.mark.parametrize(
    ("selector", "problem"),
    [
        ("<<<not a selector", "“<” cannot start a selector."),
        ("h1::before", "Pseudo-elements such as ::before are not elements"),
        ("#1a", "an id that starts with a digit must be escaped"),
        (".hero-title >", "Nothing follows “>”."),
        ("h1,,h2", "A selector is missing next to a comma."),
        ("a:hoverr", "“:hoverr” is not a pseudo-class playbooks can use."),
        ("svg|rect", "“svg|” names a namespace"),
        ("[data-id=5]", "value must be a word or in quotes"),
        ("li:nth-child(first)", "takes a position like 2, odd, even or 2n+1"),
    ],
)
def test_a_refused_selector_is_explained_in_plain_words(selector, problem):
    assert problem in selector_problem(selector)
