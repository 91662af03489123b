"""A seeded generator of WebShop catalogues: raw products, attributes and written goals.

:func:`generate_raw` yields, for each product, exactly what WebShop's three files hold for
it (see :mod:`turngym.envs.webshop.products`): the ``items_shuffle`` product dict, its
``items_ins_v2`` attributes and, for the products chosen as goal targets, an
``items_human_ins``-style instruction (text, attributes asked for, option values asked
for). The catalogue is then built from these through WebShop's own loading steps, so a
generated catalogue and a loaded real one go down the same path.

Products come from five categories (beauty, grocery, fashion, furniture, electronics) of
seven kinds each (:mod:`~turngym.envs.webshop.vocabulary`); each has a fictional brand, a
model code, 3-6 attributes of its kind, buying options (2-4 values of each of its kind's
option names) and a price. A goal asks for 2-3 of its target's attributes (four times in ten
written in other words: "sulfate-free", "without sulfate"), most of its option values and
(from WebShop's price rule) a price ceiling. Up to three variants of each target follow it in
the catalogue: same brand and kind, titles naming the attributes the goal asks for, each
missing one thing the goal wants (an attribute, an option value, or the price ceiling), so
that buying the first search result is not enough. Same parameters, same catalogue, on any
machine.
"""

from __future__ import annotations

import functools
import random
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from turngym.envs.webshop.vocabulary import BRAND_SYLLABLES, CATEGORIES, DESCRIPTIVE_WORDS, ProductType

GENERATOR_VERSION = "webshop-gen-v4"
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

    After each goal target come, among the next products, up to :data:`SIBLINGS` variants of it
    (same brand and kind, near-identical titles) that each miss one thing the goal asks for:
    one of its attributes, one of its option values, or its price ceiling. Deterministic for
    ``(seed, num_products, num_goals)``.
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
    pending: list[tuple[_Spec, dict[str, Any]]] = []
    for i in range(num_products):
        asin = f"B0{rng.getrandbits(32):08X}"
        while asin in asins:
            asin = f"B0{rng.getrandbits(32):08X}"
        asins.add(asin)
        if i in targets:
            spec = _draw_spec(draw, brands)
            instruction = _instruction(draw, spec.noun, spec.attributes, spec.options)
            pending = [(spec, instruction)] * SIBLINGS
            yield _render(draw, asin, spec, [instruction])
        elif pending and draw.random() < SIBLING_SHARE:
            yield _render(draw, asin, _sibling(draw, *pending.pop()), [])
        else:
            yield _render(draw, asin, _draw_spec(draw, brands), [])


SIBLINGS = 3
"""Variants of each goal target that miss one thing the goal asks for."""
SIBLING_SHARE = 0.5
"""Chance that a product after a target (while variants are due) is one of its variants."""


@dataclass
class _Spec:
    category: str
    kind: ProductType
    brand: str
    noun: str
    attributes: list[str]
    options: dict[str, list[str]]
    low: float
    high: float
    title_first: tuple[str, ...] = ()
    """Attributes the title names (by default one or two of ``attributes``)."""


def _draw_spec(draw: _Draw, brands: list[str]) -> _Spec:
    category, kind = draw.pick(_KINDS)
    attributes = draw.sample(kind.attributes, draw.between(3, min(6, len(kind.attributes))))
    options: dict[str, list[str]] = {}
    if draw.random() < 0.9:
        for name, values in kind.options.items():
            count = draw.between(min(2, len(values)), min(4, len(values)))
            picked = set(draw.sample(range(len(values)), count))
            options[name] = [values[j] for j in sorted(picked)]
    low, high = kind.price
    price = low + draw.random() * (high - low)
    price = max(round(price) - 0.01 if high > 10 else round(price, 2), 0.99)
    top = round(price * (1.1 + 0.4 * draw.random()), 2) if draw.random() < 0.15 else price
    return _Spec(category, kind, draw.pick(brands), draw.pick(kind.nouns), attributes, options, price, top)


def _sibling(draw: _Draw, target: _Spec, instruction: dict[str, Any]) -> _Spec:
    """A variant of a goal's target that misses one thing the goal asks for."""
    attributes, options = list(target.attributes), {k: list(v) for k, v in target.options.items()}
    low, high = target.low, target.high
    wanted_options = [(name, value) for name in options for value in instruction["instruction_options"]
                      if value in options[name]]
    others = [a for a in target.kind.attributes if a not in attributes]
    misses = ["price"] + (["attribute"] if others else []) + (["option"] if wanted_options else [])
    miss = draw.pick(misses)
    if miss == "price":  # a goal's ceiling is at most 40 above the target's price: this is over it
        low = high = round(target.high + 41 + 40 * draw.random()) - 0.01
    elif miss == "attribute":
        dropped = draw.pick(instruction["instruction_attributes"])
        attributes[attributes.index(dropped)] = draw.pick(others)
    else:
        name, value = draw.pick(wanted_options)
        options[name].remove(value)
        if not options[name]:
            del options[name]
    attributes = draw.sample(attributes, len(attributes))
    # a variant's title names the attributes the goal asks for (that it has), so a search for the
    # goal ranks variants as high as the target: the agent has to check options and price
    named = [a for a in instruction["instruction_attributes"] if a in attributes]
    return _Spec(target.category, target.kind, target.brand, target.noun, attributes, options, low, high,
                 tuple(draw.sample(named, len(named))[:2]))


def _render(draw: _Draw, asin: str, spec: _Spec, instructions: list[dict[str, Any]]) -> RawProduct:
    letters = string.ascii_uppercase
    model = f"{draw.pick(letters)}{draw.pick(letters)}-{draw.between(100, 9999)}"
    brand, noun, attributes = spec.brand, spec.noun, spec.attributes
    named = spec.title_first or attributes[: draw.between(1, 2)]
    title_attrs = [_title(a) for a in named]
    lead = f"{brand} {_title(draw.pick(DESCRIPTIVE_WORDS))} " if draw.random() < 0.5 else f"{brand} "
    title = f"{lead}{title_attrs[0]} {_title(noun)} {model}"
    if len(title_attrs) > 1:
        title += f", {title_attrs[1]}"
    pricing = f"${spec.low:.2f}" if spec.high == spec.low else f"${spec.low:.2f} - ${spec.high:.2f}"
    description = (f"{title}. This {noun} from {brand} offers {_and(attributes)}. "
                   + draw.pick(_FILLERS).format(brand=brand))
    bullets = [_bullet(int(draw.random() * len(_BULLETS)), a, noun) for a in attributes]
    item = {
        "asin": asin, "name": title, "full_description": description, "small_description": bullets,
        "pricing": pricing, "images": [], "product_category": spec.kind.path, "query": spec.kind.query,
        "category": spec.category, "average_rating": "N.A.",
        "customization_options": {
            _title(name): [{"value": _title(v) if name == "color" else v, "image": None} for v in values]
            for name, values in spec.options.items()
        } or None,
    }
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


_AFTER_NOUN = {  # how a person might write an attribute after the noun ("... that is ...")
    "long lasting": "long lasting", "easy to use": "simple to use", "natural ingredients":
    "made of natural ingredients", "non slip": "slip resistant",
}
_ANYWHERE = {
    "machine wash": "machine washable", "short sleeve": "short sleeved", "long sleeve": "long sleeved",
    "lightweight": "light weight", "high quality": "good quality", "plug and play": "plug-and-play",
    "hands free": "hands-free",
}


def _phrase(attribute: str, draw: _Draw, before_noun: bool) -> str:
    """How a person might write an attribute: itself, or (four times in ten) in other words."""
    if draw.random() >= 0.4:
        return attribute
    if attribute in _ANYWHERE:
        return _ANYWHERE[attribute]
    words = attribute.split()
    if before_noun:
        if len(words) == 2 and words[1] in ("free", "friendly", "resistant", "proof"):
            return "-".join(words)                          # "sulfate-free shampoo"
        if words[0] == "non":
            return "non-" + " ".join(words[1:])             # "non-gmo coffee"
        return attribute
    if attribute in _AFTER_NOUN:
        return _AFTER_NOUN[attribute]
    if len(words) == 2 and words[1] == "free":
        return f"without {words[0]}"                        # "shampoo that is without sulfate"
    if len(words) == 2 and words[1] == "resistant":
        return f"resistant to {words[0]}"
    if len(words) == 2 and words[0] == "easy":
        return f"easy to {words[1]}"
    return attribute


def _instruction(draw: _Draw, noun: str, attributes: list[str],
                 options: dict[str, list[str]]) -> dict[str, Any]:
    wanted = draw.sample(attributes, draw.between(min(2, len(attributes)), min(3, len(attributes))))
    chosen = [(name, draw.pick(values)) for name, values in options.items() if draw.random() < 0.85]
    phrase = ""
    if chosen:
        phrase = ", " + " and ".join(_option_phrase(name, value, draw) for name, value in chosen)
    template = draw.pick(_INSTRUCTIONS)
    plural = noun.endswith("s") and not noun.endswith("ss")
    before = template.index("{attrs}") < template.index("{noun}")
    written = [_phrase(a, draw, before) for a in wanted]
    first = noun if template.index("{a}") + 4 == template.index("{noun}") else written[0]
    text = template.format(a="some" if plural else _article(first), attrs=_and(written), noun=noun,
                           options=phrase, be="are" if plural else "is")
    return {"instruction": text, "instruction_attributes": wanted,
            "instruction_options": [value for _, value in chosen]}
