"""A tiny word-level tokenizer, a tiny random model and a trivially learnable two-turn environment.

Together they let a learning test run in seconds on a CPU: the model's whole
vocabulary is a dozen words, so a random policy hits the right word by chance
often enough for group-relative estimators to find it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from turngym.agents.hf_policy import HFPolicy
from turngym.core import ActionError, ParsedCall, Transition, TurnEnv
from turngym.core.messages import Message, user

SPECIAL = ["<pad>", "</s>", "<|user|>", "<|assistant|>", "<|system|>", "<unk>"]
WORDS = ["left", "right", "up", "down", "open", "wait", "door", "pick", "good", "bad", "now", "the", " "]
TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def word_tokenizer() -> PreTrainedTokenizerFast:
    """A fast tokenizer over :data:`WORDS` whose decode concatenates tokens exactly."""
    vocab = {token: i for i, token in enumerate(SPECIAL + WORDS)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[a-z]+|\s+|[^a-z\s]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
        additional_special_tokens=["<|user|>", "<|assistant|>", "<|system|>"],
    )
    tokenizer.chat_template = TEMPLATE
    return tokenizer


def tiny_policy(seed: int = 0, hidden: int = 64) -> HFPolicy:
    """A randomly initialised two-layer Llama over :func:`word_tokenizer`."""
    tokenizer = word_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
        bos_token_id=None, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.eval()
    return HFPolicy(model, tokenizer, name="tiny-llama", end_token_ids=[tokenizer.eos_token_id])


class TwoDoorsEnv(TurnEnv):
    """Say ``left`` on the first turn and ``right`` on the second: 0.5 for each.

    The action is free text; it counts when it starts with the wanted word. The anchor is the turn and
    whether the first door was right, so GiGPO can compare steps from one state.
    """

    signal_names = ("door_correct",)
    default_action_formats = ("tagged",)

    def __init__(self, probe: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("max_turns", 2)
        super().__init__(**kwargs)
        self.with_probe = probe
        self._score = 0.0

    def _reset_task(self, options: Mapping[str, Any]) -> tuple[str, list[Message]]:
        self._score = 0.0
        return "doors", [user("pick the door")]

    def _parse(self, action: Any) -> list[ParsedCall] | ActionError:
        text = action if isinstance(action, str) else str(action.get("content") or "")
        return [ParsedCall("say", {"text": text.strip()})]

    def _apply(self, calls: list[ParsedCall]) -> Transition:
        wanted = "left" if self.turn == 1 else "right"
        correct = calls[0].arguments["text"].startswith(wanted)
        self._score += 0.5 * correct
        last = self.turn == 2
        reply = user("good" if correct else "bad")
        return Transition([reply], {"door_correct": float(correct)}, terminated=last,
                          outcome=self._score if last else None)

    def _anchor(self) -> str:
        return f"turn{self.turn}:{self._score}"

    def _probe(self) -> dict[str, Any] | None:
        if not self.with_probe:
            return None
        return {"answers": ["left" if self.turn == 0 else "right"], "forcing_prefix": ""}

    def oracle_action(self) -> str:
        return "left" if self.turn == 0 else "right"
