"""SLATE's variance claim, measured: truncated step-level sampling vs full-trajectory sampling.

SLATE (Samarinas, Chang & Zamani 2026, arXiv:2602.23440) proves that, under the same dense
per-step reward, sampling k continuations that share a prefix and differ only at step t
reduces the variance of step t's advantage estimate by up to a factor of T (the number of
steps) compared with sampling k full trajectories. This script measures it on a task whose
values are known exactly:

* T steps; at each step the policy takes action 1 with probability p (else 0) and the step
  reward is the action (a judge's dense reward). Steps are independent, so the true
  advantage of step t's action is ``a_t - p``.
* Full-trajectory sampling: k trajectories of T steps; step t's advantage is the trajectory's
  return centred in the group (turngym's ``grpo`` estimator, ``norm="mean"``), the same for
  every step of a trajectory.
* Truncated sampling: k continuations of step t from one shared prefix (what
  :func:`turngym.rollout.branching.branch` samples); step t's advantage is its reward
  centred among the k siblings (``grpo`` on one-step groups).

Both estimators have the same mean given ``a_t`` (``(1 - 1/k)(a_t - p)``); the script
prints, per T, the variance of each and the mean squared error against that mean, and
their ratios. Theory: the variance ratio is exactly T for independent steps (SLATE's bound
is attained); the error ratio grows faster than T, because the full estimator's error
carries the other T - 1 steps of its own trajectory as well as its siblings'.

Run: ``python benchmarks/slate_variance.py [--trials 4000] [--k 4] [--p 0.5]``; prints JSON.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from turngym.trainers.advantages import TurnBatch, estimate


def full_trajectory_advantages(rng: np.random.Generator, trials: int, k: int, steps: int, p: float):
    """(advantage of step 0, action of step 0) for every trajectory of ``trials`` groups of k."""
    actions = (rng.random((trials, k, steps)) < p).astype(float)
    groups = np.repeat(np.arange(trials), k * steps)
    episodes = np.repeat(np.arange(trials * k), steps)
    turns = np.tile(np.arange(steps), trials * k)
    batch = TurnBatch(groups, episodes, turns, actions.reshape(-1))
    adv = estimate("grpo", batch, norm="mean").advantages.reshape(trials, k, steps)
    return adv[:, :, 0].reshape(-1), actions[:, :, 0].reshape(-1)


def truncated_advantages(rng: np.random.Generator, trials: int, k: int, p: float):
    """(advantage, action) of k sibling continuations of one step, for ``trials`` shared prefixes."""
    actions = (rng.random((trials, k)) < p).astype(float)
    groups = np.repeat(np.arange(trials), k)
    batch = TurnBatch(groups, np.arange(trials * k), np.zeros(trials * k, dtype=int), actions.reshape(-1))
    return estimate("grpo", batch, norm="mean").advantages, actions.reshape(-1)


def measure(trials: int, k: int, p: float, horizons: list[int], seed: int = 0) -> dict:
    """Variance and error of both estimators for each horizon T."""
    rng = np.random.default_rng(seed)
    shrink = 1.0 - 1.0 / k
    rows = []
    for steps in horizons:
        full, a_full = full_trajectory_advantages(rng, trials, k, steps, p)
        trunc, a_trunc = truncated_advantages(rng, trials, k, p)
        var_full, var_trunc = float(full.var()), float(trunc.var())
        mse_full = float(np.mean((full - shrink * (a_full - p)) ** 2))
        mse_trunc = float(np.mean((trunc - shrink * (a_trunc - p)) ** 2))
        rows.append({
            "T": steps,
            "var_full": round(var_full, 5), "var_truncated": round(var_trunc, 5),
            "variance_ratio": round(var_full / var_trunc, 3),
            "theory_variance_ratio": float(steps),
            "mse_full": round(mse_full, 5), "mse_truncated": round(mse_trunc, 5),
            "mse_ratio": round(mse_full / max(mse_trunc, 1e-12), 3),
        })
    return {
        "task": "T independent Bernoulli(p) steps, dense reward r_t = a_t; true advantage a_t - p",
        "trials": trials, "k": k, "p": p, "seed": seed, "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=4000)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--p", type=float, default=0.5)
    parser.add_argument("--horizons", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps(measure(args.trials, args.k, args.p, args.horizons, args.seed), indent=2))


if __name__ == "__main__":
    main()
