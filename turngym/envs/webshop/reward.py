"""WebShop's purchase reward, term by term (``web_agent_site/engine/goal.py``: ``get_reward``).

For a purchased product, the price paid and the options chosen, against a :class:`Goal`::

    reward = (matched attributes + matched options + [price <= price_upper])
             / (len(goal attributes) + len(goal options) + 1)
             * r_type

Its components, as WebShop defines them:

- **attributes** (``get_attribute_reward``): a goal attribute matches when its fuzzy
  token-set similarity with one of the product's ``Attributes`` is above 85, or else when it
  is a substring of the lower-cased title, bullet points (joined by spaces) or description.
  ``r_att`` = matches / goal attributes.
- **options** (``get_option_reward``): each goal option and each chosen option value is
  first reduced by ``normalize_color`` (the first of WebShop's colour words it contains,
  else itself); a goal option matches when some chosen value's token-set similarity with it
  is above 85. ``r_option`` = matches / goal options (``None`` when the goal has none).
- **price** (``r_price``): the price charged is at most ``price_upper``.
- **type** (``get_type_reward``): ``query_match`` (same WebShop ``query``),
  ``category_match`` (at least two ``›``-separated ``product_category`` levels shared) and
  ``title_score`` (the share of the goal title's nouns found among the purchased title's).
  ``r_type`` = 1, lowered to 0.5 when none of query match, category match or
  ``title_score > 0.2`` holds, to 0.1 when ``title_score < 0.1`` and to 0 when it is 0;
  ``title_score`` is 0.2 when the goal title has no nouns.

Two replacements, both documented where they are:

- The token-set similarity is thefuzz's ``token_set_ratio`` (strings forced to ASCII,
  lower-cased, non-alphanumerics turned to spaces, score rounded to an integer) computed with
  rapidfuzz: the same numbers as thefuzz >= 0.20, which is built on rapidfuzz. WebShop pins
  thefuzz 0.19, the older implementation (python-Levenshtein's ratio when installed, else
  difflib's). Checked against thefuzz 0.19.0 on all 254,016 ordered pairs of the generator's
  attributes, option values and nouns: identical scores with python-Levenshtein; with difflib
  (WebShop's requirements do not list python-Levenshtein) a fifth of the scores differ, all
  far below the threshold, and no ``> 85`` decision differs.
- WebShop finds a title's nouns with spaCy's ``en_core_web_sm`` tagger (tokens tagged
  ``NOUN``/``PROPN``). turngym does without spaCy: :func:`title_nouns` keeps the title's
  lower-cased alphabetic words of two or more letters that are not English function words or
  basic colour words. Product titles are strings of nouns and proper nouns to spaCy (it tags
  "Fast Charging Battery Pack, Compact Size" all NOUN/PROPN), so the two agree: on 4,370
  (purchased, goal) pairs from the 100,000-product catalogue's test goals and their search
  results, this gives the same ``r_type`` as spaCy 3.8's ``en_core_web_sm`` 99.9% of the time
  (a list of descriptive adjectives to drop as well did worse: 99.5%).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

from turngym.envs.webshop.products import Goal, Product

MATCH_THRESHOLD = 85
"""A fuzzy match needs a token-set similarity strictly above this (WebShop's ``score > 85``)."""

COLOR_SET: tuple[str, ...] = (
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure", "banana", "beige", "black", "blue",
    "blush", "bordeaux", "bronze", "brown", "burgundy", "camel", "camo", "caramel", "champagne",
    "charcoal", "cheetah", "chestnut", "chocolate", "christmas", "coffee", "cognac", "copper", "coral",
    "cranberry", "cream", "crystal", "dark", "denim", "eggplant", "elephant", "espresso", "fuchsia",
    "gold", "granite", "grape", "graphite", "grass", "gray", "green", "grey", "heather", "indigo",
    "ivory", "ivy", "khaki", "lavender", "lemon", "leopard", "light", "lilac", "lime", "magenta",
    "maroon", "mauve", "merlot", "midnight", "mint", "mocha", "multicolor", "mushroom", "mustard",
    "natural", "navy", "nude", "olive", "orange", "peach", "pewter", "pink", "plum", "purple", "rainbow",
    "red", "rose", "royal", "rust", "sand", "sapphire", "seashell", "silver", "skull", "slate", "steel",
    "stone", "stonewash", "sunflower", "tan", "taupe", "teal", "tiger", "turquoise", "violet", "walnut",
    "wheat", "white", "wine", "yellow",
)
"""WebShop's colour words (``normalize.py``), in its order: the first contained one wins."""

_ASCII_ONLY = {i: None for i in range(128, 256)}


@functools.lru_cache(maxsize=65536)
def normalize_color(text: str) -> str:
    """WebShop's ``normalize_color``: the first colour word ``text`` contains, else ``text``."""
    for color in COLOR_SET:
        if color in text:
            return color
    return text


@functools.lru_cache(maxsize=262144)
def token_set_score(a: str, b: str) -> int:
    """thefuzz's ``token_set_ratio(a, b)`` (0-100, an integer), computed with rapidfuzz."""
    a = default_process(str(a).translate(_ASCII_ONLY))
    b = default_process(str(b).translate(_ASCII_ONLY))
    return round(fuzz.token_set_ratio(a, b))


_FUNCTION_WORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing down during each either few for from further had has
have having he her here hers him his how i if in into is it its itself just me more most my neither no
nor not of off on once only or other our ours out over own per plus same she should so some such than
that the their theirs them then there these they this those through to too under until up upon us very
via was we were what when where which while who whom why will with within without would you your yours
""".split())

_COLOR_WORDS = frozenset("""
black white red blue green grey gray pink brown beige navy purple yellow orange silver khaki burgundy
olive teal maroon ivory
""".split())

_WORD = re.compile(r"[a-z]+")


@functools.lru_cache(maxsize=65536)
def title_nouns(title: str) -> tuple[str, ...]:
    """The nouns of a product title, without spaCy (see the module docstring).

    Lower-cased alphabetic words of two or more letters, in order, without English function
    words and basic colour words.
    """
    words = _WORD.findall(title.lower())
    return tuple(w for w in words if len(w) > 1 and w not in _FUNCTION_WORDS and w not in _COLOR_WORDS)


@dataclass(frozen=True)
class TypeReward:
    """``get_type_reward``'s result."""

    r_type: float
    query_match: bool
    category_match: bool
    title_score: float


def type_reward(product: Product, goal: Goal) -> TypeReward:
    """Whether the purchase is the goal's kind of product (WebShop's ``get_type_reward``)."""
    query_match = product.query == goal.query
    bought = {x.strip() for x in product.product_category.split("›")}
    wanted = {x.strip() for x in goal.product_category.split("›")}
    category_match = len(bought & wanted) >= 2
    desired = title_nouns(goal.name)
    purchased = set(title_nouns(product.title))
    title_score = 0.2 if not desired else len(purchased & set(desired)) / len(desired)
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return TypeReward(r_type, query_match, category_match, title_score)


def attribute_reward(product: Product, goal_attributes: Sequence[str]) -> tuple[float, int]:
    """``(r_att, matches)``: WebShop's ``get_attribute_reward`` (module docstring)."""
    matches = 0
    title = product.title.lower()
    bullets = " ".join(product.bullet_points).lower()
    description = product.description.lower()
    for wanted in goal_attributes:
        if any(token_set_score(have, wanted) > MATCH_THRESHOLD for have in product.attributes):
            matches += 1
        elif wanted in title or wanted in bullets or wanted in description:
            matches += 1
    return matches / len(goal_attributes), matches


def option_reward(chosen: Iterable[str], goal_options: Sequence[str]) -> tuple[float | None, int]:
    """``(r_option, matches)``: WebShop's ``get_option_reward`` (``r_option`` is ``None`` without goal
    options)."""
    chosen_norm = [normalize_color(o) for o in chosen]
    matches = 0
    for wanted in (normalize_color(o) for o in goal_options):
        if any(token_set_score(have, wanted) > MATCH_THRESHOLD for have in chosen_norm):
            matches += 1
    return (matches / len(goal_options) if goal_options else None), matches


@dataclass(frozen=True)
class Reward:
    """A purchase's reward and every component of it (WebShop's ``get_reward(..., verbose=True)``)."""

    total: float
    r_type: float
    r_att: float
    r_option: float | None
    r_price: bool
    query_match: bool
    category_match: bool
    title_score: float
    attribute_matches: int
    option_matches: int

    def info(self, goal: Goal) -> dict[str, Any]:
        """WebShop's verbose ``info`` dict: components and their weights in the total."""
        denominator = len(goal.attributes) + len(goal.goal_options) + 1
        info: dict[str, Any] = {
            "r_type": self.r_type, "r_att": self.r_att, "w_att": len(goal.attributes) / denominator,
            "query_match": self.query_match, "category_match": self.category_match,
            "title_score": self.title_score,
        }
        if self.r_option is not None:
            info["r_option"] = self.r_option
            info["w_option"] = len(goal.goal_options) / denominator
        info["r_price"] = self.r_price
        info["w_price"] = 1 / denominator
        return info


def get_reward(product: Product, goal: Goal, price: float, options: Mapping[str, str]) -> Reward:
    """The reward for buying ``product`` at ``price`` with ``options`` (option name -> value)."""
    kind = type_reward(product, goal)
    r_price = price <= goal.price_upper
    r_att, attribute_matches = attribute_reward(product, goal.attributes)
    r_option, option_matches = option_reward(list(options.values()), goal.goal_options)
    total = (attribute_matches + option_matches + int(r_price)) / (
        len(goal.attributes) + len(goal.goal_options) + 1)
    return Reward(total * kind.r_type, kind.r_type, r_att, r_option, r_price, kind.query_match,
                  kind.category_match, kind.title_score, attribute_matches, option_matches)
