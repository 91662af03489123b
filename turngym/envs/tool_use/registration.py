"""Register ToolUse's ids (string entry points only: importing this is cheap)."""

from turngym.core.registry import register

_ENTRY = "turngym.envs.tool_use.env:ToolUseEnv"

register("ToolUse-BFCL-v0", _ENTRY,
         "BFCL v4 multi-turn, all 800 tasks (base, miss_func, miss_param, long_context), judged per turn",
         tasks="bfcl", categories="all")
register("ToolUse-BFCL-Base-v0", _ENTRY, "BFCL v4 multi_turn_base (200 tasks) on BFCL's executable back-ends",
         tasks="bfcl", categories="base")
register("ToolUse-BFCL-MissFunc-v0", _ENTRY,
         "BFCL v4 multi_turn_miss_func (200): a function is held out and revealed at a later turn",
         tasks="bfcl", categories="miss_func")
register("ToolUse-BFCL-MissParam-v0", _ENTRY,
         "BFCL v4 multi_turn_miss_param (200): a turn lacks a value, the right move is to ask",
         tasks="bfcl", categories="miss_param")
register("ToolUse-BFCL-LongContext-v0", _ENTRY,
         "BFCL v4 multi_turn_long_context (200): the back-ends hold long files and lists",
         tasks="bfcl", categories="long_context")
register("ToolUse-Easy-v0", _ENTRY, "generated tool use: 2 turns of 1 call on one of turngym's APIs",
         tasks="generated", level="easy")
register("ToolUse-v0", _ENTRY, "generated tool use: 3 turns of 1-2 calls, a distractor API (medium level)",
         tasks="generated", level="medium")
register("ToolUse-Hard-v0", _ENTRY,
         "generated tool use: 4+ turns of 2-3 calls, 2 APIs + a distractor, a missing function and parameter",
         tasks="generated", level="hard")
