"""The catalogue: products and goals in SQLite, searched with the project's BM25.

A :class:`Catalogue` is built once from products and goals (generated, or loaded from
WebShop's files) into one SQLite file (standard library) and cached on disk under
``$TURNGYM_CACHE/webshop`` (default ``~/.cache/turngym/webshop``), named by a hash of what
it was built from; the file is written beside its final name and renamed into place, so a
killed build never leaves half a catalogue in use. Searches go to
:class:`~turngym.envs.search_qa.retrieval.BM25Retriever` over one passage per product
(title; category, query and attributes), whose index is cached the same way.
Products are read from SQLite when a page needs them (with a small in-memory cache), so a
100,000-product catalogue costs tens of megabytes, not gigabytes.

:func:`open_catalogue` is the one entry point: it returns the catalogue already open in
this process for the same parameters, opens a cached file, or builds one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import random
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from turngym.core.atomic import atomic_path
from turngym.envs.search_qa.corpus import Corpus, Passage
from turngym.envs.search_qa.retrieval import BM25Retriever, default_cache_dir
from turngym.envs.webshop.generator import GENERATOR_VERSION, generate_raw
from turngym.envs.webshop.products import (
    CatalogueError,
    Goal,
    Product,
    human_goals,
    process_product,
    shuffle_goals,
)

FORMAT_VERSION = "webshop-sqlite-v3"
"""Bumped whenever the SQLite layout changes, so stale files are rebuilt."""

SEARCH_RETURN_N = 50
"""Results a search returns (WebShop's ``SEARCH_RETURN_N``), shown ten to a page."""

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE products (id INTEGER PRIMARY KEY, asin TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
                       price_tag TEXT NOT NULL, search_text TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE goals (id INTEGER PRIMARY KEY, data TEXT NOT NULL);
"""

_OPEN: dict[str, Catalogue] = {}
_OPEN_LOCK = threading.Lock()


class Catalogue:
    """Products, goals and search over one SQLite catalogue file (or an in-memory database).

    Use :func:`open_catalogue`. ``goals`` are in WebShop's order (its splits index them).
    """

    def __init__(self, connect: str, *, uri: bool = False, index_cache: str | os.PathLike[str] | bool = True,
                 connection: sqlite3.Connection | None = None) -> None:
        self._connect_args = (connect, uri)
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._in_memory = connection is not None
        self._conn = connection if connection is not None else self._open_connection()
        meta = dict(self._query("SELECT key, value FROM meta"))
        if meta.get("format") != FORMAT_VERSION or meta.get("complete") != "1":
            raise CatalogueError(f"catalogue {connect} has format {meta.get('format')!r} "
                                 f"(complete={meta.get('complete')!r}); expected {FORMAT_VERSION!r}")
        self.params: dict[str, Any] = json.loads(meta.get("params", "{}"))
        self.goals: list[Goal] = [Goal.from_dict(json.loads(d))
                                  for (d,) in self._query("SELECT data FROM goals ORDER BY id")]
        rows = self._query("SELECT asin, title, price_tag, search_text FROM products ORDER BY id")
        self.corpus = Corpus(Passage(asin, title, text) for asin, title, _, text in rows)
        if len(self.corpus) == 0:
            raise CatalogueError(f"catalogue {connect} has no products")
        self._price_tags = [row[2] for row in rows]
        self.retriever = BM25Retriever.for_corpus(self.corpus, index_cache)
        self.product = functools.lru_cache(maxsize=4096)(self._product)
        self.search = functools.lru_cache(maxsize=4096)(self.search_uncached)
        """``search_uncached`` with the last 4,096 queries remembered (agents repeat queries a lot)."""

    def _open_connection(self) -> sqlite3.Connection:
        target, uri = self._connect_args
        return sqlite3.connect(target, uri=uri, check_same_thread=False)

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            if os.getpid() != self._pid and not self._in_memory:
                # a forked child must not share the parent's file connection (an in-memory
                # database, copied with the process, has nothing else to reopen)
                self._conn = self._open_connection()
                self._pid = os.getpid()
            return self._conn.execute(sql, tuple(params)).fetchall()

    def __len__(self) -> int:
        return len(self.corpus)

    def _product(self, asin: str) -> Product | None:
        rows = self._query("SELECT data FROM products WHERE asin = ?", (asin,))
        return Product.from_dict(json.loads(rows[0][0])) if rows else None

    def search_uncached(self, query: str, k: int = SEARCH_RETURN_N) -> tuple[str, ...]:
        """The asins of the top-``k`` products for ``query`` by BM25, best first."""
        return tuple(hit.passage.id for hit in self.retriever.search(query, k))

    def listing(self, asin: str) -> tuple[str, str, str]:
        """What a results page shows of a product, without reading it: ``(asin, title, price tag)``."""
        i = self.corpus.index_of[asin]
        return asin, self.corpus.passages[i].title, self._price_tags[i]


def _write(conn: sqlite3.Connection, products: Iterable[Product], goals_of: Any,
           params: dict[str, Any]) -> None:
    """Fill an empty database: ``goals_of(products_seen)`` gives the goals once products are in."""
    conn.executescript(_SCHEMA)
    seen: list[Product] = []

    def rows() -> Iterator[tuple[str, str, str, str, str]]:
        for product in products:
            seen.append(_light(product))
            yield (product.asin, product.title, product.price_tag, product.search_text(),
                   json.dumps(product.to_dict(), separators=(",", ":")))

    conn.executemany("INSERT INTO products (asin, title, price_tag, search_text, data) "
                     "VALUES (?, ?, ?, ?, ?)", rows())
    goals = goals_of(seen)
    conn.executemany("INSERT INTO goals (id, data) VALUES (?, ?)",
                     ((i, json.dumps(g.to_dict())) for i, g in enumerate(goals)))
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [
        ("format", FORMAT_VERSION), ("params", json.dumps(params, sort_keys=True)), ("complete", "1")])
    conn.commit()


def _light(product: Product) -> Product:
    """What goal building needs of a product, without its long texts (keeps memory low)."""
    return Product(product.asin, product.title, product.category, product.query, product.product_category,
                   "", [], product.price_tag, product.pricing, product.price, {}, [])


def build_file(path: Path, products: Iterable[Product], goals_of: Any, params: dict[str, Any]) -> None:
    """Write a catalogue to ``path`` atomically (temporary file beside it, then rename)."""
    with atomic_path(path) as tmp:
        conn = sqlite3.connect(tmp)
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            _write(conn, products, goals_of, params)
        finally:
            conn.close()


def generated_source(seed: int, num_products: int, num_goals: int) -> tuple[Iterator[Product], Any]:
    """The products and the goal builder of a generated catalogue (see :mod:`.generator`)."""
    instructions: dict[str, list[dict[str, Any]]] = {}
    price_rng = random.Random(f"webshop-prices:{seed}")

    def products() -> Iterator[Product]:
        for raw in generate_raw(seed, num_products, num_goals):
            if raw.instructions:
                instructions[raw.item["asin"]] = raw.instructions
            yield process_product(raw.item, raw.attributes, rng=price_rng)

    def goals_of(seen: list[Product]) -> list[Goal]:
        return shuffle_goals(human_goals(seen, instructions, random.Random(f"webshop-goals:{seed}")))

    return products(), goals_of


def default_num_goals(num_products: int) -> int:
    """WebShop's density of goals (12,087 human goals over 100,000 products), but at least 2,000
    (so that test, eval and train all have goals) and at most one per product."""
    return min(num_products, max(2_000, round(num_products * 0.12087)))


def _key(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:24]


def open_catalogue(
    *,
    seed: int = 0,
    num_products: int = 100_000,
    num_goals: int | None = None,
    files: dict[str, Any] | None = None,
    cache_dir: str | os.PathLike[str] | bool | None = None,
) -> Catalogue:
    """The catalogue for these parameters: already open in this process, cached on disk, or built.

    ``num_goals``: goals of a generated catalogue (default :func:`default_num_goals`).
    ``files``: build from WebShop's files instead (see
    :func:`turngym.envs.webshop.loaders.load_files`'s arguments). ``cache_dir``: ``None``/``True``
    for :func:`default_cache_dir`, a path, or ``False`` to build in memory and cache nothing.
    """
    if files is not None:
        from turngym.envs.webshop.loaders import files_fingerprint, load_files

        params: dict[str, Any] = {"source": "files", **files_fingerprint(**files)}
    else:
        if not isinstance(num_products, int) or num_products < 1:
            raise ValueError(f"num_products must be a positive int, got {num_products!r}")
        if num_goals is None:
            num_goals = default_num_goals(num_products)
        params = {"source": "generated", "generator": GENERATOR_VERSION, "seed": int(seed),
                  "num_products": num_products, "num_goals": int(num_goals)}
    params["format"] = FORMAT_VERSION
    root = default_cache_dir() if cache_dir is None or cache_dir is True else cache_dir
    key = f"{_key(params)}|{root}"
    with _OPEN_LOCK:
        if key in _OPEN:
            return _OPEN[key]

        def source() -> tuple[Iterable[Product], Any]:
            if files is not None:
                return load_files(**files)
            return generated_source(int(seed), num_products, int(num_goals))

        if root is False:
            conn = sqlite3.connect(":memory:", check_same_thread=False)
            _write(conn, *source(), params)
            catalogue = Catalogue(":memory:", index_cache=False, connection=conn)
        else:
            path = Path(root) / "webshop" / f"{params['source']}-{_key(params)}.sqlite"
            catalogue = _open_or_build(path, source, params, Path(root))
        _OPEN[key] = catalogue
        return catalogue


def _open_or_build(path: Path, source: Any, params: dict[str, Any], root: Path) -> Catalogue:
    if path.exists():
        try:
            return Catalogue(f"file:{path}?mode=ro", uri=True, index_cache=root)
        except (sqlite3.DatabaseError, CatalogueError, ValueError, KeyError) as exc:
            logging.getLogger(__name__).warning("rebuilding unreadable catalogue %s (%s)", path, exc)
            with contextlib.suppress(OSError):
                path.unlink()
    if params.get("num_products") is None or params["num_products"] >= 20_000:
        # a person waiting on `turngym play` for the first build should know why
        logging.getLogger(__name__).warning(
            "building the WebShop catalogue once into %s (about half a minute of CPU for 100,000 "
            "products); later starts load it in seconds", path)
    build_file(path, *source(), params)
    return Catalogue(f"file:{path}?mode=ro", uri=True, index_cache=root)


def forget_open_catalogues() -> None:
    """Drop this process's open catalogues (tests use it to measure a fresh open)."""
    with _OPEN_LOCK:
        _OPEN.clear()
