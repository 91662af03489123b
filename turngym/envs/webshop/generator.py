"""A seeded generator of WebShop catalogues: raw products, attributes and written goals.

:func:`generate_raw` yields, for each product, exactly what WebShop's three files hold for
it (see :mod:`turngym.envs.webshop.products`): the ``items_shuffle`` product dict, its
``items_ins_v2`` attributes and, for the products chosen as goal targets, an
``items_human_ins``-style instruction (text, attributes asked for, option values asked
for). The catalogue is then built from these through WebShop's own loading steps, so a
generated catalogue and a loaded real one go down the same path.

Products come from five categories (beauty, grocery, fashion, furniture, electronics) of
seven kinds each (:mod:`~turngym.envs.webshop.vocabulary`); each has a fictional brand, a
model code, 3-6 attributes of its kind, buying options and a price. A goal asks for 1-3 of
its target's attributes, most of its option values and (from WebShop's price rule) a price
ceiling. Same parameters, same catalogue, on any machine.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from turngym.envs.webshop.vocabulary import BRAND_SYLLABLES, CATEGORIES, DESCRIPTIVE_WORDS, ProductType

GENERATOR_VERSION = "webshop-gen-v1"
"""Bumped whenever the generator's output changes, so cached catalogues are rebuilt."""

_KINDS: tuple[tuple[str, ProductType], ...] = tuple(
    (category, kind) for category, kinds in CATEGORIES.items() for kind in kinds
)
_ASIN_CHARS = string.digits + string.ascii_uppercase

_FILLERS = (
    "Backed by a one year warranty from {brand}.",
    "Ships in recyclable packaging.",
    "A thoughtful gift for family and friends.",
    "Designed and tested by the {brand} team.",
    "Loved by thousands of customers.",
    "Satisfaction guaranteed or your money back.",
)
_BULLETS = (
    "{A}: made for {noun} lovers who want the details right",
    "{A} - a feature you will notice from the first day",
    "{A}, as checked by our quality team",
    "{A} for peace of mind",
)
_INSTRUCTIONS = (
    "i need {a} {attrs} {noun}{options}",
    "i'm looking for {a} {noun} that {be} {attrs}{options}",
    "find me {a} {attrs} {noun}{options}",
    "i want to buy {a} {noun} which {be} {attrs}{options}",
    "show me {a} {attrs} {noun}{options}",
    "i am searching for {a} {attrs} {noun}{options}",
)


@dataclass(frozen=True)
class RawProduct:
    """One generated product as WebShop's files would hold it."""

    item: dict[str, Any]
    """The ``items_shuffle`` product."""
    attributes: list[str]
    """Its ``items_ins_v2`` attributes."""
    instructions: list[dict[str, Any]]
    """Its ``items_human_ins`` instructions (empty unless it is a goal target)."""


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _option_phrase(name: str, value: str, rng: random.Random) -> str:
    if rng.random() < 0.4:
        return f"{name}: {value}"
    if name == "color":
        return f"in {value} color"
    if name == "size":
        return f"in size {value}"
    if name == "flavor name":
        return f"in {value} flavor"
    if name == "scent":
        return f"with {value} scent"
    return f"in the {value} {name}"


def _brands(rng: random.Random, count: int) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        parts = rng.choices(BRAND_SYLLABLES, k=rng.choice((2, 2, 3)))
        names.add("".join(parts).capitalize())
    return sorted(names)


def generate_raw(seed: int, num_products: int, num_goals: int) -> Iterator[RawProduct]:
    """Yield ``num_products`` products; ``num_goals`` of them (chosen at random) carry one instruction.

    Deterministic for ``(seed, num_products, num_goals)``.
    """
    if num_products < 1:
        raise ValueError(f"num_products must be >= 1, got {num_products}")
    if not 0 <= num_goals <= num_products:
        raise ValueError(f"num_goals must be between 0 and num_products ({num_products}), got {num_goals}")
    rng = random.Random(f"webshop-catalogue:{seed}")
    brands = _brands(rng, max(50, num_products // 25))
    targets = set(rng.sample(range(num_products), num_goals))
    asins: set[str] = set()
    for i in range(num_products):
        category, kind = _KINDS[rng.randrange(len(_KINDS))]
        asin = "B0" + "".join(rng.choices(_ASIN_CHARS, k=8))
        while asin in asins:
            asin = "B0" + "".join(rng.choices(_ASIN_CHARS, k=8))
        asins.add(asin)
        yield _product(rng, asin, category, kind, brands, with_goal=i in targets)


def _product(rng: random.Random, asin: str, category: str, kind: ProductType, brands: list[str],
             with_goal: bool) -> RawProduct:
    brand = rng.choice(brands)
    model = "".join(rng.choices(string.ascii_uppercase, k=2)) + f"-{rng.randint(100, 9999)}"
    noun = rng.choice(kind.nouns)
    attributes = rng.sample(kind.attributes, rng.randint(3, min(6, len(kind.attributes))))
    title_attrs = [a.title() for a in attributes[: rng.randint(1, 2)]]
    lead = f"{brand} {rng.choice(DESCRIPTIVE_WORDS).title()} " if rng.random() < 0.5 else f"{brand} "
    title = f"{lead}{title_attrs[0]} {noun.title()} {model}"
    if len(title_attrs) > 1:
        title += f", {title_attrs[1]}"
    options: dict[str, list[str]] = {}
    if rng.random() < 0.9:
        for name, values in kind.options.items():
            count = rng.randint(min(2, len(values)), min(6, len(values)))
            picked = set(rng.sample(range(len(values)), count))
            options[name] = [values[j] for j in sorted(picked)]
    low, high = kind.price
    price = round(rng.uniform(low, high)) - 0.01 if high > 10 else round(rng.uniform(low, high), 2)
    price = max(price, 0.99)
    if rng.random() < 0.15:
        pricing = f"${price:.2f} - ${price * rng.uniform(1.1, 1.5):.2f}"
    else:
        pricing = f"${price:.2f}"
    description = (f"{title}. This {noun} from {brand} offers {_and(attributes)}. "
                   + rng.choice(_FILLERS).format(brand=brand))
    bullets = [rng.choice(_BULLETS).format(A=a.title(), noun=noun) for a in attributes]
    item = {
        "asin": asin, "name": title, "full_description": description, "small_description": bullets,
        "pricing": pricing, "images": [], "product_category": kind.path, "query": kind.query,
        "category": category, "average_rating": "N.A.",
        "customization_options": {
            name.title(): [{"value": v.title() if name == "color" else v, "image": None} for v in values]
            for name, values in options.items()
        } or None,
    }
    instructions = [_instruction(rng, noun, attributes, options)] if with_goal else []
    return RawProduct(item, attributes, instructions)


def _instruction(rng: random.Random, noun: str, attributes: list[str],
                 options: dict[str, list[str]]) -> dict[str, Any]:
    wanted = rng.sample(attributes, rng.randint(1, min(3, len(attributes))))
    chosen = [(name, rng.choice(values)) for name, values in options.items() if rng.random() < 0.85]
    phrase = ""
    if chosen:
        phrase = ", " + " and ".join(_option_phrase(name, value, rng) for name, value in chosen)
    template = rng.choice(_INSTRUCTIONS)
    plural = noun.endswith("s") and not noun.endswith("ss")
    first = noun if template.index("{a}") + 4 == template.index("{noun}") else wanted[0]
    text = template.format(a="some" if plural else _article(first), attrs=_and(wanted), noun=noun,
                           options=phrase, be="are" if plural else "is")
    return {"instruction": text, "instruction_attributes": wanted,
            "instruction_options": [value for _, value in chosen]}
