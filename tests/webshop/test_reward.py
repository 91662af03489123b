"""WebShop's reward, term by term, on hand-made products and goals."""

import pytest

from turngym.envs.webshop.products import Goal, Product
from turngym.envs.webshop.reward import (
    attribute_reward,
    get_reward,
    normalize_color,
    option_reward,
    title_nouns,
    token_set_score,
    type_reward,
)

PATH = "Beauty & Personal Care › Hair Care › Shampoo & Conditioner › Shampoos"


def product(**changes):
    fields = dict(
        asin="B000000001", title="Zervo Sulfate Free Shampoo AB-123", category="beauty", query="shampoo",
        product_category=PATH, description="A gentle shampoo.", bullet_points=["Gentle on the scalp"],
        price_tag="$12.99", pricing=[12.99], price=12.99, options={"size": ["8 fl oz", "16.9 fl oz"]},
        attributes=["sulfate free", "dry hair", "tea tree"],
    )
    fields.update(changes)
    return Product(**fields)


def goal(**changes):
    fields = dict(
        asin="B000000001", category="beauty", query="shampoo", name="Zervo Sulfate Free Shampoo AB-123",
        product_category=PATH, instruction_text="i need a sulfate free shampoo", attributes=("sulfate free",),
        goal_options=("16.9 fl oz",), price_upper=30.0,
    )
    fields.update(changes)
    return Goal(**fields)


# ----- the fuzzy match -----------------------------------------------------------------


def test_token_set_score_is_thefuzz_token_set_ratio():
    assert token_set_score("essential oil", "essential oils") == 96      # thefuzz gives 96
    assert token_set_score("Tea-Tree!", "tea tree") == 100               # processed: case, punctuation
    assert token_set_score("tea tree", "tea tree oil") == 100            # a token subset scores 100
    assert token_set_score("sulfate free", "paraben free") < 85
    assert isinstance(token_set_score("a", "b"), int)
    # thefuzz forces ASCII before comparing: accented letters are dropped, not folded
    assert token_set_score("café", "caf") == 100


def test_normalize_color_takes_webshop_first_colour_word():
    assert normalize_color("navy blue") == "blue"          # "blue" comes before "navy" in WebShop's list
    assert normalize_color("dark wash") == "ash"           # "ash" (in "wash") precedes "dark": WebShop's
    assert normalize_color("16.9 fl oz") == "16.9 fl oz"   # no colour word: unchanged
    assert normalize_color("crashed") == "ash"              # a substring, as in WebShop


# ----- attributes ----------------------------------------------------------------------


def test_attribute_reward_fuzzy_match_on_the_attribute_list():
    assert attribute_reward(product(), ["sulfate free", "dry hair"]) == (1.0, 2)
    assert attribute_reward(product(attributes=["essential oil"]), ["essential oils"]) == (1.0, 1)


def test_attribute_reward_falls_back_to_title_bullets_and_description_substrings():
    bare = product(attributes=[], title="Zervo Argan Oil Shampoo", bullet_points=["Made for Damaged Hair"],
                   description="It is Cruelty Free and gentle.")
    assert attribute_reward(bare, ["argan oil"]) == (1.0, 1)          # title, lower-cased
    assert attribute_reward(bare, ["damaged hair"]) == (1.0, 1)       # bullet points
    assert attribute_reward(bare, ["cruelty free"]) == (1.0, 1)       # description
    assert attribute_reward(bare, ["tea tree"]) == (0.0, 0)


def test_attribute_reward_partial_match():
    r_att, matches = attribute_reward(product(), ["sulfate free", "paraben free", "color treated"])
    assert matches == 1 and r_att == pytest.approx(1 / 3)


# ----- options -------------------------------------------------------------------------


def test_option_reward_counts_goal_options_met():
    assert option_reward(["16.9 fl oz"], ["16.9 fl oz"]) == (1.0, 1)
    assert option_reward(["8 fl oz"], ["16.9 fl oz"]) == (0.0, 0)
    assert option_reward([], ["16.9 fl oz", "lavender"]) == (0.0, 0)
    assert option_reward(["lavender", "8 fl oz"], ["16.9 fl oz", "lavender"]) == (0.5, 1)
    assert option_reward(["lavender"], []) == (None, 0)


def test_option_reward_normalises_colours_first():
    # "navy blue" and "light blue" both normalise to "blue", so they match (WebShop's behaviour)
    assert option_reward(["light blue"], ["navy blue"]) == (1.0, 1)
    assert option_reward(["black"], ["navy blue"]) == (0.0, 0)


# ----- type ----------------------------------------------------------------------------


def test_type_reward_exact_product():
    kind = type_reward(product(), goal())
    assert (kind.r_type, kind.query_match, kind.category_match, kind.title_score) == (1.0, True, True, 1.0)


def test_type_reward_category_needs_two_shared_levels():
    other = "Beauty & Personal Care › Makeup › Lips › Lipstick"
    assert type_reward(product(product_category=other), goal()).category_match is False
    shared = "Beauty & Personal Care › Hair Care › Styling"
    assert type_reward(product(product_category=shared), goal()).category_match is True


def test_type_reward_levels():
    # same kind, other brand: query and category match, title shares "shampoo" -> 1.0
    same_kind = product(title="Tapex Argan Oil Shampoo ZZ-999")
    kind = type_reward(same_kind, goal())
    assert kind.r_type == 1.0 and 0 < kind.title_score < 1
    # no query or category match, title score <= 0.2 but >= 0.1 -> 0.5
    wide = goal(name="Zervo Shampoo Bottle Pump Cap Set Lid")   # nouns: zervo shampoo bottle pump cap set lid
    off = product(query="soap", product_category="A › B", title="Shampoo Holder")
    kind = type_reward(off, wide)
    assert kind.title_score == pytest.approx(1 / 7) and kind.r_type == 0.5
    # title score under 0.1 -> 0.1
    longer = goal(name="Zervo Shampoo Bottle Pump Cap Set Lid Tray Hook Ring Clip")
    kind = type_reward(product(title="Shampoo"), longer)
    assert kind.title_score == pytest.approx(1 / 11) and kind.r_type == 0.1
    # no shared noun at all -> 0, even with the query matching
    kind = type_reward(product(title="Wireless Earbuds"), goal())
    assert kind.title_score == 0.0 and kind.query_match and kind.r_type == 0.0


def test_type_reward_goal_title_without_nouns_scores_point_two():
    kind = type_reward(product(), goal(name="Of The And 42"))
    assert kind.title_score == 0.2 and kind.r_type == 1.0          # query matches
    kind = type_reward(product(query="soap", product_category="x"), goal(name="For The 2"))
    assert kind.r_type == 0.5


def test_title_nouns_drops_function_words_colours_and_numbers():
    assert title_nouns("The New Black Running Shoes for Men, Large") == ("new", "running", "shoes", "men",
                                                                          "large")
    assert title_nouns("Zervo Ground Coffee 12 oz, a 2-Pack") == ("zervo", "ground", "coffee", "oz", "pack")


# ----- the total -----------------------------------------------------------------------


def test_perfect_purchase_scores_one():
    reward = get_reward(product(), goal(), 12.99, {"size": "16.9 fl oz"})
    assert reward.total == 1.0 and reward.r_price and reward.r_option == 1.0


def test_total_is_matches_over_terms_times_r_type():
    g = goal(attributes=("sulfate free", "paraben free"), goal_options=("16.9 fl oz", "lavender"))
    reward = get_reward(product(), g, 12.99, {"size": "16.9 fl oz"})
    assert reward.attribute_matches == 1 and reward.option_matches == 1
    assert reward.total == pytest.approx((1 + 1 + 1) / (2 + 2 + 1))
    info = reward.info(g)
    assert info["w_att"] == pytest.approx(2 / 5) and info["w_option"] == pytest.approx(2 / 5)
    assert info["w_price"] == pytest.approx(1 / 5) and info["r_option"] == 0.5


def test_price_over_the_ceiling_loses_the_price_term():
    reward = get_reward(product(), goal(price_upper=10.0), 12.99, {"size": "16.9 fl oz"})
    assert reward.r_price is False and reward.total == pytest.approx(2 / 3)
    assert get_reward(product(), goal(price_upper=12.99), 12.99, {"size": "16.9 fl oz"}).r_price  # <=


def test_wrong_type_scales_everything_down():
    earbuds = product(title="Tapex Wireless Earbuds", query="wireless earbuds",
                      product_category="Electronics", attributes=["sulfate free"])
    reward = get_reward(earbuds, goal(), 12.99, {"size": "16.9 fl oz"})
    assert reward.r_att == 1.0 and reward.r_type == 0.0 and reward.total == 0.0


def test_goal_without_options_has_no_option_term():
    g = goal(goal_options=())
    reward = get_reward(product(), g, 12.99, {})
    assert reward.r_option is None and reward.total == 1.0
    assert "r_option" not in reward.info(g)
