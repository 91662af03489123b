"""Incremental chat templating: the token stream of a multi-turn episode, built once and never re-tokenised.

A conversation's token stream is ``opening + action_0 + observation_0 +
action_1 + ...``: the opening is the chat template applied to the reset
messages with the generation prompt; each ``action_t`` is exactly the ids the
policy sampled; each ``observation_t`` is what the template adds after the
action: the rest of the assistant turn's closing (``"\\n"`` after an
``<|im_end|>`` the model emitted, or the whole closing when sampling stopped
early), the environment's reply messages and the next generation prompt. So
the prompt of turn t+1 is, by construction, the tokens of turn t plus the
environment's reply tokens, and loss masks come from these spans.

That construction is only right when the template renders a conversation as a
prefix-extension of its earlier renderings. Every turn checks it, in token ids:

1. ``template(history + action)`` starts with ``template(history, generation prompt)``
   (as text: the action's tokens are the sampled ones, so only the text must agree);
2. the assistant's rendered content is the sampled text itself (templates that
   trim whitespace or strip reasoning from it fail here);
3. ``template(history + action + reply, generation prompt)`` starts with
   ``template(history + action)`` as token ids, so that the reply's tokens are
   the difference of the two (templates that rewrite earlier turns once a
   later one exists, e.g. dropping past ``<think>`` blocks, fail here).

A failure raises :class:`TemplatePrefixError` naming the template, the turn
and where the renderings diverge; it is never silently patched over.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from turngym.core.messages import Message


class ChatTemplateError(ValueError):
    """The chat template cannot render a conversation (missing template, bad roles, ...)."""


class TemplatePrefixError(ChatTemplateError):
    """The chat template breaks the prefix property that token-in/token-out rollouts need."""


@dataclass(frozen=True)
class TurnTokens:
    """What one turn adds to the stream: the text the environment gets and the reply's tokens."""

    action_text: str
    observation_ids: list[int]


class ChatTemplate:
    """A tokenizer's chat template, applied incrementally (see the module docstring).

    Args:
        tokenizer: a Hugging Face tokenizer with a chat template.
        chat_template: a Jinja template to use instead of the tokenizer's own.
        name: how errors name the template (default: the tokenizer's name and a
            hash of the template text).
        end_token_ids: ids that end an assistant turn when the model samples
            them (default: the tokenizer's EOS). They stay in the action's ids but
            not in the text the environment receives.
        tools: OpenAI-format tool schemas given to the template, for templates
            that describe tools in the prompt.
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        chat_template: str | None = None,
        name: str | None = None,
        end_token_ids: Iterable[int] | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        template = chat_template if chat_template is not None else getattr(tokenizer, "chat_template", None)
        if not isinstance(template, str) or not template:
            raise ChatTemplateError(
                f"tokenizer {getattr(tokenizer, 'name_or_path', type(tokenizer).__name__)!r} has no chat "
                "template; pass chat_template=... (a Jinja string)"
            )
        self.tokenizer = tokenizer
        self.template = template
        digest = hashlib.sha1(template.encode("utf-8")).hexdigest()[:8]
        owner = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        self.name = name or f"chat template of {owner} (sha1 {digest})"
        if end_token_ids is None:
            eos = getattr(tokenizer, "eos_token_id", None)
            end_token_ids = [eos] if isinstance(eos, int) else []
        self.end_token_ids = frozenset(int(i) for i in end_token_ids)
        self.tools = list(tools) if tools else None

    def render(self, messages: Sequence[Message], *, add_generation_prompt: bool) -> str:
        """The template's text for ``messages``."""
        try:
            text = self.tokenizer.apply_chat_template(
                list(messages),
                chat_template=self.template,
                tools=self.tools,
                tokenize=False,
                add_generation_prompt=add_generation_prompt,
            )
        except Exception as exc:
            raise ChatTemplateError(f"{self.name} cannot render this conversation: {exc}") from exc
        if not isinstance(text, str):
            raise ChatTemplateError(f"{self.name} rendered {type(text).__name__}, expected text")
        return text

    def encode(self, text: str) -> list[int]:
        """Token ids of template text (special-token markers in it become their ids; no BOS added)."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def start(self, opening: Sequence[Message]) -> Conversation:
        """A conversation whose first prompt is the opening messages plus the generation prompt."""
        return Conversation(self, opening)


class Conversation:
    """One episode's messages and token stream; :attr:`ids` is the next prompt."""

    def __init__(self, template: ChatTemplate, opening: Sequence[Message]) -> None:
        self.template = template
        self.messages: list[Message] = copy.deepcopy(list(opening))
        self._rendered = template.render(self.messages, add_generation_prompt=True)
        self._rendered_ids = template.encode(self._rendered)
        self.prompt_ids: list[int] = list(self._rendered_ids)
        self.ids: list[int] = list(self._rendered_ids)
        self.turns = 0

    def action_text(self, action_ids: Sequence[int]) -> str:
        """The text of sampled ids as the environment receives it: decoded, minus a final end token."""
        ids = list(action_ids)
        if ids and ids[-1] in self.template.end_token_ids:
            ids = ids[:-1]
        return self.template.tokenizer.decode(ids, skip_special_tokens=False)

    def add_turn(self, action_ids: Sequence[int], reply: Sequence[Message]) -> TurnTokens:
        """Append the sampled action and the environment's reply; return the reply's tokens.

        Raises :class:`TemplatePrefixError` when the template breaks the prefix
        property (see the module docstring); the conversation is then unchanged.
        """
        template = self.template
        action_ids = [int(i) for i in action_ids]
        text = self.action_text(action_ids)
        turn = self.turns
        action_message: Message = {"role": "assistant", "content": text}
        with_action = [*self.messages, action_message]
        after_action = template.render(with_action, add_generation_prompt=False)
        if not after_action.startswith(self._rendered):
            self._diverged(self._rendered, after_action, turn, "adding the assistant's turn")
        after_action_ids = template.encode(after_action)
        segment = after_action[len(self._rendered):]
        if not segment.startswith(text):
            raise TemplatePrefixError(
                f"{template.name} renders the assistant's turn {turn} as {segment[:80]!r}, which does not "
                f"start with the sampled text {text[:80]!r} (the template rewrites assistant content, e.g. "
                "trims whitespace or strips reasoning), so trained tokens would differ from sampled ones"
            )
        closing_ids = template.encode(segment[len(text):])
        if action_ids and action_ids[-1] in template.end_token_ids and closing_ids[:1] == action_ids[-1:]:
            closing_ids = closing_ids[1:]  # the model already sampled the template's end-of-turn token
        full = [*with_action, *copy.deepcopy(list(reply))]
        rendered = template.render(full, add_generation_prompt=True)
        rendered_ids = template.encode(rendered)
        self._check_prefix(after_action_ids, rendered_ids, turn, "adding the environment's reply")
        observation_ids = closing_ids + rendered_ids[len(after_action_ids):]
        self.messages = full
        self._rendered, self._rendered_ids = rendered, rendered_ids
        self.ids.extend(action_ids)
        self.ids.extend(observation_ids)
        self.turns += 1
        return TurnTokens(text, observation_ids)

    def _diverged(self, before: str, after: str, turn: int, what: str) -> None:
        at = next((i for i, (a, b) in enumerate(zip(before, after)) if a != b), min(len(before), len(after)))
        raise TemplatePrefixError(
            f"{self.template.name} breaks the prefix property at turn {turn} when {what}: the earlier "
            f"rendering is not a prefix of the new one (they differ at character {at}: "
            f"{before[max(0, at - 20):at + 40]!r} became {after[max(0, at - 20):at + 40]!r}). "
            "Token-in/token-out rollouts need a template that only appends; use another template "
            "(chat_template=...)"
        )

    def _check_prefix(self, before: list[int], after: list[int], turn: int, what: str) -> None:
        if after[: len(before)] == before:
            return
        at = next(
            (i for i, (a, b) in enumerate(zip(before, after)) if a != b), min(len(before), len(after))
        )
        decode = self.template.tokenizer.decode
        raise TemplatePrefixError(
            f"{self.template.name} breaks the prefix property at turn {turn} when {what}: the earlier "
            f"rendering is not a token prefix of the new one (they differ at token {at}: "
            f"{decode(before[at:at + 12])!r} became {decode(after[at:at + 12])!r}). Token-in/token-out "
            "rollouts need a template that only appends; use another template (chat_template=...)"
        )
