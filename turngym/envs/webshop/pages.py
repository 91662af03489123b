"""WebShop's pages: what each shows, what is clickable, and three renderings of it.

A page is a list of :class:`Element` (text, buttons, product links, option radio buttons,
the search box) in WebShop's template order (``web_agent_site/templates``). From it:

- :func:`render_text` is WebShop's ``text`` observation: the visible strings joined by
  ``" [SEP] "`` (e.g. ``"WebShop [SEP] Instruction: [SEP] i need ... [SEP] Search"``);
- :func:`render_text_rich` is its ``text_rich`` observation: one string a line, buttons as
  ``[button] x [button_]``, chosen options and visited products as ``[clicked button] x
  [clicked button_]`` and a ``You have clicked x.`` line first for each chosen option;
- :func:`render_html` is a whole self-contained page (inline style, no network) that a person
  can open in a browser; its visible text is exactly the ``text`` rendering;
- :func:`clickables` is WebShop's ``get_available_actions``: ``has_search_bar`` and the
  lower-cased texts of buttons and product links plus the values of option radio buttons.

Pages (``PageState.kind``): ``search``, ``results`` (ten products a page, ``< Prev`` from
page 2, ``Next >`` always, as WebShop), ``item`` (options, Description, Features, Reviews,
[Attributes], Buy Now), ``sub`` (an item's Description/Features/Reviews/Attributes) and
``done``. WebShop's done page also carries an MTurk code and a hidden debugging block; here
it shows the thanks and the score.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from turngym.envs.webshop.products import Product

PRODUCT_WINDOW = 10
"""Products per results page (WebShop's ``PRODUCT_WINDOW``)."""

BUY_NOW, NEXT_PAGE, PREV_PAGE, BACK_TO_SEARCH = "Buy Now", "Next >", "< Prev", "Back to Search"
SUB_PAGES: tuple[str, ...] = ("Description", "Features", "Reviews", "Attributes")


@dataclass(frozen=True)
class Element:
    """One piece of a page: ``kind`` is ``text``, ``button``, ``link``, ``option`` or ``input``.

    ``tag`` is the HTML element a ``text`` is shown in; an ``option``'s ``group`` is its option
    name and ``checked`` says it is chosen; a ``link``'s ``checked`` says it was visited.
    """

    kind: str
    text: str
    tag: str = "p"
    group: str = ""
    checked: bool = False


@dataclass
class PageState:
    """Where the shopper is: the page and what it shows (plain data; see :meth:`to_dict`)."""

    kind: str = "search"
    keywords: str = ""
    page: int = 1
    results: list[str] = field(default_factory=list)
    asin: str = ""
    options: dict[str, str] = field(default_factory=dict)
    sub: str = ""
    visited: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (inverse of :meth:`from_dict`)."""
        return {"kind": self.kind, "keywords": self.keywords, "page": self.page,
                "results": list(self.results), "asin": self.asin, "options": dict(self.options),
                "sub": self.sub, "visited": list(self.visited)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PageState:
        """Rebuild from :meth:`to_dict`'s output."""
        return cls(**{**data, "results": list(data["results"]), "options": dict(data["options"]),
                      "visited": list(data["visited"])})

    def page_asins(self) -> list[str]:
        """The products on the current results page."""
        start = (self.page - 1) * PRODUCT_WINDOW
        return self.results[start:start + PRODUCT_WINDOW]


def _instruction(instruction: str) -> list[Element]:
    return [Element("text", "Instruction:", "h4"), Element("text", instruction, "h4")]


def search_page(instruction: str) -> list[Element]:
    """The start page: the instruction and a search box."""
    return [Element("text", "WebShop", "h2"), *_instruction(instruction), Element("input", ""),
            Element("button", "Search")]


def results_page(instruction: str, state: PageState, listings: Sequence[tuple[str, str, str]]
                 ) -> list[Element]:
    """A page of search results: ``listings`` are this page's ``(asin, title, price tag)``."""
    elements = [*_instruction(instruction), Element("button", BACK_TO_SEARCH),
                Element("text", f"Page {state.page} (Total results: {len(state.results)})", "h3")]
    if state.page > 1:
        elements.append(Element("button", PREV_PAGE))
    elements.append(Element("button", NEXT_PAGE))
    visited = set(state.visited)
    for asin, title, price_tag in listings:
        elements += [Element("link", asin, checked=asin in visited), Element("text", title, "h4"),
                     Element("text", price_tag, "h5")]
    return elements


def item_page(instruction: str, state: PageState, product: Product, show_attrs: bool) -> list[Element]:
    """A product's page: its options, title, price, rating, sub-page buttons and Buy Now."""
    elements = [*_instruction(instruction), Element("button", BACK_TO_SEARCH), Element("button", PREV_PAGE)]
    chosen = set(state.options.values())
    for name, values in product.options.items():
        elements.append(Element("text", name, "h4"))
        elements += [Element("option", value, group=name, checked=value in chosen) for value in values]
    elements += [Element("text", product.title, "h2"), Element("text", f"Price: {product.price_tag}", "h4"),
                 Element("text", f"Rating: {product.rating}", "h4")]
    elements += [Element("button", name) for name in SUB_PAGES[: 4 if show_attrs else 3]]
    elements.append(Element("button", BUY_NOW))
    return elements


def sub_page(instruction: str, state: PageState, product: Product) -> list[Element]:
    """An item's Description, Features, Reviews or Attributes page."""
    elements = [*_instruction(instruction), Element("button", BACK_TO_SEARCH), Element("button", PREV_PAGE)]
    if state.sub == "Description":
        elements.append(Element("text", product.description))
    elif state.sub == "Features":
        elements += [Element("text", b, "li") for b in product.bullet_points]
    elif state.sub == "Reviews":
        for review in product.reviews:
            elements += [Element("text", f'"{review.get("title", "")}"', "h4"),
                         Element("text", str(review.get("score", "")), "span"),
                         Element("text", str(review.get("body", "")))]
    else:
        elements += [Element("text", a, "li") for a in product.attributes]
        elements += [Element("text", product.category, "h5"), Element("text", product.query, "h5"),
                     Element("text", product.product_category, "h5")]
    return [e for e in elements if e.kind != "text" or e.text.strip()]


def done_page(reward: float) -> list[Element]:
    """The page after Buy Now."""
    return [Element("text", "Thank you for shopping with us!", "h1"),
            Element("text", "Your score (min 0.0, max 1.0)", "h3"), Element("text", f"{reward}", "pre")]


# ----- renderings ----------------------------------------------------------------------


def render_text(elements: Sequence[Element]) -> str:
    """WebShop's ``text`` observation (see the module docstring)."""
    texts = (e.text.strip() for e in elements)
    return " [SEP] ".join(t for t in texts if t)


def render_text_rich(elements: Sequence[Element]) -> str:
    """WebShop's ``text_rich`` observation (see the module docstring)."""
    lines: list[str] = []
    clicked: list[str] = []
    for e in elements:
        text = e.text
        if not text.strip():
            continue
        if e.kind == "button":
            lines.append(f"[button] {text} [button_]")
        elif e.kind == "option":
            if e.checked:
                lines.append(f"  [clicked button] {text} [clicked button_]")
                clicked.append(f"You have clicked {text}.\n")
            else:
                lines.append(f"  [button] {text} [button_]")
        elif e.kind == "link":
            mark = "clicked button" if e.checked else "button"
            lines.append(f"\n[{mark}] {text} [{mark}_]")
        else:
            lines.append(text)
    return "".join(reversed(clicked)) + "".join(line + "\n" for line in lines)


def clickables(elements: Sequence[Element]) -> dict[str, Any]:
    """WebShop's ``get_available_actions``: ``{"has_search_bar": bool, "clickables": [...]}``.

    In WebShop's order: buttons and product links (lower-cased), then option values.
    """
    names: dict[str, None] = {}
    for e in elements:
        if e.kind in ("button", "link"):
            names[e.text.lower()] = None
    for e in elements:
        if e.kind == "option":
            names[e.text] = None
    return {"has_search_bar": any(e.kind == "input" for e in elements), "clickables": list(names)}


_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; background: #f4f5f7;
       margin: 0; color: #222; }
main { max-width: 860px; margin: 24px auto; background: #fff; padding: 20px 28px; border-radius: 8px;
       box-shadow: 0 1px 4px rgba(0,0,0,.12); }
#instruction-text { background: #eef4ff; border-left: 4px solid #3b6fd8; padding: 8px 12px; }
#instruction-text h4 { margin: 4px 0; font-weight: normal; }
.btn { display: inline-block; margin: 6px 6px 6px 0; padding: 6px 14px; border: 1px solid #3b6fd8;
       border-radius: 4px; background: #3b6fd8; color: #fff; cursor: pointer; font-size: 14px; }
.btn.purchase { background: #f0a400; border-color: #d48f00; color: #111; font-weight: bold; }
.product { border-top: 1px solid #ddd; padding: 8px 0; }
.product-link { font-family: monospace; font-weight: bold; color: #3b6fd8; }
.product-link.visited { color: #7a3bd8; }
.radio-toolbar label { display: inline-block; margin: 3px; padding: 4px 10px; border: 1px solid #999;
       border-radius: 4px; }
.radio-toolbar input { display: none; }
.radio-toolbar input:checked + label { background: #3b6fd8; color: #fff; border-color: #3b6fd8; }
#search_input { width: 70%; padding: 6px; font-size: 15px; }
"""


def render_html(elements: Sequence[Element], title: str = "WebShop") -> str:
    """A self-contained HTML page of these elements; its visible text is :func:`render_text`'s."""
    esc = html.escape
    body: list[str] = []
    group = None
    skip = False
    for i, e in enumerate(elements):
        if skip:
            skip = False
            continue
        if e.kind != "option" and group is not None:
            body.append("</div>")
            group = None
        if e.kind == "text" and e.text == "Instruction:" and i + 1 < len(elements):
            text = esc(elements[i + 1].text)
            body.append(f'<div id="instruction-text"><h4>Instruction:<br>{text}</h4></div>')
            skip = True
            continue
        if e.kind == "text":
            body.append(f"<{e.tag}>{esc(e.text)}</{e.tag}>")
        elif e.kind == "input":
            body.append('<input id="search_input" type="text" name="search_query" placeholder="Search...">')
        elif e.kind == "button":
            cls = "btn purchase" if e.text == BUY_NOW else "btn"
            body.append(f'<button class="{cls}" type="button" title="click[{esc(e.text)}]">'
                        f'{esc(e.text)}</button>')
        elif e.kind == "link":
            cls = "product-link visited" if e.checked else "product-link"
            body.append(f'<div class="product"><a class="{cls}" href="#{esc(e.text)}" '
                        f'title="click[{esc(e.text)}]">{esc(e.text)}</a></div>')
        elif e.kind == "option":
            if group != e.group:
                if group is not None:
                    body.append("</div>")
                body.append(f'<div class="radio-toolbar" data-option="{esc(e.group)}">')
                group = e.group
            ident = f"radio_{i}"
            checked = " checked" if e.checked else ""
            body.append(f'<input type="radio" id="{ident}" name="{esc(e.group)}" '
                        f'value="{esc(e.text)}"{checked}><label for="{ident}" '
                        f'title="click[{esc(e.text)}]">{esc(e.text)}</label>')
    if group is not None:
        body.append("</div>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{esc(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(body) + "\n</main>\n</body>\n</html>\n")
