"""Action parsers: every documented malformed case gets its specific error; nothing raises."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from turngym.core.actions import (
    ActionError,
    ParsedCall,
    ToolSpec,
    parse_action,
    parse_python_calls,
    parse_tagged,
    parse_tool_calls,
)

SEARCH = ToolSpec(
    "search",
    "Search the corpus.",
    {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    tag="search",
)
ANSWER = ToolSpec(
    "answer",
    "Give the final answer.",
    {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    tag="answer",
)
MOVE = ToolSpec(
    "move",
    "Move.",
    {
        "type": "object",
        "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}, "fast": {"type": "boolean"}},
        "required": ["x", "y"],
    },
)
TOOLS = (SEARCH, ANSWER, MOVE)


def call(name, args, call_id="c1"):
    return {"role": "assistant", "content": None,
            "tool_calls": [{"id": call_id, "type": "function",
                            "function": {"name": name, "arguments": args}}]}


def test_tagged_action_with_reasoning_around_it():
    result = parse_tagged("I should look it up. <search> capital of France </search>", TOOLS)
    assert result == [ParsedCall("search", {"query": "capital of France"})]


def test_think_blocks_are_ignored():
    text = "<think>maybe <answer>Lyon</answer>?</think><answer>Paris</answer>"
    assert parse_tagged(text, TOOLS) == [ParsedCall("answer", {"text": "Paris"})]


@pytest.mark.parametrize(
    ("text", "kind", "phrase"),
    [
        ("just words", "no_action", "No action found"),
        ("<search>a", "unbalanced_tag", "never closed"),
        ("a</search>", "unbalanced_tag", "never opened"),
        ("<search>a</answer>", "unbalanced_tag", "was closed by </answer>"),
        ("<search><answer>x</answer></search>", "nested_tag", "cannot be nested"),
        ("<answer>   </answer>", "empty_argument", "is empty"),
        ("<lookup>x</lookup>", "unknown_tag", "<lookup> is not an action here"),
        ("<search>a</search><answer>b</answer>", "too_many_calls", "at most 1"),
        ("x" * 200_001, "too_long", "at most 200000"),
    ],
)
def test_tagged_malformed_cases(text, kind, phrase):
    result = parse_tagged(text, TOOLS)
    assert isinstance(result, ActionError)
    assert result.kind == kind
    assert phrase in result.message
    if kind not in ("too_long", "empty_argument"):
        assert "<search>...</search>" in result.message  # says what is accepted


def test_tool_calls_with_json_string_or_dict_arguments():
    assert parse_tool_calls(call("search", '{"query": "q"}'), TOOLS) == [
        ParsedCall("search", {"query": "q"}, "c1")
    ]
    assert parse_tool_calls(call("move", {"x": 1, "y": 2}), TOOLS) == [
        ParsedCall("move", {"x": 1, "y": 2}, "c1")
    ]


@pytest.mark.parametrize(
    ("message", "kind", "phrase"),
    [
        ("text", "not_message", "Expected an assistant message"),
        ({"role": "assistant", "content": "hi"}, "no_action", "No tool call"),
        ({"role": "assistant", "tool_calls": "x"}, "bad_tool_call", "must be a list"),
        ({"role": "assistant", "tool_calls": [{"type": "function"}]}, "bad_tool_call", "no function name"),
        (call("fly", "{}"), "unknown_tool", "Unknown tool 'fly'. Tools: search, answer, move"),
        (call("search", "{query: q}"), "bad_json", "not valid JSON"),
        (call("search", "[1, 2]"), "bad_arguments", "must be a JSON object"),
        (call("search", "{}"), "bad_arguments", "missing required argument(s): query"),
        (call("search", '{"query": "q", "k": 3}'), "bad_arguments", "unknown argument(s): k"),
        (call("move", '{"x": "1", "y": 2}'), "bad_arguments", "'x' must be of type integer"),
        (call("move", '{"x": true, "y": 2}'), "bad_arguments", "'x' must be of type integer"),
    ],
)
def test_tool_call_malformed_cases(message, kind, phrase):
    result = parse_tool_calls(message, TOOLS)
    assert isinstance(result, ActionError), result
    assert result.kind == kind
    assert phrase in result.message


def test_python_calls_single_list_fenced_and_positional():
    assert parse_python_calls('move(x=1, y=2, fast=True)', TOOLS) == [
        ParsedCall("move", {"x": 1, "y": 2, "fast": True})
    ]
    assert parse_python_calls('[search("a"), answer(text="b")]', TOOLS) == [
        ParsedCall("search", {"query": "a"}),
        ParsedCall("answer", {"text": "b"}),
    ]
    fenced = "Here you go:\n```python\nmove(3, 4)\n```"
    assert parse_python_calls(fenced, TOOLS) == [ParsedCall("move", {"x": 3, "y": 4})]


def test_python_calls_are_never_evaluated(tmp_path):
    marker = tmp_path / "pwned"
    text = f"search(query=__import__('os').system('touch {marker}'))"
    result = parse_python_calls(text, TOOLS)
    assert isinstance(result, ActionError) and result.kind == "non_literal"
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "kind", "phrase"),
    [
        ("move(x=1,", "syntax_error", "Could not parse the call at line 1"),
        ("42", "not_a_call", "Expected a function call"),
        ("", "not_a_call", "No call found"),
        ("(lambda: 1)()", "not_a_call", "plain function name"),
        ("fly(x=1)", "unknown_tool", "Unknown function 'fly'"),
        ("move(x=y, y=2)", "non_literal", "must be a literal"),
        ("move(**{'x': 1})", "non_literal", "**kwargs"),
        ("move(1, 2, True, 4)", "bad_arguments", "at most 3 positional"),
        ("move(1, x=2, y=3)", "bad_arguments", "argument 'x' twice"),
        ("move(x=1)", "bad_arguments", "missing required argument(s): y"),
        (b"move(x=1)", "not_text", "must be text"),
    ],
)
def test_python_malformed_cases(text, kind, phrase):
    result = parse_python_calls(text, TOOLS)
    assert isinstance(result, ActionError), result
    assert result.kind == kind
    assert phrase in result.message


def test_parse_action_dispatches_on_shape():
    assert parse_action("<search>x</search>", TOOLS) == [ParsedCall("search", {"query": "x"})]
    assert parse_action({"role": "assistant", "content": "<answer>y</answer>"}, TOOLS) == [
        ParsedCall("answer", {"text": "y"})
    ]
    assert parse_action(call("search", '{"query": "z"}'), TOOLS)[0].call_id == "c1"
    refused = parse_action(call("search", '{"query": "z"}'), TOOLS, formats=("tagged",))
    assert isinstance(refused, ActionError) and refused.kind == "format_not_accepted"
    python = parse_action("move(x=1, y=2)", TOOLS, formats=("tagged", "python"))
    assert python == [ParsedCall("move", {"x": 1, "y": 2})]
    assert isinstance(parse_action(3.5, TOOLS), ActionError)
    with pytest.raises(ValueError, match="accepted: tagged, tool_calls, python"):
        parse_action("x", TOOLS, formats=("xml",))


def test_tool_spec_rejects_a_tag_without_argument():
    with pytest.raises(ValueError, match="no tag_argument"):
        ToolSpec("t", "d", {"type": "object", "properties": {}, "required": []}, tag="t")
    assert SEARCH.to_openai()["function"]["parameters"]["required"] == ["query"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_text_parsers_never_raise(text):
    for parser in (parse_tagged, parse_python_calls):
        result = parser(text, TOOLS)
        assert isinstance(result, (list, ActionError))
    assert isinstance(parse_action(text, TOOLS, formats=("tagged", "tool_calls", "python")),
                      (list, ActionError))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["<search>", "</search>", "<answer>", "</answer>", "<think>",
                                 "</think>", "a", " ", "<x>", "</x>", "\n"]), max_size=12))
def test_tagged_parser_never_raises_on_tag_soup(pieces):
    assert isinstance(parse_tagged("".join(pieces), TOOLS), (list, ActionError))


@settings(max_examples=200, deadline=None)
@given(json_values, st.sampled_from(["search", "answer", "move", "nope"]), st.booleans())
def test_tool_call_parser_never_raises(arguments, name, as_string):
    payload = json.dumps(arguments) if as_string else arguments
    result = parse_tool_calls(call(name, payload), TOOLS)
    assert isinstance(result, (list, ActionError))


def test_many_unknown_tags_before_an_action():
    """60,000 characters of unknown tags (each used to rescan the rest of the text: seconds)."""
    tools = [ToolSpec("search", "s", {"type": "object", "properties": {"query": {"type": "string"}},
                                        "required": ["query"]}, tag="search")]
    result = parse_tagged("<b>" * 20_000 + "<search>q</search>", tools)
    assert [c.arguments for c in result] == [{"query": "q"}]
    assert parse_tagged("<b>" * 20_000 + "<x>q</X >", tools).kind == "unknown_tag"
