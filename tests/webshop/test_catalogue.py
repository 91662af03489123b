"""The generated catalogue: determinism, WebShop's schema and splits, SQLite caching, search."""

import os
import sqlite3
import subprocess
import sys
import time

import pytest

from turngym.envs.webshop.catalogue import FORMAT_VERSION, forget_open_catalogues, open_catalogue
from turngym.envs.webshop.generator import generate_raw
from turngym.envs.webshop.products import NO_CEILING, PRICE_RANGE, RAW_PRODUCT_FIELDS, split_range

from .conftest import SMALL


def test_generator_is_deterministic_and_writes_webshop_raw_products():
    a = list(generate_raw(3, 300, 40))
    b = list(generate_raw(3, 300, 40))
    assert [r.item for r in a] == [r.item for r in b]
    assert [r.item for r in a] != [r.item for r in generate_raw(4, 300, 40)]
    assert sum(bool(r.instructions) for r in a) == 40
    assert len({r.item["asin"] for r in a}) == 300
    for raw in a:
        assert set(RAW_PRODUCT_FIELDS) <= set(raw.item)
        assert raw.item["asin"].startswith("B0") and len(raw.item["asin"]) == 10
        assert raw.item["pricing"].startswith("$")
        for ins in raw.instructions:
            assert set(ins["instruction_attributes"]) <= set(raw.attributes)
    with pytest.raises(ValueError, match="num_goals must be between 0 and num_products"):
        next(generate_raw(0, 10, 11))


def test_catalogue_products_goals_and_splits(tmp_path):
    catalogue = open_catalogue(num_products=SMALL, cache_dir=tmp_path)
    assert len(catalogue) == SMALL and len(catalogue.goals) == SMALL
    assert {g.asin for g in catalogue.goals} <= {p.id for p in catalogue.corpus}
    categories = {catalogue.product(p.id).category for p in catalogue.corpus.passages[:500]}
    assert categories == {"beauty", "grocery", "fashion", "furniture", "electronics"}
    for goal in catalogue.goals[:300]:
        target = catalogue.product(goal.asin)
        assert target.price <= goal.price_upper
        if goal.price_upper != NO_CEILING:
            assert goal.price_upper in PRICE_RANGE
            assert goal.instruction_text.endswith(f", and price lower than {goal.price_upper:.2f} dollars")
        assert set(goal.attributes) <= set(target.attributes)
        values = {v for vs in target.options.values() for v in vs}
        assert set(goal.goal_options) <= values
        assert goal.query == target.query and goal.name == target.title
    assert [len(split_range(s, 12087)) for s in ("test", "eval", "train")] == [500, 1000, 10587]
    assert split_range("train", 1200) == range(1200, 1200)


def test_search_ranks_a_product_first_by_its_title(tmp_path):
    catalogue = open_catalogue(num_products=SMALL, cache_dir=tmp_path)
    for passage in catalogue.corpus.passages[:50]:
        assert catalogue.search(passage.title)[0] == passage.id
    assert len(catalogue.search("shampoo lipstick deodorant")) == 50
    assert catalogue.search("zzzz qqqq") == ()


def test_catalogue_is_cached_in_sqlite_and_reopened(tmp_path):
    open_catalogue(num_products=500, num_goals=100, cache_dir=tmp_path)
    files = list((tmp_path / "webshop").iterdir())
    assert len(files) == 1 and files[0].suffix == ".sqlite"       # no temporary file left behind
    with sqlite3.connect(files[0]) as conn:
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        assert meta["format"] == FORMAT_VERSION and meta["complete"] == "1"
        assert conn.execute("SELECT count(*) FROM products").fetchone()[0] == 500
    mtime = files[0].stat().st_mtime_ns
    forget_open_catalogues()
    again = open_catalogue(num_products=500, num_goals=100, cache_dir=tmp_path)
    assert files[0].stat().st_mtime_ns == mtime and again.retriever.source == "cache"
    assert open_catalogue(num_products=500, num_goals=100, cache_dir=tmp_path) is again   # open once
    other = open_catalogue(num_products=500, num_goals=100, seed=1, cache_dir=tmp_path)
    assert len(list((tmp_path / "webshop").glob("*.sqlite"))) == 2
    assert other.corpus.passages[0] != again.corpus.passages[0]


def test_a_corrupt_cached_catalogue_is_rebuilt(tmp_path):
    first = open_catalogue(num_products=300, num_goals=50, cache_dir=tmp_path)
    path = next((tmp_path / "webshop").glob("*.sqlite"))
    path.write_bytes(b"this is not a database")
    forget_open_catalogues()
    rebuilt = open_catalogue(num_products=300, num_goals=50, cache_dir=tmp_path)
    assert [g.to_dict() for g in rebuilt.goals] == [g.to_dict() for g in first.goals]


def test_in_memory_catalogue_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("TURNGYM_CACHE", str(tmp_path))
    catalogue = open_catalogue(num_products=300, num_goals=50, cache_dir=False)
    assert len(catalogue) == 300 and list(tmp_path.iterdir()) == []


def test_a_second_process_starts_from_the_cache_quickly(tmp_path):
    open_catalogue(num_products=SMALL, cache_dir=tmp_path)
    code = ("import time, turngym; t = time.perf_counter(); "
            "from turngym.envs.webshop.env import WebShopEnv; "
            f"env = WebShopEnv({SMALL}, cache_dir={str(tmp_path)!r}); env.reset(seed=0); "
            "print(env.catalogue.retriever.source, time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout.split()
    assert out[0] == "cache" and float(out[1]) < 10.0   # loose: a shared machine; the benchmark measures


def test_build_is_atomic_when_interrupted(tmp_path, monkeypatch):
    import turngym.envs.webshop.catalogue as catalogue_module

    def broken(*args, **kwargs):
        yield from ()
        raise KeyboardInterrupt

    monkeypatch.setattr(catalogue_module, "generate_raw", broken)
    with pytest.raises(KeyboardInterrupt):
        open_catalogue(num_products=123, num_goals=10, cache_dir=tmp_path)
    assert list((tmp_path / "webshop").iterdir()) == []
    started = time.perf_counter()
    monkeypatch.undo()
    assert len(open_catalogue(num_products=123, num_goals=10, cache_dir=tmp_path)) == 123
    assert time.perf_counter() - started < 30


@pytest.mark.parametrize("cache", ["disk", "memory"])
def test_a_forked_child_reads_the_catalogue(tmp_path, cache):
    import multiprocessing

    catalogue = open_catalogue(num_products=300, num_goals=50,
                               cache_dir=tmp_path if cache == "disk" else False)
    asin = catalogue.goals[0].asin
    catalogue.product.cache_clear()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=lambda: queue.put(catalogue.product(asin).title))  # fork: not pickled
    child.start()
    title = queue.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0 and title == catalogue.product(asin).title


def test_goal_targets_have_variants_that_each_miss_something(tmp_path):
    from turngym.envs.webshop.reward import get_reward

    catalogue = open_catalogue(num_products=800, num_goals=60, cache_dir=tmp_path)
    passages = catalogue.corpus.passages
    position = {p.id: i for i, p in enumerate(passages)}
    with_variants = 0
    for goal in catalogue.goals:
        target = catalogue.product(goal.asin)
        brand = target.title.split()[0]
        start = position[goal.asin]
        variants = [catalogue.product(p.id) for p in passages[start + 1:start + 12]
                    if p.title.split()[0] == brand and catalogue.product(p.id).query == target.query]
        with_variants += bool(variants)
        for variant in variants:
            chosen = {}
            for name, values in variant.options.items():     # its best choice of options
                wanted = [v for v in values if v in goal.goal_options]
                if wanted:
                    chosen[name] = wanted[0]
            missing_attribute = not set(goal.attributes) <= set(variant.attributes)
            missing_option = len(chosen) < len(goal.goal_options)
            over_price = variant.price > goal.price_upper
            assert missing_attribute or missing_option or over_price, (goal, variant)
            named = [a for a in goal.attributes if a in variant.attributes]
            in_title = [a for a in named if a.title() in variant.title]
            assert len(in_title) == min(2, len(named))      # the title names what the goal asks
            if over_price or missing_attribute:
                assert get_reward(variant, goal, variant.price, chosen).total < 1.0
    assert with_variants >= 0.8 * len(catalogue.goals)


def test_default_goal_count_follows_webshops_density():
    from turngym.envs.webshop.catalogue import default_num_goals

    assert default_num_goals(100_000) == 12_087          # WebShop's 12,087 human goals
    assert default_num_goals(20_000) == 2_417            # the same density
    assert default_num_goals(5_000) == 2_000             # every split keeps goals
    assert default_num_goals(300) == 300                 # at most one a product
