"""ToolUse: stateful multi-turn tool use on BFCL v4's back-ends and on turngym's generated APIs.

Each user turn is a stage, judged as BFCL judges it (state and response checks against a
run of the gold calls) and scored with MatchTIR's bipartite matching of the calls. See
:mod:`.env` for the episode, :mod:`.bfcl` and :mod:`.generated` for the tasks.
"""
