"""Incremental templating: the prefix property holds for SmolLM2 and a Llama-3-style family, and
templates that break it fail loudly, naming the template."""

from __future__ import annotations

import copy

import pytest

from turngym.agents.chat_template import ChatTemplate, ChatTemplateError, TemplatePrefixError

LLAMA3 = (
    "<|begin_of_text|>{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
TRIM = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] | trim }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
OPENING = [{"role": "system", "content": "Guess."}, {"role": "user", "content": "1 to 16"}]


def _ids(tok, text):
    return tok(text, add_special_tokens=False)["input_ids"]


def _play(template, tok, actions, end):
    conv = template.start(OPENING)
    history = list(OPENING)
    for n, text in enumerate(actions):
        sampled = _ids(tok, text) + ([end] if end is not None else [])
        before = list(conv.ids)
        reply = [{"role": "user", "content": f"reply {n}"}]
        turn = conv.add_turn(sampled, reply)
        assert turn.action_text == text
        assert conv.ids == before + sampled + turn.observation_ids  # prompt t+1 = prompt t + action + reply
        history += [{"role": "assistant", "content": text}, *reply]
    return conv, history


def test_smollm2_template_stream_decodes_to_the_rendered_conversation(smol_tokenizer):
    tok = smol_tokenizer
    template = ChatTemplate(tok)
    # ended by the model's <|im_end|>, and cut short without one (max tokens / stop string)
    conv, history = _play(template, tok, ["<guess>8</guess>", " spaced  out \n", "ok"], tok.eos_token_id)
    assert tok.decode(conv.ids) == template.render(history, add_generation_prompt=True)
    conv, history = _play(template, tok, ["<guess>4", "x"], None)
    assert tok.decode(conv.ids) == template.render(history, add_generation_prompt=True)


def test_llama3_family_with_its_own_special_tokens(smol_tokenizer):
    tok = copy.deepcopy(smol_tokenizer)
    markers = ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    tok.add_special_tokens({"additional_special_tokens": markers})
    eot = tok.convert_tokens_to_ids("<|eot_id|>")
    template = ChatTemplate(tok, chat_template=LLAMA3, end_token_ids=[eot])
    conv, history = _play(template, tok, ["<guess>8</guess>", "hmm"], eot)
    assert tok.decode(conv.ids) == template.render(history, add_generation_prompt=True)
    assert conv.ids[0] == tok.convert_tokens_to_ids("<|begin_of_text|>")


def test_template_that_rewrites_content_fails_loudly(smol_tokenizer):
    template = ChatTemplate(smol_tokenizer, chat_template=TRIM, name="trimming-template")
    conv = template.start(OPENING)
    before = list(conv.ids)
    with pytest.raises(TemplatePrefixError, match="trimming-template.*does not start with the sampled"):
        conv.add_turn(_ids(smol_tokenizer, " <guess>3</guess> "), [{"role": "user", "content": "no"}])
    assert conv.ids == before and conv.turns == 0  # unchanged after the error


def test_missing_or_broken_template_is_a_clear_error(smol_tokenizer):
    with pytest.raises(ChatTemplateError, match="no chat template"):
        ChatTemplate(smol_tokenizer, chat_template="")
    broken = ChatTemplate(smol_tokenizer, chat_template="{{ raise_exception('roles must alternate') }}")
    with pytest.raises(ChatTemplateError, match="cannot render"):
        broken.start(OPENING)
