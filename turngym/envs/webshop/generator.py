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

import functools
import random
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from turngym.envs.webshop.vocabulary import BRAND_SYLLABLES, CATEGORIES, DESCRIPTIVE_WORDS, ProductType

GENERATOR_VERSION = "webshop-gen-v3"
"""Bumped whenever the generator's output changes, so cached catalogues are rebuilt."""

T = TypeVar("T")

_KINDS: tuple[tuple[str, ProductType], ...] = tuple(
    (category, kind) for category, kinds in CATEGORIES.items() for kind in kinds
)

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


def _brands(rng: random.Random, count: int) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        parts = rng.choices(BRAND_SYLLABLES, k=rng.choice((2, 2, 3)))
        names.add("".join(parts).capitalize())
    return sorted(names)


class _Draw:
    """Fast draws from one ``random.Random`` (``random()`` is a C call; ``choice``/``sample`` are not)."""

    def __init__(self, rng: random.Random) -> None:
        self.random = rng.random

    def pick(self, seq: Sequence[T]) -> T:
        return seq[int(self.random() * len(seq))]

    def between(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low + 1))

    def sample(self, seq: Sequence[T], k: int) -> list[T]:
        pool = list(seq)
        n = len(pool)
        for i in range(k):
            j = i + int(self.random() * (n - i))
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]


@functools.cache
def _title(text: str) -> str:
    return text.title()


@functools.lru_cache(maxsize=65536)
def _bullet(template: int, attribute: str, noun: str) -> str:
    return _BULLETS[template].format(A=_title(attribute), noun=noun)


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
    draw = _Draw(rng)
    asins: set[str] = set()
    for i in range(num_products):
        category, kind = draw.pick(_KINDS)
        asin = f"B0{rng.getrandbits(32):08X}"
        while asin in asins:
            asin = f"B0{rng.getrandbits(32):08X}"
        asins.add(asin)
        yield _product(draw, asin, category, kind, brands, with_goal=i in targets)


def _product(draw: _Draw, asin: str, category: str, kind: ProductType, brands: list[str],
             with_goal: bool) -> RawProduct:
    brand = draw.pick(brands)
    letters = string.ascii_uppercase
    model = f"{draw.pick(letters)}{draw.pick(letters)}-{draw.between(100, 9999)}"
    noun = draw.pick(kind.nouns)
    attributes = draw.sample(kind.attributes, draw.between(3, min(6, len(kind.attributes))))
    title_attrs = [_title(a) for a in attributes[: draw.between(1, 2)]]
    lead = f"{brand} {_title(draw.pick(DESCRIPTIVE_WORDS))} " if draw.random() < 0.5 else f"{brand} "
    title = f"{lead}{title_attrs[0]} {_title(noun)} {model}"
    if len(title_attrs) > 1:
        title += f", {title_attrs[1]}"
    options: dict[str, list[str]] = {}
    if draw.random() < 0.9:
        for name, values in kind.options.items():
            count = draw.between(min(2, len(values)), min(6, len(values)))
            picked = set(draw.sample(range(len(values)), count))
            options[name] = [values[j] for j in sorted(picked)]
    low, high = kind.price
    price = low + draw.random() * (high - low)
    price = max(round(price) - 0.01 if high > 10 else round(price, 2), 0.99)
    if draw.random() < 0.15:
        pricing = f"${price:.2f} - ${price * (1.1 + 0.4 * draw.random()):.2f}"
    else:
        pricing = f"${price:.2f}"
    description = (f"{title}. This {noun} from {brand} offers {_and(attributes)}. "
                   + draw.pick(_FILLERS).format(brand=brand))
    bullets = [_bullet(int(draw.random() * len(_BULLETS)), a, noun) for a in attributes]
    item = {
        "asin": asin, "name": title, "full_description": description, "small_description": bullets,
        "pricing": pricing, "images": [], "product_category": kind.path, "query": kind.query,
        "category": category, "average_rating": "N.A.",
        "customization_options": {
            _title(name): [{"value": _title(v) if name == "color" else v, "image": None} for v in values]
            for name, values in options.items()
        } or None,
    }
    instructions = [_instruction(draw, noun, attributes, options)] if with_goal else []
    return RawProduct(item, attributes, instructions)


def _option_phrase(name: str, value: str, draw: _Draw) -> str:
    if draw.random() < 0.4:
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


def _instruction(draw: _Draw, noun: str, attributes: list[str],
                 options: dict[str, list[str]]) -> dict[str, Any]:
    wanted = draw.sample(attributes, draw.between(1, min(3, len(attributes))))
    chosen = [(name, draw.pick(values)) for name, values in options.items() if draw.random() < 0.85]
    phrase = ""
    if chosen:
        phrase = ", " + " and ".join(_option_phrase(name, value, draw) for name, value in chosen)
    template = draw.pick(_INSTRUCTIONS)
    plural = noun.endswith("s") and not noun.endswith("ss")
    first = noun if template.index("{a}") + 4 == template.index("{noun}") else wanted[0]
    text = template.format(a="some" if plural else _article(first), attrs=_and(wanted), noun=noun,
                           options=phrase, be="are" if plural else "is")
    return {"instruction": text, "instruction_attributes": wanted,
            "instruction_options": [value for _, value in chosen]}
