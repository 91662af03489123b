"""``state_fingerprint``: equal states, equal keys; a changed attribute or generator, another key."""

from __future__ import annotations

import random
import subprocess
import sys

from turngym.verifiers.tool_state import state_fingerprint


class Shop:
    def __init__(self, seed: int = 1) -> None:
        self.stock = {"apple": 3}
        self._random = random.Random(seed)
        self.nested = {"rng": random.Random(seed)}
        self._last_modified = "wall-clock time"  # volatile: never counted


def test_equal_states_share_a_key_and_volatile_attributes_do_not_count():
    a, b = Shop(), Shop()
    b._last_modified = "another time"
    assert state_fingerprint({"Shop": a}) == state_fingerprint({"Shop": b})


def test_attributes_and_generators_at_any_depth_count():
    base = state_fingerprint({"Shop": Shop()})
    changed = Shop()
    changed.stock["apple"] = 2
    drawn = Shop()
    drawn._random.random()
    deep = Shop()
    deep.nested["rng"].random()
    keys = {state_fingerprint({"Shop": s}) for s in (changed, drawn, deep)}
    assert base not in keys and len(keys) == 3
    drawn_again = Shop()
    drawn_again._random.random()
    assert state_fingerprint({"Shop": drawn_again}) == state_fingerprint({"Shop": drawn})


def test_a_key_is_the_same_in_another_process():
    code = ("from tests.tool_use.test_state_fingerprint import Shop; "
            "from turngym.verifiers.tool_state import state_fingerprint; "
            "print(state_fingerprint({'Shop': Shop()}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == state_fingerprint({"Shop": Shop()})
