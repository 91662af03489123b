"""Products and goals in WebShop's schema, and WebShop's own steps from raw files to both.

WebShop's raw catalogue has three files:

- ``items_shuffle*.json``: a JSON list of scraped products with ``asin``, ``name``,
  ``full_description``, ``small_description`` (bullet points), ``pricing`` (``"$12.99"`` or
  ``"$12.99 - $15.99"``), ``customization_options`` (option name -> list of
  ``{"value": ..., "image": ...}``), ``images``, ``product_category``, ``query`` and ``category``;
- ``items_ins_v2*.json``: asin -> ``{"attributes": [...], "instruction": ...,
  "instruction_attributes": [...]}``;
- ``items_human_ins.json``: asin -> a list of ``{"instruction": ..., "instruction_attributes":
  [...], "instruction_options": [...]}`` written by people: WebShop's goals.

:func:`process_product` is WebShop's ``load_products`` for one product (``engine.py``):
option names and values lower-cased with ``/`` written ``" | "``, the price tag and price
range parsed from ``pricing``, ``Attributes`` from the attributes file (``["DUMMY_ATTR"]``
when missing), reviews empty and rating ``"N.A."`` as WebShop serves them.
:func:`sample_price` is its ``generate_product_prices`` and :func:`human_goals` its
``get_human_goals`` (``goal.py``), with the price ceiling drawn from a seeded generator.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

PRICE_RANGE: tuple[float, ...] = tuple(10.0 * i for i in range(1, 100))
"""WebShop's price ceilings: the multiples of ten from 10 to 990."""

_NOT_PRICE = re.compile(r"[^\d.]")

NO_CEILING = 1_000_000.0
"""WebShop's ``price_upper`` when the price is too high for a ceiling from :data:`PRICE_RANGE`."""

GOAL_SHUFFLE_SEED = 233
"""WebShop shuffles its goals with ``random.seed(233)``; its splits index that order."""


class CatalogueError(ValueError):
    """A product, goal or file that does not fit WebShop's schema; the message says where and why."""


@dataclass
class Product:
    """A product as WebShop's server holds it (the field in WebShop's dict in brackets).

    ``title`` (``Title``/``name``), ``description`` (``Description``), ``bullet_points``
    (``BulletPoints``), ``price_tag`` (``Price``: the text shown), ``pricing`` (the parsed
    price or price range), ``price`` (the one price a purchase is charged: WebShop's
    ``product_prices[asin]``), ``options`` (option name -> values), ``attributes``
    (``Attributes``), ``category``, ``query``, ``product_category``, ``main_image``
    (``MainImage``), ``rating`` (``Rating``) and ``reviews`` (``Reviews``).
    """

    asin: str
    title: str
    category: str
    query: str
    product_category: str
    description: str
    bullet_points: list[str]
    price_tag: str
    pricing: list[float]
    price: float
    options: dict[str, list[str]]
    attributes: list[str]
    main_image: str = ""
    rating: str = "N.A."
    reviews: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (inverse of :meth:`from_dict`)."""
        return {
            "asin": self.asin, "title": self.title, "category": self.category, "query": self.query,
            "product_category": self.product_category, "description": self.description,
            "bullet_points": self.bullet_points, "price_tag": self.price_tag, "pricing": self.pricing,
            "price": self.price, "options": self.options, "attributes": self.attributes,
            "main_image": self.main_image, "rating": self.rating, "reviews": self.reviews,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Product:
        """Rebuild from :meth:`to_dict`'s output."""
        return cls(**data)

    def search_text(self) -> str:
        """What the search engine indexes besides the title: category, query and attributes."""
        return " ".join((self.category, self.query, " ".join(self.attributes)))


@dataclass(frozen=True)
class Goal:
    """One shopping goal in WebShop's form (``get_human_goals``' dict).

    ``asin`` is the target product; ``category``, ``query``, ``name`` (its title) and
    ``product_category`` are the target's, used by the type reward; ``attributes`` and
    ``goal_options`` (option values) are what the instruction asks for; ``price_upper`` is
    the price ceiling (:data:`NO_CEILING` when none was stated).
    """

    asin: str
    category: str
    query: str
    name: str
    product_category: str
    instruction_text: str
    attributes: tuple[str, ...]
    goal_options: tuple[str, ...]
    price_upper: float

    def __post_init__(self) -> None:
        if not self.attributes:
            raise CatalogueError(f"goal for {self.asin!r} has no attributes; WebShop skips such goals")
        if not self.price_upper > 0:
            raise CatalogueError(f"goal for {self.asin!r} has price_upper {self.price_upper!r}; must be > 0")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (inverse of :meth:`from_dict`)."""
        return {
            "asin": self.asin, "category": self.category, "query": self.query, "name": self.name,
            "product_category": self.product_category, "instruction_text": self.instruction_text,
            "attributes": list(self.attributes), "goal_options": list(self.goal_options),
            "price_upper": self.price_upper,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Goal:
        """Rebuild from :meth:`to_dict`'s output."""
        return cls(**{**data, "attributes": tuple(data["attributes"]),
                      "goal_options": tuple(data["goal_options"])})


RAW_PRODUCT_FIELDS: tuple[str, ...] = (
    "asin", "name", "full_description", "small_description", "pricing", "customization_options",
    "images", "product_category", "query", "category",
)
"""The fields of an ``items_shuffle`` product that WebShop's loader reads."""


def parse_pricing(pricing: Any, where: str = "product") -> tuple[list[float], str]:
    """WebShop's price parsing: ``"$12.99"`` -> ``([12.99], "$12.99")``; a range keeps its first two.

    Empty or missing pricing is ``([100.0], "$100.0")`` as in WebShop.
    """
    if pricing is None or not pricing:
        return [100.0], "$100.0"
    if not isinstance(pricing, str):
        raise CatalogueError(f"{where}: pricing must be text such as '$12.99', got {type(pricing).__name__}")
    values = []
    for part in pricing.split("$")[1:]:
        digits = _NOT_PRICE.sub("", part)
        try:
            values.append(float(Decimal(digits)))
        except InvalidOperation:
            raise CatalogueError(f"{where}: cannot read a price from pricing {pricing!r}") from None
    if not values:
        raise CatalogueError(f"{where}: pricing {pricing!r} has no '$' amount")
    if len(values) == 1:
        return values, f"${values[0]}"
    return values[:2], f"${values[0]} to ${values[1]}"


def sample_price(pricing: Sequence[float], rng: random.Random) -> float:
    """WebShop's ``generate_product_prices``: the price, or a uniform draw within a range."""
    if not pricing:
        return 100.0
    if len(pricing) == 1:
        return float(pricing[0])
    return rng.uniform(pricing[0], pricing[1])


def process_product(raw: Mapping[str, Any], attributes: Sequence[str] | None, price: float | None = None,
                    rng: random.Random | None = None) -> Product:
    """One ``items_shuffle`` product as WebShop's ``load_products`` makes it (module docstring).

    ``attributes``: its ``items_ins_v2`` attributes (``None``: ``["DUMMY_ATTR"]``). ``price``:
    the price charged, else drawn by :func:`sample_price` from ``rng``.
    """
    asin = raw.get("asin")
    where = f"product {asin!r}"
    missing = [name for name in RAW_PRODUCT_FIELDS if name not in raw]
    if missing:
        raise CatalogueError(f"{where} lacks field(s) {missing}; an items_shuffle product needs "
                             f"{list(RAW_PRODUCT_FIELDS)}")
    for name in ("name", "product_category", "query", "category"):
        if not isinstance(raw[name], str):
            raise CatalogueError(f"{where}: {name} must be text, got {type(raw[name]).__name__}")
    small = raw["small_description"]
    bullets = [str(b) for b in small] if isinstance(small, list) else [str(small)]
    pricing, price_tag = parse_pricing(raw["pricing"], where)
    options: dict[str, list[str]] = {}
    custom = raw["customization_options"]
    if custom:
        if not isinstance(custom, dict):
            raise CatalogueError(f"{where}: customization_options must be an object of option name -> "
                                 f"list of {{'value': ...}}, got {type(custom).__name__}")
        for option_name, contents in custom.items():
            if contents is None:
                continue
            if not isinstance(contents, list) or not all(isinstance(c, dict) and "value" in c
                                                         for c in contents):
                raise CatalogueError(f"{where}: option {option_name!r} must be a list of "
                                     f"{{'value': ...}} objects")
            options[str(option_name).lower()] = [
                str(c["value"]).strip().replace("/", " | ").lower() for c in contents
            ]
    images = raw["images"]
    main_image = str(images[0]) if isinstance(images, list) and images else ""
    if price is None:
        price = sample_price(pricing, rng or random.Random(0))
    return Product(
        asin=str(asin), title=raw["name"], category=raw["category"], query=raw["query"].lower().strip(),
        product_category=raw["product_category"], description=str(raw["full_description"] or ""),
        bullet_points=bullets, price_tag=price_tag, pricing=pricing, price=float(price), options=options,
        attributes=list(attributes) if attributes is not None else ["DUMMY_ATTR"], main_image=main_image,
    )


def price_ceiling(price: float, rng: random.Random) -> tuple[float, str]:
    """WebShop's goal price ceiling and its instruction suffix.

    Of the first four multiples of ten above the price, two are drawn and the larger kept;
    with fewer than two (prices over 970) there is no ceiling (:data:`NO_CEILING`, no text).
    """
    above = [p for p in PRICE_RANGE if p > price][:4]
    if len(above) >= 2:
        _, upper = sorted(rng.sample(above, 2))
        return upper, f", and price lower than {upper:.2f} dollars"
    return NO_CEILING, ""


def human_goals(products: Iterable[Product], instructions: Mapping[str, Sequence[Mapping[str, Any]]],
                rng: random.Random) -> list[Goal]:
    """WebShop's ``get_human_goals``: one goal per written instruction, in product order.

    Instructions without attributes are skipped, as WebShop does. The order is *not* shuffled
    here: see :func:`shuffle_goals`.
    """
    goals = []
    for product in products:
        for k, ins in enumerate(instructions.get(product.asin, ())):
            where = f"instruction {k} of {product.asin!r}"
            if not isinstance(ins, Mapping) or "instruction" not in ins:
                raise CatalogueError(f"{where} must be an object with 'instruction', "
                                     "'instruction_attributes' and 'instruction_options'")
            attributes = ins.get("instruction_attributes") or []
            if not attributes:
                continue
            upper, price_text = price_ceiling(product.price, rng)
            options = ins.get("instruction_options") or []
            if isinstance(options, Mapping):
                options = list(options.values())
            goals.append(Goal(
                asin=product.asin, category=product.category, query=product.query, name=product.title,
                product_category=product.product_category,
                instruction_text=str(ins["instruction"]).strip(".") + price_text,
                attributes=tuple(str(a) for a in attributes), goal_options=tuple(str(o) for o in options),
                price_upper=upper,
            ))
    return goals


def shuffle_goals(goals: list[Goal], seed: int = GOAL_SHUFFLE_SEED) -> list[Goal]:
    """WebShop's goal order: ``random.seed(233); random.shuffle(goals)`` (splits index this order)."""
    shuffled = list(goals)
    random.Random(seed).shuffle(shuffled)
    return shuffled


SPLITS: dict[str, tuple[int, int | None]] = {"test": (0, 500), "eval": (500, 1500), "train": (1500, None)}
"""WebShop's goal splits (``baseline_models/env.py``): 0-499 test, 500-1,499 eval, the rest train."""


def split_range(split: str, num_goals: int) -> range:
    """The goal indices of ``split`` (``"test"``, ``"eval"``, ``"train"`` or ``"all"``)."""
    if split == "all":
        return range(num_goals)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; accepted: {', '.join([*SPLITS, 'all'])}")
    start, end = SPLITS[split]
    return range(min(start, num_goals), num_goals if end is None else min(end, num_goals))
