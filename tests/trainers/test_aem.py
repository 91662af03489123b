"""AEM (arXiv:2605.00425): hand-computed values, the edge cases, the registry and the trainer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from turngym.trainers.advantages import (
    AdvantageResult,
    TurnBatch,
    a2tgpo_advantages,
    aem,
    empg,
    estimate,
    grpo_advantages,
)


def given(advantages, **batch_kwargs) -> tuple[AdvantageResult, TurnBatch]:
    """A base result with chosen advantages (row order of the batch), and its batch."""
    batch = TurnBatch.from_groups(**batch_kwargs)
    return AdvantageResult(advantages=np.asarray(advantages, dtype=float)), batch


# --------------------------------------------------------------------------- values


def test_hand_computed_values_over_three_groups():
    # Group a: 4 responses, entropies 0.2 0.6 | 1.0 0.2 -> range 0.8, H~ = 0, 0.5, 1, 0,
    #   g = 1, e^-0.5 = 0.60653066, e^-1 = 0.36787944, 1; mean g = 2.97441010 / 4 = 0.74360253,
    #   alpha = 1.34480447, 0.81566514, 0.49472592, 1.34480447.
    # Group b: one response -> range 0 -> alpha 1.
    # Group c: entropies 0.50, 0.55 -> range 0.05 < 0.1 -> alpha 1.
    base, batch = given(
        [1.0, 1.0, -1.0, -1.0, 3.0, 2.0, -2.0],
        rewards=[[[0, 1], [0, 0]], [[1]], [[1], [0]]],
        entropy=[[[0.2, 0.6], [1.0, 0.2]], [[0.9]], [[0.50], [0.55]]],
    )
    out = aem(base, batch)
    expected = [1.34480447, 0.81566514, -0.49472592, -1.34480447, 3.0, 2.0, -2.0]
    np.testing.assert_allclose(out.advantages, expected, atol=1e-8)
    report = out.diagnostics["aem"]
    assert report["groups"] == 3 and report["groups_unmodulated"] == 2
    assert report["alpha_max"] == pytest.approx(1.34480447)
    assert report["alpha_min"] == pytest.approx(0.49472592)
    assert out.diagnostics["estimator"] == "aem(?)"


def test_temperature_two_by_hand():
    # Entropies 0, 1 -> H~ = 0, 1; lam = 2: g = 1, e^-2 = 0.13533528; mean 0.56766764;
    # alpha = 1.76159416, 0.23840584.
    base, batch = given([0.5, 0.5], rewards=[[[0], [1]]], entropy=[[[0.0], [1.0]]])
    np.testing.assert_allclose(aem(base, batch, lam=2.0).advantages, [0.88079708, 0.11920292], atol=1e-8)


def test_on_grpo_the_docstring_example_holds():
    batch = TurnBatch.from_groups([[[0, 1], [0, 0]]], entropy=[[[0.2, 0.6], [1.0, 0.2]]])
    a = 0.5 / (math.sqrt(0.5) + 1e-6)  # GRPO: returns 1 and 0, sample std sqrt(0.5), eps 1e-6
    expected = np.array([a, a, -a, -a]) * [1.34480447, 0.81566514, 0.49472592, 1.34480447]
    np.testing.assert_allclose(aem(grpo_advantages(batch), batch).advantages, expected, atol=1e-8)


# --------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_all_positive_or_all_negative_group_keeps_signs_and_mean_scale(sign):
    advantages = sign * np.array([0.5, 2.0, 1.0, 1.5])
    base, batch = given(advantages, rewards=[[[0, 0], [0, 0]]], entropy=[[[0.0, 1.0], [0.5, 0.25]]])
    out = aem(base, batch).advantages
    alpha = out / advantages
    assert np.all(np.sign(out) == sign)
    assert alpha.mean() == pytest.approx(1.0)  # alpha has mean 1 over the group
    assert list(np.argsort(alpha)) == [1, 2, 3, 0]  # the lower the entropy, the larger alpha
    np.testing.assert_allclose(aem(AdvantageResult(-advantages), batch).advantages, -out)


def test_one_response_is_left_alone():
    base, batch = given([0.7], rewards=[[[1]]], entropy=[[[2.3]]])
    out = aem(base, batch)
    assert out.advantages.tolist() == [0.7]
    assert out.diagnostics["aem"]["groups_unmodulated"] == 1


def test_zero_advantages_stay_exactly_zero():
    # Equal rewards: GRPO gives exact zeros; AEM cannot make them anything else.
    batch = TurnBatch.from_groups([[[0, 1], [1, 0], [0, 1]]], entropy=[[[0.1, 2.0], [0.9, 0.3], [1.5, 0.0]]])
    out = estimate("grpo", batch, modifiers=["aem"])
    assert out.advantages.tolist() == [0.0] * 6
    assert out.diagnostics["aem"]["alpha_max"] > 1.0  # the group was modulated all the same


def test_the_range_threshold_is_strict():
    base, batch = given([1.0, 1.0], rewards=[[[0], [1]]], entropy=[[[0.0], [0.1]]])
    assert aem(base, batch).advantages[0] > 1.0  # range 0.1 is not < 0.1
    base, batch = given([1.0, 1.0], rewards=[[[0], [1]]], entropy=[[[0.0], [0.0999]]])
    assert aem(base, batch).advantages.tolist() == [1.0, 1.0]
    assert aem(base, batch, min_range=0.05).advantages[0] > 1.0
    base, batch = given([1.0, 1.0], rewards=[[[0], [1]]], entropy=[[[0.4], [0.4]]])
    assert aem(base, batch, min_range=0.0).advantages.tolist() == [1.0, 1.0]  # no 0/0


def test_lam_zero_is_the_identity():
    base, batch = given([1.0, -2.0, 0.5], rewards=[[[0, 1], [0]]], entropy=[[[0.0, 3.0], [1.0]]])
    assert aem(base, batch, lam=0.0).advantages.tolist() == [1.0, -2.0, 0.5]


def test_groups_are_modulated_independently():
    kwargs = {"rewards": [[[0], [1]], [[0], [1]]]}
    base, batch = given([1.0, 1.0, 1.0, 1.0], entropy=[[[0.0], [1.0]], [[0.0], [1.0]]], **kwargs)
    _, other = given([1.0, 1.0, 1.0, 1.0], entropy=[[[0.0], [1.0]], [[5.0], [0.2]]], **kwargs)
    np.testing.assert_array_equal(aem(base, batch).advantages[:2], aem(base, other).advantages[:2])
    assert not np.allclose(aem(base, batch).advantages[2:], aem(base, other).advantages[2:])


def test_row_order_does_not_matter():
    rows = [  # (group, episode, turn, reward, entropy)
        ("q1", 1, 0, 0.0, 0.3), ("q1", 1, 1, 1.0, 1.2), ("q1", 2, 0, 0.0, 0.1),
        ("q2", 3, 0, 1.0, 0.8), ("q2", 4, 0, 0.0, 0.2), ("q2", 4, 1, 0.5, 0.6),
    ]
    perm = [4, 0, 5, 2, 1, 3]

    def run(order):
        cols = list(zip(*[rows[i] for i in order]))
        batch = TurnBatch(cols[0], cols[1], cols[2], cols[3], entropy=cols[4])
        return estimate("rloo", batch, modifiers=["aem"]).advantages

    np.testing.assert_array_equal(run(perm), run(range(6))[perm])


def test_clip_ranges_pass_through():
    batch = TurnBatch.from_groups(
        [[[0, 1], [0, 0]]], info_gain=[[[0.5, 0.0], [0.1, 0.0]]], entropy=[[[0.1, 0.9], [0.4, 0.2]]]
    )
    base = a2tgpo_advantages(batch)
    assert aem(base, batch).clip_ranges is base.clip_ranges


# --------------------------------------------------------------------------- registry and errors


def test_registered_modifier_is_the_function():
    batch = TurnBatch.from_groups([[[0, 1], [0], [1, 0]]], entropy=[[[0.1, 0.9], [0.4], [1.3, 0.2]]])
    np.testing.assert_array_equal(
        estimate("grpo", batch, modifiers=["aem"]).advantages, aem(grpo_advantages(batch), batch).advantages
    )
    chained = estimate("grpo", batch, modifiers=[("aem", {"lam": 2.0, "min_range": 0.05})])
    np.testing.assert_array_equal(
        chained.advantages, aem(grpo_advantages(batch), batch, lam=2.0, min_range=0.05).advantages
    )
    assert chained.diagnostics["estimator"] == "aem(grpo)"
    both = estimate("grpo", batch, modifiers=["empg", "aem"])
    np.testing.assert_array_equal(both.advantages, aem(empg(grpo_advantages(batch), batch), batch).advantages)
    assert both.diagnostics["estimator"] == "aem(empg(grpo))"


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda r, b: aem(r, TurnBatch.from_groups([[[0], [1]]])), ValueError,
         "'aem' needs per-turn 'entropy'"),
        (lambda r, b: aem(r, TurnBatch.from_groups([[[0]]], entropy=[[[0.0]]])), ValueError,
         "pass the batch the result was computed on"),
        (lambda r, b: aem(r, b, lam=-1.0), ValueError, r"lam must be in \[0, inf\)"),
        (lambda r, b: aem(r, b, lam=True), TypeError, "lam must be a real number"),
        (lambda r, b: aem(r, b, min_range=math.nan), ValueError, "min_range must be finite"),
        (lambda r, b: aem(r.advantages, b), TypeError, "needs an AdvantageResult"),
        (lambda r, b: aem(r, "batch"), TypeError, "needs a TurnBatch"),
        (lambda r, b: estimate("grpo", b, modifiers=[("aem", {"temperature": 1})]), TypeError,
         r"modifier 'aem': unknown parameter\(s\) \['temperature'\]; accepted: lam, min_range"),
    ],
)
def test_errors_say_what_is_wrong(call, error, message):
    base, batch = given([1.0, -1.0], rewards=[[[1], [0]]], entropy=[[[0.0], [1.0]]])
    with pytest.raises(error, match=message):
        call(base, batch)


# --------------------------------------------------------------------------- trainer wiring


def test_config_accepts_aem_and_refuses_unknown_keys():
    from turngym.trainers.config import ConfigError, from_dict

    assert from_dict({"algorithm": {"aem": {}}}).algorithm.aem == {}
    assert from_dict({"algorithm": {"aem": {"lam": 2}}}).algorithm.aem == {"lam": 2}
    assert from_dict({}).algorithm.aem is None
    message = r"algorithm.aem: unknown key\(s\) \['k'\]; accepted: lam, min_range"
    with pytest.raises(ConfigError, match=message):
        from_dict({"algorithm": {"aem": {"k": 1}}})


def trainer_config(tmp_path, **algorithm):
    from turngym.trainers.config import from_dict

    return from_dict({
        "seed": 3,
        "output_dir": str(tmp_path / "run"),
        "env": {"id": "turngym/GuessNumber-v0"},
        "model": {"lora": None},
        "rollout": {"group_size": 4, "groups_per_step": 2, "max_new_tokens": 3},
        "algorithm": {"estimator": "grpo", **algorithm},
        "optim": {"lr": 0.01, "minibatch_episodes": 4, "micro_batch_episodes": 2, "ppo_epochs": 1},
        "train": {"steps": 1, "progress": False},
    })


def test_bad_aem_parameters_are_refused_before_any_model_is_loaded(tmp_path, monkeypatch):
    import turngym.trainers.loop as loop
    from tests.training.tiny import TwoDoorsEnv
    from turngym.trainers.config import ConfigError

    loaded = []
    monkeypatch.setattr(loop, "load_policy", lambda c: loaded.append(c))
    with pytest.raises(ConfigError, match=r"algorithm: lam must be in \[0, inf\)"):
        loop.Trainer(trainer_config(tmp_path, aem={"lam": -1.0}), env_factory=lambda: TwoDoorsEnv())
    assert loaded == []


def test_trainer_step_scores_entropy_and_applies_aem(tmp_path, monkeypatch):
    from tests.training.tiny import TwoDoorsEnv, tiny_policy
    from turngym.trainers.loop import Trainer

    seen = []
    real = Trainer.advantages

    def spy(self, batch):
        result = real(self, batch)
        seen.append((batch, result))
        return result

    monkeypatch.setattr(Trainer, "advantages", spy)
    trainer = Trainer(trainer_config(tmp_path, aem={"lam": 1.0}), policy=tiny_policy(seed=0),
                      env_factory=lambda: TwoDoorsEnv())
    metrics = trainer.train_step().metrics
    assert metrics["policy_tokens"] > 0
    [(batch, result)] = seen
    assert batch.entropy is not None and np.all(batch.entropy >= 0)  # the turns' mean token entropy
    assert result.diagnostics["estimator"] == "aem(grpo)"
    np.testing.assert_array_equal(result.advantages, aem(grpo_advantages(batch), batch).advantages)
