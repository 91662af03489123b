"""Loading WebShop's own data files, for users who have them.

:func:`load_files` reads ``items_shuffle*.json`` (products), ``items_ins_v2*.json``
(attributes) and ``items_human_ins.json`` (people's instructions: the goals) and returns
them in turngym's form through WebShop's own steps (:mod:`turngym.envs.webshop.products`):
products with an asin of at most ten characters (not ``"nan"``) and seen for the first
time are kept, in file order, optionally only the first ``num_products``; goals are
WebShop's human goals shuffled as WebShop shuffles them, so its test/eval/train splits
select the same instructions. Prices of products with a price range are drawn from a
seeded generator (WebShop draws them unseeded).

Any file that is not what WebShop writes gets a :class:`CatalogueError` naming the file,
the entry and what was expected: missing files, truncated or corrupt JSON, a wrong
top-level type, products without required fields.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from turngym.envs.webshop.products import (
    RAW_PRODUCT_FIELDS,
    CatalogueError,
    Goal,
    Product,
    human_goals,
    process_product,
    shuffle_goals,
)

PRICE_SEED = 0
"""Seed of the price draws for products sold at a price range."""


def _read_json(path: str | os.PathLike[str], what: str, kind: type) -> Any:
    file = Path(path)
    if not file.is_file():
        raise CatalogueError(f"{what} file {str(file)!r} does not exist")
    try:
        with file.open(encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise CatalogueError(
            f"{what} file {str(file)!r} is not valid JSON ({exc.msg} at line {exc.lineno}, column "
            f"{exc.colno}); it may be truncated or corrupt: download or copy it again") from None
    except UnicodeDecodeError as exc:
        raise CatalogueError(f"{what} file {str(file)!r} is not UTF-8 text ({exc.reason})") from None
    if not isinstance(data, kind):
        expected = "a JSON list" if kind is list else "a JSON object"
        raise CatalogueError(f"{what} file {str(file)!r} must hold {expected}, got {type(data).__name__}")
    return data


def files_fingerprint(items_path: str | os.PathLike[str],
                      attributes_path: str | os.PathLike[str] | None = None,
                      human_instructions_path: str | os.PathLike[str] | None = None,
                      num_products: int | None = None) -> dict[str, Any]:
    """What identifies a catalogue built from files: each file's path, size and modification time."""
    out: dict[str, Any] = {"num_products": num_products}
    for name, path in (("items", items_path), ("attributes", attributes_path),
                       ("human_instructions", human_instructions_path)):
        if path is None:
            out[name] = None
            continue
        file = Path(path).resolve()
        if not file.is_file():
            raise CatalogueError(f"{name} file {str(path)!r} does not exist")
        stat = file.stat()
        out[name] = [str(file), stat.st_size, stat.st_mtime_ns]
    return out


def load_files(items_path: str | os.PathLike[str], attributes_path: str | os.PathLike[str] | None = None,
               human_instructions_path: str | os.PathLike[str] | None = None,
               num_products: int | None = None) -> tuple[Iterator[Product], Any]:
    """WebShop's files as ``(products, goals_of)``: the products and a function of them giving the goals.

    ``goals_of(products)`` returns the shuffled human goals (it needs the products' prices).
    Without ``human_instructions_path`` there are no goals, and an environment cannot be
    made; without ``attributes_path`` every product's attributes are ``["DUMMY_ATTR"]``.
    """
    items = _read_json(items_path, "items_shuffle", list)
    attributes = _read_json(attributes_path, "items_ins_v2", dict) if attributes_path else {}
    instructions = (_read_json(human_instructions_path, "items_human_ins", dict)
                    if human_instructions_path else {})
    if num_products is not None:
        items = items[:num_products]
    for asin, entry in attributes.items():
        if not isinstance(entry, dict):
            raise CatalogueError(f"items_ins_v2 entry {asin!r} must be an object with 'attributes', "
                                 f"got {type(entry).__name__}")
        if "attributes" in entry and not isinstance(entry["attributes"], list):
            raise CatalogueError(f"items_ins_v2 entry {asin!r}: 'attributes' must be a list of phrases")
    for asin, entry in instructions.items():
        if not isinstance(entry, list):
            raise CatalogueError(f"items_human_ins entry {asin!r} must be a list of instructions, "
                                 f"got {type(entry).__name__}")
    rng = random.Random(PRICE_SEED)

    def products() -> Iterator[Product]:
        seen: set[str] = set()
        for i, raw in enumerate(items):
            if not isinstance(raw, dict):
                raise CatalogueError(f"items_shuffle product #{i} must be an object with fields "
                                     f"{list(RAW_PRODUCT_FIELDS)}, got {type(raw).__name__}")
            asin = raw.get("asin")
            if not isinstance(asin, str):
                raise CatalogueError(f"items_shuffle product #{i} has no text 'asin' (got {asin!r})")
            if asin == "nan" or len(asin) > 10 or asin in seen:
                continue
            seen.add(asin)
            entry = attributes.get(asin, {})
            try:
                yield process_product(raw, entry.get("attributes"), rng=rng)
            except CatalogueError as exc:
                raise CatalogueError(f"items_shuffle product #{i}: {exc}") from None

    def goals_of(seen: list[Product]) -> list[Goal]:
        goals = human_goals(seen, instructions, random.Random(PRICE_SEED + 1))
        return shuffle_goals(goals)

    return products(), goals_of
