"""``SearchQAEnv``: search a corpus over several turns, then answer.

Each turn the agent either searches (``<search>query</search>`` or a ``search``
tool call) and gets the top-k passages back, or answers (``<answer>text</answer>``
or an ``answer`` tool call), which ends the episode with outcome = answer F1
(SQuAD normalisation, best over the aliases).

Signals on every step (see :data:`SIGNALS`): ``valid_action``, ``format``,
``evidence_gain`` (share of the task's evidence units first retrieved this
turn: each gold supporting passage, plus one unit for any passage that
mentions an answer alias), ``repeated_query`` (1.0 when the normalised query
was already searched in this episode) and ``exact_match`` (on the answer).
``anchor`` is ``task_id|hash(set of passage ids retrieved so far)``: two
episodes that retrieved the same passages share it whatever the order.
``probe`` gives the answer aliases and ``<answer>`` / ``</answer>`` for
belief-gain scoring.

Tasks come from a generated fictional world (``level=...``, the default) or
from files: ``hotpotqa_path=...``, or ``qa_path=...`` (Search-R1 JSONL/Parquet)
with ``corpus_path=...`` (JSONL of ``id``/``contents``) or a ``retriever_url``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from turngym.core import ActionError, ParsedCall, ToolSpec, Transition, TurnEnv
from turngym.core.messages import Action, Message, system, user
from turngym.envs.search_qa.corpus import Corpus, QATask
from turngym.envs.search_qa.retrieval import Retriever, SearchHit
from turngym.envs.search_qa.sources import TaskSource, load_source
from turngym.verifiers.answer_match import AnswerF1, normalize_answer
from turngym.verifiers.evidence import EvidenceTracker

SIGNALS: tuple[str, ...] = ("evidence_gain", "repeated_query", "exact_match")

SEARCH_TOOL = ToolSpec(
    "search",
    "Search the corpus; returns the top passages (title and text) for the query.",
    {"type": "object", "properties": {"query": {"type": "string", "description": "search query"}},
     "required": ["query"]},
    tag="search",
)
ANSWER_TOOL = ToolSpec(
    "answer",
    "Give the final answer (a short name, word or number); this ends the episode.",
    {"type": "object", "properties": {"answer": {"type": "string", "description": "the final answer"}},
     "required": ["answer"]},
    tag="answer",
)

SYSTEM_PROMPT = (
    "Answer the question using a search engine over an encyclopedia. You may search several times; "
    "the facts may need several searches, one per step of reasoning. To search, write "
    "<search>your query</search>. When you know the answer, write <answer>the answer</answer> with "
    "a short name, word or number only."
)

STARTER_PROMPT = (
    "Answer the question with a short name, word or number only, using the search results given. "
    "To search again, write <search>your query</search>."
)
"""The system prompt when the question's results are shown and plain answers are accepted."""

_LEVEL_TURNS = {"easy": 4, "medium": 6, "hard": 8, "huge": 8}
_WORDS = re.compile(r"\w", re.UNICODE)


class SearchQAEnv(TurnEnv):
    """Multi-hop search-QA over a generated fictional world or a loaded dataset.

    Args:
        level: generated world level, ``"easy"``, ``"medium"`` (default), ``"hard"`` or ``"huge"``
            (see :data:`turngym.envs.search_qa.world.LEVELS`); ignored when a dataset is given.
        world_seed: which world of that level; ``num_tasks``: how many questions it asks.
        hotpotqa_path: a HotpotQA JSON file (its context paragraphs form the corpus).
        qa_path / corpus_path: Search-R1-style QA (JSONL or Parquet) and corpus JSONL.
        retriever: ``"bm25"`` (default), ``"dense"`` (MiniLM, offline), ``"http"`` (needs
            ``retriever_url``) or any object with ``search(query, k) -> list[SearchHit]``.
        top_k: passages per search. ``cache_dir``: BM25 index cache (``None`` = the default
            ``$TURNGYM_CACHE``/``~/.cache/turngym`` for corpora of 20,000+ passages and memory
            only below that; a path; or ``False`` for never).
        max_query_chars: longer queries are refused; ``passage_chars``: passages are cut to this.
        max_turns: default by level (easy 4, medium 6, hard/huge 8) or 8 for datasets.
        first_search: show the results of searching the question itself in the opening message
            (they count as retrieved), so a model that cannot yet write a search still sees evidence.
        bare_answers: take a reply with no action tag as the answer (scored by F1) instead of an
            invalid action; for small models that have not learnt the tags.
        **kwargs: the rest of :class:`~turngym.core.TurnEnv`'s arguments.
    """

    signal_names: ClassVar[tuple[str, ...]] = SIGNALS
    tools: Sequence[ToolSpec] = (SEARCH_TOOL, ANSWER_TOOL)

    def __init__(
        self,
        level: str = "medium",
        *,
        world_seed: int = 0,
        num_tasks: int = 1000,
        hotpotqa_path: str | os.PathLike[str] | None = None,
        qa_path: str | os.PathLike[str] | None = None,
        corpus_path: str | os.PathLike[str] | None = None,
        retriever: str | Retriever = "bm25",
        retriever_url: str | None = None,
        top_k: int = 5,
        cache_dir: str | os.PathLike[str] | bool | None = None,
        max_query_chars: int = 500,
        passage_chars: int = 600,
        max_turns: int | None = None,
        first_search: bool = False,
        bare_answers: bool = False,
        **kwargs: Any,
    ) -> None:
        if not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive int, got {top_k!r}")
        if max_turns is None:
            from_files = hotpotqa_path is not None or qa_path is not None
            max_turns = 8 if from_files else _LEVEL_TURNS.get(level, 8)
        super().__init__(max_turns=max_turns, **kwargs)
        self.source: TaskSource = load_source(
            level=level, world_seed=world_seed, num_tasks=num_tasks, hotpotqa_path=hotpotqa_path,
            qa_path=qa_path, corpus_path=corpus_path, retriever=retriever, retriever_url=retriever_url,
            top_k=top_k, cache_dir=cache_dir,
        )
        self.top_k = top_k
        self.max_query_chars = max_query_chars
        self.passage_chars = passage_chars
        self.verifier = AnswerF1()
        self.first_search = bool(first_search)
        self.bare_answers = bool(bare_answers)
        self._bare_answer = False
        self._task: QATask = self.source.tasks[0]
        self._retrieved: list[str] = []
        self._retrieved_set: set[str] = set()
        self._queries: list[str] = []
        self._evidence = EvidenceTracker((), ("-",))
        self._anchor_key = ""
        self._oracle_queries: dict[tuple[str, int], str] = {}

    # ----- public helpers -------------------------------------------------------------

    @property
    def tasks(self) -> list[QATask]:
        """Every task this environment can pose."""
        return self.source.tasks

    @property
    def corpus(self) -> Corpus | None:
        """The local corpus (``None`` with a remote retriever and no corpus file)."""
        return self.source.corpus

    @property
    def retriever(self) -> Retriever:
        """The retriever searches go to."""
        return self.source.retriever

    @property
    def task(self) -> QATask:
        """The current task."""
        return self._task

    @property
    def retrieved_ids(self) -> list[str]:
        """Ids of the passages retrieved so far in this episode, in first-seen order."""
        return list(self._retrieved)

    # ----- TurnEnv hooks --------------------------------------------------------------

    def _reset_task(self, options: Mapping[str, Any]) -> tuple[str, list[Message]]:
        if "task_id" in options:
            task_id = str(options["task_id"])
            task = self.source.by_id.get(task_id)
            if task is None:
                examples = ", ".join(t.task_id for t in self.source.tasks[:3])
                raise ValueError(f"unknown task_id {task_id!r}; this environment's ids look like {examples}")
        else:
            task = self.source.tasks[int(self.np_random.integers(len(self.source.tasks)))]
        self._task = task
        self._retrieved, self._retrieved_set, self._queries = [], set(), []
        self._evidence = EvidenceTracker(task.gold_ids, task.answers)
        self._update_anchor()
        question = f"Question: {task.question}"
        if self.first_search:
            hits = self.source.retriever.search(task.question, self.top_k)
            self._take(hits)
            question += "\n\n" + self._format(task.question, hits)
        prompt = STARTER_PROMPT if self.first_search and self.bare_answers else SYSTEM_PROMPT
        return task.task_id, [system(prompt), user(question)]

    def _parse(self, action: Any) -> list[ParsedCall] | ActionError:
        parsed = super()._parse(action)
        if self.bare_answers and isinstance(parsed, ActionError) and parsed.kind == "no_action":
            text = action if isinstance(action, str) else action.get("content")
            if isinstance(text, str) and text.strip():
                self._bare_answer = True
                return [ParsedCall("answer", {"answer": text.strip()})]
        self._bare_answer = False
        return parsed

    def _apply(self, calls: list[ParsedCall]) -> Transition:
        call = calls[0]
        if call.name == "search":
            return self._search(call)
        return self._answer(call)

    def _anchor(self) -> str:
        return self._anchor_key

    def _probe(self) -> dict[str, Any]:
        return {
            "answers": list(self._task.answers),
            "forcing_prefix": "<answer>",
            "answer_suffix": "</answer>",
        }

    # ----- actions --------------------------------------------------------------------

    def _refuse(self, call: ParsedCall, problem: str, kind: str) -> Transition:
        """A well-formed call that cannot be carried out: say why; it counts as invalid."""
        return self.refuse(call, problem, kind)

    def _search(self, call: ParsedCall) -> Transition:
        query = call.arguments.get("query")
        if not isinstance(query, str):
            return self._refuse(call, f"the search query must be text, got {type(query).__name__}.",
                                "bad_query")
        query = query.strip()
        if not query:
            return self._refuse(call, "the search query is empty; write <search>a few key words</search>.",
                                "empty_query")
        if len(query) > self.max_query_chars:
            return self._refuse(call, f"the search query is {len(query)} characters; at most "
                                      f"{self.max_query_chars}. Search with a few key words.",
                                "query_too_long")
        if not _WORDS.search(query):
            return self._refuse(call, "the search query has no words or numbers to search for.",
                                "no_words")
        key = normalize_answer(query)
        repeated = 1.0 if key in self._queries else 0.0
        self._queries.append(key)
        try:
            hits = self.source.retriever.search(query, self.top_k)
        except Exception as exc:  # a retrieval service failure is not the agent's fault
            text = f"The search failed ({type(exc).__name__}: {exc}). Try again or answer."
            return Transition([self.reply_to(call, text)], {"repeated_query": repeated},
                              info={"retrieval_error": str(exc)})
        gain = self._take(hits)
        return Transition([self.reply_to(call, self._format(query, hits))],
                          {"evidence_gain": gain, "repeated_query": repeated},
                          info={"retrieved": [h.passage.id for h in hits]})

    def _answer(self, call: ParsedCall) -> Transition:
        answer = call.arguments.get("answer")
        if not isinstance(answer, str) or not answer.strip():
            return self._refuse(call, "the answer is empty; write <answer>the answer</answer>.",
                                "empty_answer")
        score = self.verifier(answer, self._task.answers)
        signals = {"exact_match": score.exact_match, "format": 0.0 if self._bare_answer else 1.0}
        return Transition([self.reply_to(call, f"Your answer {answer.strip()!r} was recorded.")],
                          signals, terminated=True, outcome=score.f1)

    def _take(self, hits: list[SearchHit]) -> float:
        """Record newly retrieved passages; return the share of evidence units they add."""
        fresh = []
        for hit in hits:
            pid = hit.passage.id
            if pid not in self._retrieved_set:
                self._retrieved.append(pid)
                self._retrieved_set.add(pid)
                fresh.append((pid, f"{hit.passage.title} {hit.passage.text}"))
        if not fresh:
            return 0.0
        self._update_anchor()
        return self._evidence.observe(fresh)

    def _format(self, query: str, hits: list[SearchHit]) -> str:
        if not hits:
            return f"No passages matched the query {query!r}. Try other key words."
        lines = [f"Results for {query!r}:"]
        for i, hit in enumerate(hits, 1):
            text = hit.passage.text
            if len(text) > self.passage_chars:
                text = text[: self.passage_chars].rstrip() + " ..."
            lines.append(f"[{i}] {hit.passage.title}\n{text}")
        return "\n".join(lines)

    def _update_anchor(self) -> None:
        digest = hashlib.blake2b("\n".join(sorted(self._retrieved)).encode(), digest_size=8).hexdigest()
        self._anchor_key = f"{self._task.task_id}|{len(self._retrieved)}:{digest}"

    # ----- oracle and state -----------------------------------------------------------

    def oracle_action(self) -> Action:
        """Search the next gold passage not yet retrieved (once each), then answer."""
        task = self._task
        for hop, gold in enumerate(task.gold_ids):
            if gold in self._retrieved_set:
                continue
            query = self._oracle_query(hop)
            if normalize_answer(query) not in self._queries:
                return f"<search>{query}</search>"
        if not task.gold_ids and not self._evidence.answer_seen and not self._queries:
            return f"<search>{task.question}</search>"
        return f"<answer>{task.answers[0]}</answer>"

    def _oracle_query(self, hop: int) -> str:
        """A query that retrieves gold passage ``hop``: the chain's query, its title or the question."""
        key = (self._task.task_id, hop)
        if key not in self._oracle_queries:
            task = self._task
            gold = task.gold_ids[hop]
            candidates = []
            if hop < len(task.chain):
                candidates.append(task.chain[hop])
            passage = self.source.corpus.get(gold) if self.source.corpus is not None else None
            if passage is not None and passage.title:
                candidates.append(passage.title)
            candidates.append(task.question)
            chosen = candidates[0]
            for query in candidates:
                try:
                    hits = self.source.retriever.search(query, self.top_k)
                except Exception:
                    break
                if any(h.passage.id == gold for h in hits):
                    chosen = query
                    break
            self._oracle_queries[key] = chosen
        return self._oracle_queries[key]

    def get_state(self) -> dict[str, Any]:
        """Everything that defines this episode's state (plain data, safe to deep-copy or pickle)."""
        return {
            **self.base_state(), "retrieved": list(self._retrieved), "queries": list(self._queries),
            "covered": sorted(self._evidence.covered),
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`get_state` snapshot (of this environment's task source)."""
        task = self.source.by_id.get(state["task_id"])
        if task is None:
            raise ValueError(f"state is for task {state['task_id']!r}, which this environment does not have")
        self._task = task
        self.restore_base_state(state)
        self._retrieved = list(state["retrieved"])
        self._retrieved_set = set(self._retrieved)
        self._queries = list(state["queries"])
        self._evidence = EvidenceTracker(task.gold_ids, task.answers, state["covered"])
        self._update_anchor()
