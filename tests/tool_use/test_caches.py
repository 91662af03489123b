"""What ToolUseEnv computes once and reuses must change nothing: verdicts, signals, anchors,
fresh state per episode (back-end templates, cached gold runs, remembered state hashes)."""

from __future__ import annotations

import hashlib

import pytest

from tests.tool_use import bfcl_reference as ref
from turngym.core.actions import ParsedCall
from turngym.envs.tool_use import bfcl
from turngym.envs.tool_use.backends import Backends, BackendTemplate, copy_arguments
from turngym.envs.tool_use.env import ToolUseEnv
from turngym.envs.tool_use.gold import CACHES, LRU, clear_caches
from turngym.verifiers.tool_state import public_state, state_check, state_fingerprint


def _true_anchor(env: ToolUseEnv) -> str:
    """The anchor computed from the back-ends' state right now, with no cache."""
    instances = env._agent.instances
    joined = "|".join(f"{n}:{state_fingerprint({n: instances[n]})}" for n in sorted(instances))
    return f"{env.task.task_id}|s{env._stage}|{hashlib.blake2b(joined.encode(), digest_size=8).hexdigest()}"


def _play(env: ToolUseEnv, task_id: str, answer: ref.Answer) -> list[tuple]:
    """Every step's anchor, signals and stage verdict; anchors checked against the state."""
    _, info = env.reset(options={"task_id": task_id})
    assert info["anchor"] == _true_anchor(env)
    out = [(info["anchor"], info["signals"])]
    for steps in answer:
        for step in [*("[" + ", ".join(s) + "]" for s in steps), "Done."]:
            _, reward, terminated, truncated, info = env.step(step)
            assert info["anchor"] == _true_anchor(env)
            out.append((info["anchor"], info["signals"], reward, info.get("stage_verdict"),
                        info.get("stage_verdicts")))
            if terminated or truncated:
                return out
    return out


def test_cached_gold_runs_and_state_hashes_judge_exactly_as_a_fresh_environment():
    tasks = bfcl.load_tasks("all")[::50]
    cases = [ref.Case(t.task_id, "gold", ref.gold_answer(t)) for t in tasks] + ref.cases(n_per_kind=4, seed=1)
    assert {c.kind for c in cases} >= {"gold", "drop_call", "wrong_value", "move_call"}
    strict, lazy = ToolUseEnv("bfcl", lazy_gold=False), ToolUseEnv("bfcl")
    failing = 0
    for case in cases:
        clear_caches()
        # The reference: nothing cached, the gold calls run alongside and every stage compared.
        fresh = _play(ToolUseEnv("bfcl", lazy_gold=False), case.task_id, case.answer)
        clear_caches()
        fresh_lazy = _play(ToolUseEnv("bfcl"), case.task_id, case.answer)  # gold run started if off it
        runs = [_play(strict, case.task_id, case.answer) for _ in range(3)]  # builds, then reads, a GoldRun
        assert (id(strict.catalog), case.task_id) in CACHES.gold_runs
        runs += [_play(lazy, case.task_id, case.answer) for _ in range(3)]
        other = _play(ToolUseEnv("bfcl"), case.task_id, case.answer)  # another env shares the caches
        assert all(run == fresh for run in [fresh_lazy, *runs, other]), (case.task_id, case.kind)
        failing += fresh[-1][-1] is not None and not all(v["passed"] for v in fresh[-1][-1])
    assert failing >= 8  # the mutated answers really fail stages, so failing verdicts are compared too


def test_lazy_gold_runs_the_gold_calls_only_from_the_first_stage_off_them():
    clear_caches()
    env = ToolUseEnv("bfcl")
    task = next(t for t in bfcl.load_tasks("base") if sum(bool(s.gold) for s in t.stages) >= 3)
    for _ in range(2):  # the first episode and a later one: the gold calls never run
        _play(env, task.task_id, ref.gold_answer(task))
        assert env._gold is None and env._gold_run is None and all(v["passed"] for v in env._verdicts)
    assert (id(env.catalog), task.task_id) not in CACHES.gold_runs
    busy = [i for i, s in enumerate(task.stages) if s.gold]
    answer = ref.gold_answer(task)
    answer[busy[1]] = [[ref.render(c) for c in task.stages[busy[1]].gold[:-1]]]  # the last call dropped
    clear_caches()
    verdicts = _play(env, task.task_id, answer)[-1][-1]  # first episode: a live gold run catches up
    assert env._gold is not None and env._gold_run is None
    assert [v["passed"] for v in verdicts[:busy[1]]] == [True] * busy[1] and not verdicts[busy[1]]["passed"]
    assert verdicts == _play(ToolUseEnv("bfcl", lazy_gold=False), task.task_id, answer)[-1][-1]
    _play(env, task.task_id, answer)  # a later episode builds and keeps the cached run at the divergence
    assert env._gold is None and env._gold_run is not None
    assert (id(env.catalog), task.task_id) in CACHES.gold_runs
    # A branch that leaves the gold calls takes its gold run with it: a restored snapshot has none.
    clear_caches()
    env.reset(options={"task_id": task.task_id})
    snapshot = env.get_state()
    *_, info = env.step("I will not do it.")
    assert task.stages[0].gold and info["stage_verdict"]["passed"] is False and env._gold is not None
    env.set_state(snapshot)
    done = False
    while not done:
        *_, terminated, truncated, info = env.step(env.oracle_action())
        done = terminated or truncated
    assert info["outcome"] == 1.0 and env._gold is None


def test_every_episode_starts_from_fresh_state_after_the_last_one_changed_it():
    env = ToolUseEnv("bfcl")
    task = env.get_task("multi_turn_base_0")
    fresh = Backends({n: env.catalog.classes[n] for n in task.classes}, task.initial_config,
                     stateless=env.catalog.stateless)
    first = _play(env, task.task_id, ref.gold_answer(task))
    assert first[0][0] != first[-1][0]  # the gold calls changed the state
    used = {name: instance for name, instance in env._agent.instances.items()}
    for _ in range(2):
        env.reset(options={"task_id": task.task_id})
        assert state_check(env._agent.instances, fresh.instances).passed
        assert state_fingerprint(env._agent.instances) == state_fingerprint(fresh.instances)
        env.step(env.oracle_action())
        touched = {env._agent.routes[c.name] for c in task.stages[0].gold}
        assert touched and all(env._agent.instances[n] is not used[n] for n in touched)
        used = dict(env._agent.instances)


def test_template_copies_share_nothing_not_even_module_level_records():
    from bfcl_eval.eval_checker.multi_turn_eval.func_source_code.long_context import CREDIT_CARD_EXTENSION
    from bfcl_eval.eval_checker.multi_turn_eval.func_source_code.travel_booking import TravelAPI

    card = next(iter(CREDIT_CARD_EXTENSION))
    before = dict(CREDIT_CARD_EXTENSION[card])
    template = BackendTemplate({"TravelAPI": TravelAPI}, {}, long_context=True)
    one, two = template.instantiate(), template.instantiate(lazy=True)
    one.instances["TravelAPI"].credit_card_list[card]["balance"] = -1
    assert two.instances["TravelAPI"].credit_card_list[card] == before
    assert CREDIT_CARD_EXTENSION[card] == before
    # A loaded back-end keeps the module's record itself: what a fresh load per episode leaks.
    loaded = Backends({"TravelAPI": TravelAPI}, {}, long_context=True)
    assert loaded.instances["TravelAPI"].credit_card_list[card] is CREDIT_CARD_EXTENSION[card]


def test_lazy_copies_are_made_on_the_first_call_and_the_shared_instance_never_changes():
    clear_caches()
    env = ToolUseEnv("bfcl")
    task = env.get_task("multi_turn_base_0")
    template = env._template(task)
    env.reset(options={"task_id": task.task_id})  # the task's first episode: instances of its own
    first = dict(env._agent.instances)
    assert template._shared is None and not env._agent._unpickle
    env.reset(options={"task_id": task.task_id})  # later ones read shared ones until they call
    assert all(env._agent.instances[n] is template._shared[n] for n in task.classes)
    assert all(first[n] is not template._shared[n] for n in task.classes)
    shared_before = {n: state_fingerprint({n: i}) for n, i in template._shared.items()}
    snapshot = env.get_state()
    env.step(env.oracle_action())
    owner = env._agent.routes[task.stages[0].gold[0].name]
    assert env._agent.instances[owner] is not template._shared[owner]
    env.set_state(snapshot)
    env.step(env.oracle_action())
    assert {n: state_fingerprint({n: i}) for n, i in template._shared.items()} == shared_before


@pytest.mark.parametrize("lazy_gold", [False, True])
def test_branching_from_an_episode_that_reads_a_cached_gold_run(lazy_gold):
    clear_caches()
    env = ToolUseEnv("bfcl", lazy_gold=lazy_gold)
    task = env.get_task("multi_turn_miss_func_3")
    for _ in range(2):
        _play(env, task.task_id, ref.gold_answer(task))
    env.reset(options={"task_id": task.task_id})
    assert (env._gold_run is None) is lazy_gold
    env.step(env.oracle_action())
    snapshot = env.get_state()

    def finish() -> list:
        out, done = [], False
        while not done:
            _, _, terminated, truncated, info = env.step(env.oracle_action())
            out.append((info["anchor"], info["signals"], info.get("stage_verdict")))
            done = terminated or truncated
        return out

    first = finish()
    env.set_state(snapshot)
    assert finish() == first and first[-1][1]["stage_passed"] == 1.0


def test_copy_arguments_copies_plain_values_without_aliasing():
    class Odd:
        def __init__(self) -> None:
            self.items = [1]

    arguments = {"a": [1, {"b": (2, [3])}], "s": "x", "n": None, "set": {4}, "odd": Odd()}
    copied = copy_arguments(arguments)
    assert copied["a"] == arguments["a"] and copied["set"] == {4} and copied["s"] == "x"
    assert copied["a"] is not arguments["a"] and copied["a"][1]["b"][1] is not arguments["a"][1]["b"][1]
    assert copied["odd"] is not arguments["odd"] and copied["odd"].items == [1]
    copied["a"][1]["b"][1].append(9)
    assert arguments["a"][1]["b"][1] == [3]


def test_environments_with_different_tasks_of_the_same_id_never_share_cached_runs():
    from turngym.envs.tool_use import generated

    clear_caches()
    easy = generated.generate_task("easy", "train", 0)
    hard = generated.generate_task("hard", "train", 0)
    imposter = type(hard)(**{**hard.__dict__, "task_id": easy.task_id})
    catalog = generated.catalog()
    envs = [ToolUseEnv([easy], catalog=catalog), ToolUseEnv([imposter], catalog=catalog)]
    for _ in range(3):
        for env in envs:
            _, info = env.reset(options={"task_id": easy.task_id})
            assert info["anchor"] == _true_anchor(env)
            done = False
            while not done:
                _, _, terminated, truncated, info = env.step(env.oracle_action())
                assert info["anchor"] == _true_anchor(env)
                done = terminated or truncated
            assert info["outcome"] == 1.0 and len(info["stage_verdicts"]) == len(env.task.stages)


def test_lru_drops_the_least_recently_used_entry():
    cache: LRU[str, int] = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now b is the oldest
    cache.put("c", 3)
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3 and len(cache) == 2
    with pytest.raises(ValueError, match="at least 1"):
        LRU(0)


def test_public_state_of_an_untouched_copy_equals_a_fresh_load_for_every_class():
    env = ToolUseEnv("bfcl")
    for task in bfcl.load_tasks("all")[::40]:
        copy = env._template(task).instantiate()
        fresh = Backends({n: env.catalog.classes[n] for n in task.classes}, task.initial_config,
                         long_context=task.long_context, stateless=env.catalog.stateless)
        for name in task.classes:
            assert public_state(copy.instances[name]) == public_state(fresh.instances[name]), task.task_id


def test_results_do_not_depend_on_precisions_left_set_in_the_process():
    """BFCL's executor leaves mpmath's and decimal's precision changed; a cached gold run
    written earlier must still equal the agent's results (found by the slow agreement test)."""
    import decimal

    import mpmath
    from bfcl_eval.eval_checker.multi_turn_eval.func_source_code.math_api import MathAPI

    backends = Backends({"MathAPI": MathAPI}, stateless=("MathAPI",))
    calls = [ParsedCall("logarithm", {"value": 630.0, "base": 10, "precision": 5}),
             ParsedCall("square_root", {"number": 2.0, "precision": 40}),
             ParsedCall("logarithm", {"value": -1.0, "base": 10, "precision": 5})]
    clean = [backends.execute(c) for c in calls]
    saved = mpmath.mp.prec, decimal.getcontext().prec
    try:
        mpmath.mp.dps, decimal.getcontext().prec = 5, 3
        assert [backends.execute(c) for c in calls] == clean
        assert (mpmath.mp.dps, decimal.getcontext().prec) == (5, 3)  # the caller's settings stay
    finally:
        mpmath.mp.prec, decimal.getcontext().prec = saved


def test_an_environment_can_keep_its_caches_apart():
    from turngym.envs.tool_use.gold import TaskCaches

    clear_caches()
    own = TaskCaches()
    env = ToolUseEnv("bfcl", caches=own)
    task = env.get_task("multi_turn_base_0")
    _play(env, task.task_id, ref.gold_answer(task))
    assert (id(env.catalog), task.task_id) in own.templates and len(CACHES.templates) == 0
    with pytest.raises(TypeError, match="TaskCaches"):
        ToolUseEnv("bfcl", caches={})


def test_remembered_result_texts_are_the_texts_a_fresh_run_writes():
    def observations(env: ToolUseEnv) -> list:
        env.reset(options={"task_id": "multi_turn_long_context_100"})  # get_stock_info: a long dict
        out, done = [], False
        while not done:
            obs, _, terminated, truncated, _ = env.step(env.oracle_action())
            out.extend(m["content"] for m in obs if m["role"] == "tool")
            done = terminated or truncated
        return out

    clear_caches()
    env = ToolUseEnv("bfcl")
    first, second = observations(env), observations(env)
    assert len(CACHES.result_texts) > 0
    assert first == second and any(a is b and len(a) > 1000 for a, b in zip(first, second))
    clear_caches()
    assert observations(ToolUseEnv("bfcl", lazy_gold=False)) == first


def test_strict_mode_takes_nothing_from_call_histories():
    """lazy_gold=False: every result text written out, every state hash computed afresh."""
    from turngym.envs.tool_use.gold import TaskCaches

    own = TaskCaches()
    env = ToolUseEnv("bfcl", lazy_gold=False, caches=own)
    task = env.get_task("multi_turn_long_context_100")  # get_stock_info: long dict results
    for _ in range(2):  # the second episode reads the task's cached gold run (a deterministic catalog)
        _play(env, task.task_id, ref.gold_answer(task))
    assert env._gold_run is not None and all(v["passed"] for v in env._verdicts)
    assert len(own.result_texts) == 0
    # only the hashes of back-ends no call went to (in the template's state) are remembered
    assert own.fingerprints._data and all(key[2] == b"" for key in own.fingerprints._data)


class SeededBackend:
    """A back-end with random generators (pickled by reference: defined at module level)."""

    def __init__(self) -> None:
        import random

        self._random = random.Random(7)
        self.nested = {"rng": random.Random(3)}


def test_template_copies_carry_random_generators_exactly():
    import pickle
    import random

    from turngym.envs.tool_use.backends import dumps

    original = SeededBackend()
    original._random.random()
    copy_ = pickle.loads(dumps(original))
    assert type(copy_._random) is random.Random and copy_._random is not original._random
    assert copy_._random.getstate() == original._random.getstate()
    assert copy_.nested["rng"].getstate() == original.nested["rng"].getstate()
    assert [copy_._random.random() for _ in range(3)] == [original._random.random() for _ in range(3)]
    catalog = bfcl.catalog()  # a BFCL back-end that draws (booking ids): the same draws after copying
    task = next(t for t in bfcl.load_tasks("all") if "TravelAPI" in t.classes)
    template = BackendTemplate({"TravelAPI": catalog.classes["TravelAPI"]}, task.initial_config,
                               stateless=catalog.stateless)
    one, two = template.instantiate(), template.instantiate()
    assert one.instances["TravelAPI"]._random.random() == two.instances["TravelAPI"]._random.random()
