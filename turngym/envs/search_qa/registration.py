"""Register SearchQA's ids (string entry points only: importing this is cheap)."""

from turngym.core.registry import register

_ENTRY = "turngym.envs.search_qa.env:SearchQAEnv"

register("SearchQA-v0", _ENTRY,
         "the same as SearchQA-Medium-v0 (its default level): 1-2 hop search-QA, ~550 passages")
register("SearchQA-Easy-v0", _ENTRY, "1-hop search-QA: the question text finds the answer page first",
         level="easy")
register("SearchQA-Medium-v0", _ENTRY, "1-2 hop search-QA with near-miss distractors (~550 passages)",
         level="medium")
register("SearchQA-Hard-v0", _ENTRY, "2-4 hop search-QA with many distractors (~4,000 passages)",
         level="hard")
register("SearchQA-Huge-v0", _ENTRY, "1-4 hop search-QA over 100,000 passages (index cached on disk)",
         level="huge")
register("SearchQA-Starter-v0", _ENTRY,
         "easy level for small models: the question's search results shown, plain-text answers accepted",
         level="easy", first_search=True, bare_answers=True, max_turns=2)
register("SearchQA-Tagged-v0", _ENTRY,
         "easy level that needs a search: nothing shown up front, <search>/<answer> tags required, "
         "2 short passages per search (the multi-turn CPU demo)",
         level="easy", top_k=2, passage_chars=160, max_turns=4)
