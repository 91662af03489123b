"""Slow, obviously-correct reference implementations of the estimators, written straight
from the formulas with Python loops over episodes and turns. Tests compare the vectorised
estimators against these on random batches."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

import numpy as np

EPS = 1e-6
FLOOR = 1e-6


def norm(x: float, pool: list[float], mode: str = "std", eps: float = EPS) -> float:
    if len(pool) < 2:
        return 0.0
    mean = sum(pool) / len(pool)
    std = statistics.stdev(pool)
    if std < FLOOR:
        return 0.0
    return (x - mean) / (std + eps) if mode == "std" else x - mean


class Episodes:
    """The batch as {episode: [row indices sorted by turn]} and {group: [episodes]}."""

    def __init__(self, group_ids, episode_ids, turn_index):
        rows = defaultdict(list)
        self.group_of = {}
        for row, (g, e, t) in enumerate(zip(group_ids, episode_ids, turn_index)):
            rows[e].append((t, row))
            self.group_of[e] = g
        self.rows = {e: [row for _, row in sorted(r)] for e, r in rows.items()}
        self.members = defaultdict(list)
        for e, g in self.group_of.items():
            self.members[g].append(e)
        self.n = len(group_ids)


def returns(values: list[float], gamma: float, form: str) -> list[float]:
    out = []
    for t in range(len(values)):
        if form == "min":
            out.append(min(values[t:]))
        else:
            out.append(sum(gamma ** (k - t) * values[k] for k in range(t, len(values))))
    return out


def grpo(eps: Episodes, rewards, mode="std"):
    out = np.zeros(eps.n)
    for members in eps.members.values():
        totals = {e: sum(rewards[r] for r in eps.rows[e]) for e in members}
        for e in members:
            for r in eps.rows[e]:
                out[r] = norm(totals[e], list(totals.values()), mode)
    return out


def rloo(eps: Episodes, rewards):
    out = np.zeros(eps.n)
    for members in eps.members.values():
        totals = {e: sum(rewards[r] for r in eps.rows[e]) for e in members}
        values = list(totals.values())
        if len(values) < 2 or statistics.stdev(values) < FLOOR:
            continue
        for e in members:
            others = [totals[j] for j in members if j != e]
            for r in eps.rows[e]:
                out[r] = totals[e] - sum(others) / len(others)
    return out


def episode_returns(eps: Episodes, values, gamma, form):
    return {e: returns([values[r] for r in rows], gamma, form) for e, rows in eps.rows.items()}


def turn_discounted(eps: Episodes, rewards, gamma=1.0, min_episodes=2, form="sum"):
    G = episode_returns(eps, rewards, gamma, form)
    out = np.zeros(eps.n)
    for members in eps.members.values():
        everything = [x for e in members for x in G[e]]
        for e in members:
            for t, r in enumerate(eps.rows[e]):
                pool = [G[j][t] for j in members if len(G[j]) > t]
                if len(pool) >= min_episodes:
                    out[r] = norm(G[e][t], pool)
                else:
                    out[r] = norm(G[e][t], everything)
    return out


def gigpo(eps: Episodes, rewards, anchors, omega=1.0, gamma=0.95, form="sum"):
    G = episode_returns(eps, rewards, gamma, form)
    out = grpo(eps, rewards)
    for members in eps.members.values():
        steps = [(anchors[r], G[e][t]) for e in members for t, r in enumerate(eps.rows[e])]
        for e in members:
            for t, r in enumerate(eps.rows[e]):
                pool = [g for a, g in steps if a == anchors[r]]
                out[r] += omega * norm(G[e][t], pool)
    return out


def igpo(
    eps, rewards, info_gain, mode="joint", lambda_ig=1.0, lambda_out=1.0, gamma=1.0, form="sum"
):
    prime, last = {}, {}
    for rows in eps.rows.values():
        for t, r in enumerate(rows):
            last[r] = t == len(rows) - 1
            prime[r] = lambda_out * rewards[r] if last[r] else lambda_ig * info_gain[r]
    z = {}
    for members in eps.members.values():
        rows = [r for e in members for r in eps.rows[e]]
        for r in rows:
            if mode == "joint":
                pool = [prime[q] for q in rows]
            else:
                pool = [prime[q] for q in rows if last[q] == last[r]]
            z[r] = norm(prime[r], pool)
    out = np.zeros(eps.n)
    for rows in eps.rows.values():
        for r, value in zip(rows, returns([z[q] for q in rows], gamma, form)):
            out[r] = value
    return out


def a2tgpo(
    eps,
    rewards,
    info_gain,
    gamma=1.0,
    eps_clip=0.2,
    kappa=0.5,
    eps_min=0.1,
    eps_max=0.3,
    form="sum",
):
    z = np.zeros(eps.n)
    for members in eps.members.values():
        for e in members:
            rows = eps.rows[e]
            for t, r in enumerate(rows[:-1]):
                pool = [info_gain[eps.rows[j][t]] for j in members if t < len(eps.rows[j]) - 1]
                z[r] = norm(info_gain[r], pool)
    out = grpo(eps, rewards)
    clips = np.zeros(eps.n)
    for rows in eps.rows.values():
        T = len(rows)
        for t, r in enumerate(rows):
            if form == "sum":
                total = sum(gamma ** (k - t) * z[rows[k]] for k in range(t, T))
                out[r] += total / math.sqrt(T - t)
            elif t < T - 1:
                out[r] += min(z[rows[k]] for k in range(t, T - 1))
            clips[r] = min(max(eps_clip * (1 + kappa * math.tanh(z[r])), eps_min), eps_max)
    return out, clips


def mapo(eps, rewards, alpha=0.5, gamma=1.0, form="sum"):
    G = episode_returns(eps, rewards, gamma, form)
    everything = [x for values in G.values() for x in values]
    out = np.zeros(eps.n)
    for members in eps.members.values():
        for e in members:
            for t, r in enumerate(eps.rows[e]):
                pool = [G[j][t] for j in members if len(G[j]) > t]
                out[r] = alpha * norm(G[e][t], pool) + (1 - alpha) * norm(G[e][t], everything)
    return out


def mt_grpo(eps, rewards, lambda_turn=1.0):
    out = grpo(eps, rewards)
    for members in eps.members.values():
        for e in members:
            rows = eps.rows[e]
            for t, r in enumerate(rows[:-1]):
                pool = [rewards[eps.rows[j][t]] for j in members if t < len(eps.rows[j]) - 1]
                out[r] += lambda_turn * norm(rewards[r], pool)
    return out


def empg(eps, advantages, entropy, k=1.0, zeta=0.1):
    low, high = min(entropy), max(entropy)
    h = [(x - low) / (high - low) if high > low else 0.0 for x in entropy]
    g = [math.exp(-k * x) for x in h]
    mean_g = sum(g) / len(g)
    out = np.zeros(eps.n)
    for rows in eps.rows.values():
        for t, r in enumerate(rows):
            bonus = zeta * g[rows[t + 1]] if t + 1 < len(rows) else 0.0
            out[r] = advantages[r] * g[r] / mean_g + bonus
    return out
