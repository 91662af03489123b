"""WebShop's own files, on small samples written here in WebShop's schema."""

import json
import random

import pytest

from turngym.envs.webshop.catalogue import open_catalogue
from turngym.envs.webshop.env import WebShopEnv
from turngym.envs.webshop.loaders import load_files
from turngym.envs.webshop.products import CatalogueError


def raw(asin, name, query, category, path, pricing="$12.99", options=None, bullets=None):
    return {
        "asin": asin, "name": name, "full_description": f"{name}. Long description here.",
        "small_description": bullets if bullets is not None else [f"{name} feature one", "Feature two"],
        "pricing": pricing, "images": [f"https://example.invalid/{asin}.jpg"], "product_category": path,
        "query": query, "category": category, "customization_options": options,
        "brand": "Acme", "list_price": "$20",            # extra fields WebShop drops
    }


SHAMPOO = "Beauty & Personal Care › Hair Care › Shampoo & Conditioner › Shampoos"
SHOES = "Clothing, Shoes & Jewelry › Men › Shoes › Athletic"
ITEMS = [
    raw("B00SHAMP01", "Acme Sulfate Free Shampoo for Dry Hair", "Shampoo ", "beauty", SHAMPOO,
        options={"Size": [{"value": "8 fl oz", "image": None}, {"value": "16.9 Fl Oz", "image": None}],
                 "Scent": [{"value": "Lavender/Mint", "image": None}]}),
    raw("B00SHOES01", "Runfast Men's Running Shoes Breathable", "men's running shoes", "fashion", SHOES,
        pricing="$45.00 - $59.99",
        options={"Color": [{"value": "Navy Blue"}, {"value": "Black"}],
                 "Size": [{"value": "9"}, {"value": "10"}], "Pattern": None}),
    raw("B00SHAMP01", "Duplicate asin: WebShop keeps the first", "shampoo", "beauty", SHAMPOO),
    raw("nan", "A scraped row without an asin", "shampoo", "beauty", SHAMPOO),
    raw("B00TOOLONG12", "An asin over ten characters", "shampoo", "beauty", SHAMPOO),
    raw("B00NOATTRS", "Acme Tea Tree Shampoo", "shampoo", "beauty", SHAMPOO, pricing="",
        bullets="One bullet"),
]
ATTRIBUTES = {
    "B00SHAMP01": {"attributes": ["sulfate free", "dry hair"], "instruction": "x",
                   "instruction_attributes": ["sulfate free"]},
    "B00SHOES01": {"attributes": ["breathable", "rubber sole"]},
}
HUMAN = {
    "B00SHAMP01": [
        {"asin": "B00SHAMP01", "instruction": "i need a sulfate free shampoo in 16.9 fl oz.",
         "instruction_attributes": ["sulfate free"], "instruction_options": ["16.9 fl oz"]},
        {"asin": "B00SHAMP01", "instruction": "shampoo please", "instruction_attributes": [],
         "instruction_options": []},                                   # no attributes: skipped
    ],
    "B00SHOES01": [
        {"asin": "B00SHOES01", "instruction": "i want breathable running shoes in navy blue, size 10",
         "instruction_attributes": ["breathable", "rubber sole"], "instruction_options": ["navy blue", "10"]},
        {"asin": "B00SHOES01", "instruction": "black running shoes with a rubber sole",
         "instruction_attributes": ["rubber sole"], "instruction_options": ["black"]},
    ],
    "B00NOATTRS": [{"asin": "B00NOATTRS", "instruction": "a tea tree shampoo",
                    "instruction_attributes": ["tea tree"], "instruction_options": []}],
}


@pytest.fixture
def files(tmp_path):
    paths = {"items_path": tmp_path / "items_shuffle_1000.json",
             "attributes_path": tmp_path / "items_ins_v2_1000.json",
             "human_instructions_path": tmp_path / "items_human_ins.json"}
    contents = {"items_path": ITEMS, "attributes_path": ATTRIBUTES, "human_instructions_path": HUMAN}
    for key, data in contents.items():
        paths[key].write_text(json.dumps(data), encoding="utf-8")
    return paths


def test_products_go_through_webshops_loading_steps(files):
    products, goals_of = load_files(**files)
    products = list(products)
    assert [p.asin for p in products] == ["B00SHAMP01", "B00SHOES01", "B00NOATTRS"]   # dedup, nan, long
    shampoo, shoes, bare = products
    assert shampoo.options == {"size": ["8 fl oz", "16.9 fl oz"], "scent": ["lavender | mint"]}
    assert shampoo.query == "shampoo" and shampoo.price == 12.99 and shampoo.price_tag == "$12.99"
    assert shampoo.attributes == ["sulfate free", "dry hair"] and shampoo.rating == "N.A."
    assert shoes.pricing == [45.0, 59.99] and shoes.price_tag == "$45.0 to $59.99"
    assert 45.0 <= shoes.price <= 59.99 and "pattern" not in shoes.options
    assert bare.attributes == ["DUMMY_ATTR"] and bare.pricing == [100.0] and bare.price_tag == "$100.0"
    assert bare.bullet_points == ["One bullet"] and shampoo.main_image.endswith("B00SHAMP01.jpg")
    goals = goals_of(products)
    unshuffled = ["i need a sulfate free shampoo in 16.9 fl oz",
                  "i want breathable running shoes in navy blue, size 10",
                  "black running shoes with a rubber sole", "a tea tree shampoo"]
    saved = random.getstate()
    random.seed(233)                       # exactly what WebShop's server does to its goals
    random.shuffle(unshuffled)
    random.setstate(saved)
    assert [g.instruction_text.split(", and price lower than")[0] for g in goals] == unshuffled
    by_text = {g.instruction_text.split(", and price")[0]: g for g in goals}
    goal = by_text["i need a sulfate free shampoo in 16.9 fl oz"]
    assert goal.goal_options == ("16.9 fl oz",) and goal.price_upper in (20.0, 30.0, 40.0, 50.0)
    assert goal.name == shampoo.title and goal.query == "shampoo"


def test_environment_on_the_files_and_the_oracle_scores_one(files, tmp_path):
    env = WebShopEnv(None, split="all", cache_dir=tmp_path / "cache", **files)
    assert len(env.goals) == 4 and len(env.catalogue) == 3
    for task in range(4):
        env.reset(options={"task_id": task})
        while True:
            _, reward, terminated, truncated, info = env.step(env.oracle_action())
            if terminated or truncated:
                break
        assert terminated and reward == 1.0, (task, env.goal, info.get("reward_info"))
    limited = WebShopEnv(2, split="all", cache_dir=tmp_path / "cache", **files)
    assert len(limited.catalogue) == 2 and len(limited.goals) == 3


def test_catalogue_from_files_is_cached_by_file_identity(files, tmp_path):
    first = open_catalogue(files={**files, "num_products": None}, cache_dir=tmp_path)
    assert open_catalogue(files={**files, "num_products": None}, cache_dir=tmp_path) is first
    files["items_path"].write_text(json.dumps(ITEMS[:2]), encoding="utf-8")   # the file changed
    changed = open_catalogue(files={**files, "num_products": None}, cache_dir=tmp_path)
    assert len(changed) == 2 and len(list((tmp_path / "webshop").glob("files-*.sqlite"))) == 2


@pytest.mark.parametrize("which, content, message", [
    ("items_path", '[{"asin": "B00SHAMP01", "name": "Acme', "is not valid JSON (.* at line 1, column .*); "
     "it may be truncated or corrupt"),
    ("items_path", '{"asin": "B00SHAMP01"}', "must hold a JSON list, got dict"),
    ("items_path", "[1, 2]", "product #0 must be an object with fields"),
    ("items_path", json.dumps([{k: v for k, v in ITEMS[0].items() if k != "pricing"}]),
     r"product #0: product 'B00SHAMP01' lacks field\(s\) \['pricing'\]"),
    ("items_path", json.dumps([{**ITEMS[0], "pricing": "about twelve dollars"}]), "has no '\\$' amount"),
    ("items_path", json.dumps([{**ITEMS[0], "customization_options": {"Size": ["8 fl oz"]}}]),
     "option 'Size' must be a list of \\{'value': ...\\} objects"),
    ("attributes_path", "[]", "items_ins_v2 file .* must hold a JSON object, got list"),
    ("attributes_path", '{"B00SHAMP01": {"attributes": "sulfate free"}}', "'attributes' must be a list"),
    ("human_instructions_path", '{"B00SHAMP01": {"instruction": "x"}}', "must be a list of instructions"),
    ("human_instructions_path", '{"B00SHAMP01": [{"text": "x"}]}', "must be an object with 'instruction'"),
    ("human_instructions_path", b"\xff\xfe\x00garbage", "is not UTF-8 text"),
])
def test_corrupt_or_partial_files_get_clear_errors(files, which, content, message):
    if isinstance(content, bytes):
        files[which].write_bytes(content)
    else:
        files[which].write_text(content, encoding="utf-8")
    with pytest.raises(CatalogueError, match=message):
        products, goals_of = load_files(**files)
        goals_of(list(products))


def test_missing_files_are_named(files, tmp_path):
    files["attributes_path"] = tmp_path / "nowhere.json"
    with pytest.raises(CatalogueError, match="items_ins_v2 file '.*nowhere.json' does not exist"):
        load_files(**files)
    with pytest.raises(CatalogueError, match="attributes file '.*nowhere.json' does not exist"):
        WebShopEnv(None, cache_dir=tmp_path, **files)


def test_generated_catalogue_written_as_webshop_files_loads_back_the_same(tmp_path):
    """The generator really writes WebShop's schema: its raw output, saved as WebShop's three files,
    loads back into the same products and goals (prices of ranged products aside: drawn apart)."""
    from turngym.envs.webshop.catalogue import generated_source
    from turngym.envs.webshop.generator import generate_raw

    raws = list(generate_raw(5, 300, 60))
    paths = {"items_path": tmp_path / "items_shuffle.json", "attributes_path": tmp_path / "items_ins_v2.json",
             "human_instructions_path": tmp_path / "items_human_ins.json"}
    paths["items_path"].write_text(json.dumps([r.item for r in raws]), encoding="utf-8")
    attributes = {r.item["asin"]: {"attributes": r.attributes} for r in raws}
    paths["attributes_path"].write_text(json.dumps(attributes), encoding="utf-8")
    paths["human_instructions_path"].write_text(
        json.dumps({r.item["asin"]: r.instructions for r in raws if r.instructions}), encoding="utf-8")
    loaded, loaded_goals_of = load_files(**paths)
    generated, generated_goals_of = generated_source(5, 300, 60)
    loaded, generated = list(loaded), list(generated)

    def same(product):
        data = product.to_dict()
        data.pop("price")
        return data

    assert [same(p) for p in loaded] == [same(p) for p in generated]
    texts = [[g.instruction_text.split(", and price")[0] for g in goals_of(products)]
             for goals_of, products in ((loaded_goals_of, loaded), (generated_goals_of, generated))]
    assert texts[0] == texts[1] and len(texts[0]) == 60
