"""``ToolUseEnv``: stateful multi-turn tool use, verified stage by stage.

A task is a list of **stages** (user turns). In a stage the agent makes calls, in
parallel (several OpenAI ``tool_calls`` or a Python list ``[f(a=1), g(b="x")]`` in one
message) or one per assistant turn; each result comes back as a ``tool`` message
answering its ``tool_call_id`` (as one ``user`` message in the text format). The agent
ends a stage by answering without a call; then the next user message arrives. A stage
that reaches ``max_steps_per_stage`` assistant turns is closed as if the agent had
answered (BFCL's step limit is 20; BFCL's inference then fails the whole task, turngym
judges the closed stage and goes on).

Back-ends are fresh instances per episode (:mod:`.backends`); calls are parsed by the
shared parsers of :mod:`turngym.core.actions` and dispatched by method name: model text
is never evaluated. Bad input never raises: an unknown function, wrong argument names,
non-JSON arguments, a back-end that raises, too many calls in one message: each becomes a
message the model can read, with ``valid_action`` / ``tool_success`` saying so.

At the end of every stage the verifiers of :mod:`turngym.verifiers.tool_state` judge it as
BFCL does (the state check against a parallel run of the gold calls, the response check,
a stage with gold calls failing when the agent made none; stages without gold calls pass,
or with ``strict_irrelevance=True`` pass only if no call was made), and
:mod:`turngym.verifiers.tool_match` matches the stage's calls with the gold calls
(MatchTIR). Signals (every step; the stage ones are 0 except on a stage's last step):

- ``valid_action``, ``format``: the action parsed (every call of it);
- ``tool_success``: share of this turn's calls that ran without error (0 with no call);
- ``state_match``, ``response_match``, ``stage_passed``: the stage's checks;
- ``call_precision``, ``call_recall``, ``match_reward``: MatchTIR matching of the stage.

The outcome, on the terminal step: ``outcome="bfcl"`` (default) is BFCL's verdict (1 when
every stage passed), ``outcome="partial"`` the share of stages passed; both are always in
``info`` (``outcome_bfcl``, ``outcome_partial``) with the per-stage verdicts
(``stage_verdicts``). ``info["anchor"]`` is ``<task>|s<stage>|<hash of the back-ends'
state>``; ``oracle_action()`` gives the stage's gold calls, then an answer;
``get_state``/``set_state`` snapshot everything (deep copies of the back-ends).

What is computed once and reused (each cache bounded; per process, shared by every
environment, unless one is given ``caches`` of its own): a task's back-ends are loaded once
and every episode gets a fresh unpickled copy (:class:`~.backends.BackendTemplate`; so every
episode, and its gold run, starts from the same initial state even where a load reads a
clock); each environment remembers its parses of argument strings and Python-call texts;
stages compare only the back-ends a call of the agent or of the gold run went to (the
others are both in the initial state), and skip the attribute-by-attribute comparison where
the agent's back-end hashes as the gold run's does (equal pickles: equal state).

Where the catalog is declared deterministic (:attr:`~.tasks.Catalog.deterministic`: BFCL's
and the generated one are; a catalog of yours is not unless you say so), more rests on it:
from a task's second episode on, its gold run (where needed) is read from a
:class:`~.gold.GoldRun` instead of being executed again (the first episode runs it alongside,
as nothing is gained from keeping it for a task played once); and, with ``lazy_gold`` on, the
state hash of a back-end and the text of a call's dict result (the call still runs) are
remembered per (task, back-end, digest of the calls it ran since the start), and the lazy
gold run below skips the gold calls. Without the declaration every episode runs the gold
calls live, every result text is written out and every state hash computed afresh (but that
of a back-end no call went to, in its template's state); with ``lazy_gold=False`` only the
per-task gold run (and those hashes) is kept. Verdicts, results and anchors are
the same as without any of it, given what these rest on: back-ends whose state follows from
their initial state and the calls they ran (BFCL's seed their random generators; wall-clock
times are private), and state made of plain data compared structurally (a float NaN,
unequal to itself, in the gold run's state would be one exception; BFCL's data has none).
``tests/tool_use/test_caches.py`` plays gold and mutated answers three times in one
environment and once in a new one and checks that everything agrees, and that a back-end
that is not deterministic (a counter) is judged strictly and shows fresh results.

The lazy gold run (``lazy_gold``, by default on for a deterministic catalog and refused for
any other): each back-end's call history is kept as a digest of the calls it ran (name and
``repr`` of the arguments, which tells ``1`` from ``1.0`` and ``True``, a list from a tuple,
and the order of a dict's keys). While, at the end
of a stage, every back-end's history equals the history the gold calls give it up to that
stage, the agent's back-ends have run exactly the gold calls from the same initial state, so
(deterministic back-ends) they are in the gold run's state, and every result the gold calls
got is among the agent's: the state and response checks pass without running the gold calls
or comparing attributes (only when every gold call of the stage goes to a back-end: a call of
an unknown name has a result but no history). At the first stage where the histories differ,
the gold run starts: the cached run of the task (built then, from a task's second episode on)
or a live one that first runs the gold calls of the stages before; from then on every stage
is checked as without the shortcut. ``tests/tool_use/test_determinism.py`` runs the gold calls
of all 800 BFCL tasks (and of generated ones) twice from fresh loads and finds the same
results and public attributes (``==`` and ``repr``) after every stage; ``test_caches.py``
and the BFCL agreement tests check that verdicts, signals and anchors are the same with and
without it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from turngym.core import ParsedCall, ToolSpec, Transition, TurnEnv
from turngym.core.actions import ActionError, parse_python_calls, parse_tool_calls
from turngym.core.messages import Action, Message, system, user
from turngym.core.messages import tool as tool_message
from turngym.envs.tool_use.backends import Backends, BackendTemplate, extend_history
from turngym.envs.tool_use.gold import (
    CACHES,
    GoldHistories,
    GoldRun,
    TaskCaches,
    build_gold_run,
    gold_histories,
)
from turngym.envs.tool_use.tasks import Catalog, Stage, ToolTask, untyped
from turngym.verifiers.tool_match import ToolCallMatcher
from turngym.verifiers.tool_state import (
    CheckResult,
    irrelevance_check,
    response_check,
    state_check,
    state_fingerprint,
)

REVEAL_MESSAGE = "I have updated some more functions you can choose from. What about now?"
"""The user's words at a stage that reveals held-out functions (BFCL's FC-mode wording)."""

SYSTEM_PROMPT = """You are an assistant that completes the user's requests by calling functions. \
In each turn you may call one or several functions (results come back to you), and call more \
after reading them. When the request is done, or cannot be done with the functions you have, \
or a needed value is missing, reply in plain text without a call (ask for what is missing): \
that ends your turn and the user speaks again.{formats}"""

_PYTHON_HINT = """
Write calls in Python syntax, several as a list: [func_a(x=1), func_b(name="y")]. \
Functions:
{functions}"""

_CALL_START = re.compile(r"^\s*(?:```(?:python|py)?\s*)?\[?\s*[A-Za-z_][\w.]*\(")
"""Text that opens with ``name(`` (or ``[name(``, or a fenced block of it) is a call attempt;
any other text is an answer that ends the stage."""
_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
OUTCOMES: tuple[str, ...] = ("bfcl", "partial")
_PARSE_CACHE_SIZE = 4096
"""Parses of call text an environment remembers (then it forgets them all and starts again)."""
_PARSE_CACHE_TEXT_CHARS = 4096
"""Longer Python-call texts are parsed every time, never remembered."""
_PASSED = CheckResult(True)
"""A passed check (read-only, shared)."""
_PROMPTS: dict[tuple[int, tuple[str, ...], tuple[str, ...]], tuple[Catalog, str]] = {}
"""System prompts by (catalog, action formats, tools shown), for every environment of the process:
they depend on the catalog's tool specs only."""


class ToolUseEnv(TurnEnv):
    """Multi-turn tool use over executable back-ends (see the module docstring).

    Args:
        tasks: ``"bfcl"`` (BFCL v4 multi-turn, ``categories``), ``"generated"`` (turngym's
            APIs, ``level``/``split``/``n_tasks``) or a sequence of :class:`ToolTask` with
            their ``catalog``.
        categories: BFCL categories: ``"all"``, one of ``base``, ``miss_func``,
            ``miss_param``, ``long_context``, or a list.
        level: generated level (``easy``, ``medium``, ``hard``).
        split: generated split (``train`` or ``test``).
        n_tasks: generated tasks to draw from (default 1000 for train, 200 for test).
        outcome: ``"bfcl"`` (all stages pass) or ``"partial"`` (share of stages passed).
        matching: MatchTIR assignment, ``"hard"`` (Hungarian) or ``"soft"`` (Sinkhorn).
        temperature: Sinkhorn's temperature for ``matching="soft"``.
        strict_irrelevance: stages without gold calls pass only when no call was made.
        check_types: refuse calls whose argument types do not fit the schema (default:
            off for BFCL, whose executor runs calls as written, on for generated tasks).
        allow_hidden_calls: run calls to a task's held-out functions before they are
            revealed (default: on for BFCL, whose executor runs any method of the involved
            classes and one of whose gold answers needs it, ``multi_turn_miss_func_49``;
            off for generated tasks).
        lazy_gold: run the gold calls only once the agent's calls first differ from them (see
            "The lazy gold run" in the module docstring); it rests on the catalog's declared
            determinism (:attr:`~.tasks.Catalog.deterministic`). ``None`` (default): on for a
            deterministic catalog (BFCL's, the generated one), off otherwise. ``True`` on a
            catalog not declared deterministic raises ``ValueError``. ``False`` (strict):
            nothing is taken from call histories: every stage is checked against a run of the
            gold calls (a live one every episode, or, for a deterministic catalog, one run per
            task and kept), every result text is written out and every state hash computed
            afresh (but that of a back-end no call went to yet). For a deterministic catalog
            verdicts, signals, anchors and result texts are the same either way
            (``tests/tool_use/test_caches.py``); for one that is not, only strict judging is
            offered.
        caches: where per-task work is kept (templates, gold runs, state hashes): by default
            the process's :data:`~.gold.CACHES`, shared by every environment; pass a
            :class:`~.gold.TaskCaches` to keep an environment's apart.
        max_steps_per_stage: assistant turns after which a stage is closed.
        max_calls_per_action: calls accepted in one message (more is a malformed action).
        max_turns, max_invalid_turns, action_formats, reward_weights, render_mode: TurnEnv's.
    """

    signal_names = ("tool_success", "state_match", "response_match", "call_precision",
                    "call_recall", "match_reward", "stage_passed")
    default_action_formats = ("tool_calls", "python")

    def __init__(
        self,
        tasks: str | Sequence[ToolTask] = "bfcl",
        *,
        catalog: Catalog | None = None,
        categories: str | Sequence[str] = "all",
        level: str = "easy",
        split: str = "train",
        n_tasks: int | None = None,
        outcome: str = "bfcl",
        matching: str = "hard",
        temperature: float = 0.1,
        strict_irrelevance: bool = False,
        check_types: bool | None = None,
        allow_hidden_calls: bool | None = None,
        lazy_gold: bool | None = None,
        caches: TaskCaches | None = None,
        max_steps_per_stage: int = 20,
        max_calls_per_action: int = 48,
        max_turns: int = 200,
        max_invalid_turns: int = 20,
        **kwargs: Any,
    ) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        if caches is not None and not isinstance(caches, TaskCaches):
            raise TypeError(f"caches must be a turngym.envs.tool_use.gold.TaskCaches, "
                            f"got {type(caches).__name__}")
        for name, value in (("max_steps_per_stage", max_steps_per_stage),
                            ("max_calls_per_action", max_calls_per_action)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.source = tasks if isinstance(tasks, str) else "custom"
        self._tasks: list[ToolTask] = []
        self._generated: tuple[str, str, int] | None = None
        if tasks == "bfcl":
            from turngym.envs.tool_use import bfcl

            self.catalog = bfcl.catalog()
            self._tasks = bfcl.load_tasks(categories if isinstance(categories, str) else list(categories))
            check_types = False if check_types is None else check_types
            allow_hidden_calls = True if allow_hidden_calls is None else allow_hidden_calls
        elif tasks == "generated":
            from turngym.envs.tool_use import generated

            if level not in generated.LEVELS or split not in generated.SPLITS:
                raise ValueError(f"generated tasks take level in {list(generated.LEVELS)} and split in "
                                 f"{list(generated.SPLITS)}, got level={level!r}, split={split!r}")
            count = n_tasks if n_tasks is not None else (1000 if split == "train" else 200)
            if not isinstance(count, int) or count < 1:
                raise ValueError(f"n_tasks must be a positive int, got {n_tasks!r}")
            self.catalog = generated.catalog()
            self._generated = (level, split, count)
            check_types = True if check_types is None else check_types
        elif isinstance(tasks, str):
            raise ValueError(f"tasks must be 'bfcl', 'generated' or a list of ToolTask, got {tasks!r}")
        else:
            self._tasks = list(tasks)
            if not self._tasks or not all(isinstance(t, ToolTask) for t in self._tasks):
                raise TypeError("tasks must be a non-empty sequence of ToolTask")
            if not isinstance(catalog, Catalog):
                raise TypeError("a list of ToolTask needs its catalog=Catalog(...)")
            self.catalog = catalog
            check_types = True if check_types is None else check_types
        self._by_id = {t.task_id: t for t in self._tasks}
        self.check_types = bool(check_types)
        self.allow_hidden_calls = bool(allow_hidden_calls)
        self.outcome_kind = outcome
        self.matcher = ToolCallMatcher(matching, temperature)
        self.strict_irrelevance = bool(strict_irrelevance)
        self.deterministic = self.catalog.deterministic
        """Whether the catalog declares its back-ends deterministic (see :class:`~.tasks.Catalog`)."""
        if lazy_gold is None:
            lazy_gold = self.deterministic
        elif not isinstance(lazy_gold, bool):
            raise TypeError(f"lazy_gold must be True, False or None (on for a deterministic catalog), "
                            f"got {lazy_gold!r}")
        elif lazy_gold and not self.deterministic:
            raise ValueError(
                "lazy_gold=True needs a catalog declared deterministic (Catalog(..., deterministic=True)): "
                "the lazy gold run takes the state and results of back-ends that ran exactly the gold "
                "calls to be the gold run's, which a back-end with a clock, a counter or unseeded "
                "random numbers breaks. Declare the catalog deterministic if two fresh loads that run "
                "the same calls always end in equal states with equal results, or pass "
                "lazy_gold=False or None (strict checks)")
        self.lazy_gold = lazy_gold
        # Result texts and state hashes remembered per call history: only where the lazy gold run
        # is on (a deterministic catalog; lazy_gold=False takes nothing from call histories).
        self._remember = lazy_gold
        self.max_steps_per_stage = max_steps_per_stage
        self.max_calls_per_action = max_calls_per_action
        formats = tuple(kwargs.get("action_formats") or self.default_action_formats)
        if not formats or any(f not in ("tool_calls", "python") for f in formats):
            raise ValueError(f"ToolUse accepts action formats 'tool_calls' and 'python' (Python-call "
                             f"text, BFCL's prompting mode), got {formats!r}")
        # Untyped twins of the specs, made once (BFCL runs calls whatever their values' types).
        self._untyped = {id(t): untyped(t) for specs in self.catalog.tools.values() for t in specs}
        # Every tool any task may show, so that the action space can sample them all.
        self.tools = self.catalog.tools_for(list(self.catalog.classes))
        super().__init__(max_turns=max_turns, max_invalid_turns=max_invalid_turns, **kwargs)
        self._task: ToolTask | None = None
        self._oracle_cache: dict[tuple[str, int], Any] = {}
        self._caches = CACHES if caches is None else caches  # by default shared by every ToolUseEnv
        self._template_obj: BackendTemplate | None = None
        self._tool_sets: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[list, list, dict]] = {}
        self._class_tools: dict[tuple[str, ...], list[ToolSpec]] = {}
        # Parses of call text seen before (agents repeat calls, a training group many times):
        # (tool name, JSON arguments) -> (spec, arguments or error); (text, id(specs)) -> (specs,
        # calls or error). The parsed arguments are shared by the calls made from them: read-only.
        self._parsed_arguments: dict[tuple[str, str], tuple[ToolSpec, dict[str, Any] | ActionError]] = {}
        self._parsed_texts: dict[tuple[str, int], tuple[list[ToolSpec], list[ParsedCall] | ActionError]] = {}
        self._reset_episode_state()

    # ----- tasks ----------------------------------------------------------------------

    @property
    def n_tasks(self) -> int:
        """How many tasks ``reset`` draws from."""
        return self._generated[2] if self._generated else len(self._tasks)

    def task_ids(self) -> list[str]:
        """Every task id of this environment, in order."""
        if self._generated:
            level, split, count = self._generated
            return [f"gen-{level}-{split}-{i}" for i in range(count)]
        return [t.task_id for t in self._tasks]

    def get_task(self, task_id: str) -> ToolTask:
        """The task called ``task_id``; ``ValueError`` saying what ids look like otherwise."""
        if self._generated:
            from turngym.envs.tool_use import generated

            level, split, count = self._generated
            try:
                lv, sp, index = generated.parse_task_id(task_id)
            except ValueError as exc:
                raise ValueError(f"unknown task_id {task_id!r}: {exc}") from None
            if (lv, sp) != (level, split) or index >= count:
                raise ValueError(f"unknown task_id {task_id!r}; this env has gen-{level}-{split}-0 .. "
                                 f"gen-{level}-{split}-{count - 1}")
            return generated.generate_task(level, split, index)
        if task_id not in self._by_id:
            sample = ", ".join(list(self._by_id)[:3])
            raise ValueError(f"unknown task_id {task_id!r}; this env has {len(self._tasks)} tasks, "
                             f"e.g. {sample}")
        return self._by_id[task_id]

    @property
    def task(self) -> ToolTask:
        """The current task."""
        if self._task is None:
            raise RuntimeError("no task yet: call reset() first")
        return self._task

    # ----- episode --------------------------------------------------------------------

    def _reset_episode_state(self) -> None:
        self._stage = 0
        self._stage_calls: list[ParsedCall] = []
        self._stage_steps = 0
        self._agent_results: list[str] = []
        self._verdicts: list[dict[str, Any]] = []
        self._visible: list[str] = []
        self._agent: Backends | None = None
        self._gold: Backends | None = None  # the live gold run (a task's first episode)
        self._gold_run: GoldRun | None = None  # or the task's cached one
        self._gold_touched: set[str] = set()
        self._agent_touched: set[str] = set()
        self._histories: dict[str, bytes] = {}  # per back-end: digest of the calls it ran
        self._fingerprint: str | None = None
        self._pending_errors: list[tuple[str | None, str]] = []
        self._expected: GoldHistories | None = None  # lazy_gold: the gold calls' histories
        self._first_episode = True  # the task's first episode here: a gold run is live, not cached

    def _cached(self, cache: Any, task: ToolTask) -> Any:
        """``cache``'s value for ``task`` of this catalog, or ``None``."""
        entry = cache.get((id(self.catalog), task.task_id))
        if entry is not None and entry[0] is self.catalog and (entry[1] is task or entry[1] == task):
            return entry[2]
        return None

    def _template(self, task: ToolTask) -> BackendTemplate:
        cached = self._cached(self._caches.templates, task)
        if cached is not None:
            return cached
        # A JSON round trip copies the (JSON) initial state several times faster than deepcopy.
        template = BackendTemplate({n: self.catalog.classes[n] for n in task.classes},
                                   json.loads(json.dumps(task.initial_config)),
                                   long_context=task.long_context, stateless=self.catalog.stateless,
                                   private_configs=True)
        self._caches.templates.put((id(self.catalog), task.task_id), (self.catalog, task, template))
        return template

    def _tools_of(self, classes: tuple[str, ...]) -> list[ToolSpec]:
        tools = self._class_tools.get(classes)
        if tools is None:
            tools = self._class_tools[classes] = self.catalog.tools_for(classes)
        return tools

    def _start_gold(self, task: ToolTask) -> None:
        """The task's cached gold run, built on its second episode; on its first, a live one.

        With ``lazy_gold`` this runs only when the agent's call histories first differ from the
        gold ones (at the end of stage ``self._stage``); a live gold run then catches up with
        the gold calls of the stages before it.

        A catalog not declared deterministic gets a live gold run in every episode: a run of the
        gold calls says nothing about another one."""
        key = (id(self.catalog), task.task_id)
        if not self.lazy_gold:
            self._first_episode = key not in self._caches.played
            self._caches.played.put(key, True)
        cached = self._cached(self._caches.gold_runs, task) if self.deterministic else None
        if cached is not None:
            self._gold_run = cached
        elif self.deterministic and not self._first_episode:
            self._gold_run = build_gold_run(self._template(task), task.stages)
            self._caches.gold_runs.put(key, (self.catalog, task, self._gold_run))
        else:
            self._gold = self._template(task).instantiate()  # its own instances: it calls most of them
            for stage in task.stages[:self._stage]:  # a lazy start: the stages before this one
                self._run_live_gold(stage)

    def _gold_histories(self, task: ToolTask) -> GoldHistories:
        """The gold calls' per-back-end call histories of ``task`` (made once per task)."""
        cached = self._cached(self._caches.gold_histories, task)
        if cached is None:
            assert self._template_obj is not None
            cached = gold_histories(self._template_obj.routes, self._template_obj.sorted_names, task.stages)
            self._caches.gold_histories.put((id(self.catalog), task.task_id), (self.catalog, task, cached))
        return cached

    def _reset_task(self, options: Mapping[str, Any]) -> tuple[str, list[Message]]:
        if "task_id" in options:
            task = self.get_task(str(options["task_id"]))
        else:
            index = int(self.np_random.integers(self.n_tasks))
            task = self.get_task(self.task_ids()[index]) if self._generated else self._tasks[index]
        self._task = task
        self._reset_episode_state()
        self._template_obj = self._template(task)
        self._agent = self._template_obj.instantiate(lazy=True)
        self._histories = dict.fromkeys(self._agent.instances, b"")
        if self.lazy_gold:
            self._expected = self._gold_histories(task)
            key = (id(self.catalog), task.task_id)
            self._first_episode = key not in self._caches.played
            self._caches.played.put(key, True)
        else:
            self._start_gold(task)
        hidden = set(task.hidden)
        self._visible = [t.name for t in self._tools_of(task.classes) if t.name not in hidden]
        self._sync_tools()
        return task.task_id, [system(self._system_prompt()), *self._stage_opening(0)]

    def _system_prompt(self) -> str:
        """The system message for the visible tools (made once per tool set)."""
        key = (id(self.catalog), self.action_formats, tuple(t.name for t in self.tools))
        hit = _PROMPTS.get(key)
        prompt = hit[1] if hit is not None and hit[0] is self.catalog else None
        if prompt is None:
            formats = ""
            if "python" in self.action_formats and "tool_calls" not in self.action_formats:
                formats = _PYTHON_HINT.format(functions=self._describe(self.tools))
            elif "python" in self.action_formats:
                formats = ("\nCalls may also be written in Python syntax: [func_a(x=1), func_b(name=\"y\")]. "
                           "Functions: " + "; ".join(_signature(t) for t in self.tools) + ".")
            prompt = SYSTEM_PROMPT.format(formats=formats)
            if len(_PROMPTS) >= _PARSE_CACHE_SIZE:
                _PROMPTS.clear()
            _PROMPTS[key] = (self.catalog, prompt)
        return prompt

    def _sync_tools(self) -> None:
        key = (self.task.classes, tuple(self._visible))
        cached = self._tool_sets.get(key)
        if cached is None:
            specs = {t.name: t for t in self._tools_of(self.task.classes)}
            tools = [specs[name] for name in self._visible]
            callable_specs = list(specs.values()) if self.allow_hidden_calls else tools
            parse_specs = [t if self.check_types else self._untyped[id(t)] for t in callable_specs]
            cached = self._tool_sets[key] = (tools, parse_specs, {t.name: t for t in parse_specs})
        tools, self._parse_specs, self._spec_by_name = cached
        self.tools = list(tools)

    @staticmethod
    def _describe(tools: Sequence[ToolSpec]) -> str:
        return "\n".join(json.dumps(t.to_openai()["function"]) for t in tools)

    def _stage_opening(self, index: int) -> list[Message]:
        stage = self.task.stages[index]
        texts = list(stage.user)
        if stage.reveal:
            revealed = [t for t in self._tools_of(self.task.classes) if t.name in stage.reveal]
            text = REVEAL_MESSAGE
            if "tool_calls" not in self.action_formats:
                text = f"{self._describe(revealed)}\n{text}"
            else:  # tool-call agents get them as tools; text agents read them here
                text = f"{text} (New: {'; '.join(_signature(t) for t in revealed)}.)"
            texts = [*texts, text] if texts else [text]
        return [user(t) for t in texts] or [user("(no message)")]

    # ----- actions --------------------------------------------------------------------

    def _parse(self, action: Any) -> list[ParsedCall] | ActionError:
        """Calls, or ``[]`` for a plain answer (which ends the stage), or a malformed action."""
        self._pending_errors = []
        if isinstance(action, Mapping) and action.get("tool_calls"):
            if "tool_calls" not in self.action_formats:
                return ActionError("format_not_accepted", "Tool calls are not accepted here; write Python "
                                   "calls such as [f(a=1)].")
            raw = action["tool_calls"]
            if not isinstance(raw, list):
                return ActionError("bad_tool_call", "tool_calls must be a list of tool calls.")
            if len(raw) > self.max_calls_per_action:
                return ActionError("too_many_calls", f"Got {len(raw)} tool calls; at most "
                                   f"{self.max_calls_per_action} per turn.")
            calls: list[ParsedCall] = []
            known = self._parsed_arguments
            for item in raw:
                # Parsed against its own tool's spec when the name is known (the same result,
                # without the parser indexing every spec for each call), else all of them.
                item_is_map = type(item) is dict or isinstance(item, Mapping)
                function = item.get("function") if item_is_map else None
                function_is_map = type(function) is dict or isinstance(function, Mapping)
                name = function.get("name") if function_is_map else None  # type: ignore[union-attr]
                spec = self._spec_by_name.get(name) if isinstance(name, str) else None
                call_id = item.get("id") if item_is_map else None
                call_id = call_id if isinstance(call_id, str) else None
                text = function.get("arguments") if spec is not None else None  # type: ignore[union-attr]
                key = (name, text) if type(text) is str else None
                hit = known.get(key) if key is not None else None  # type: ignore[arg-type]
                if hit is not None and hit[0] is spec:  # the same arguments for the same tool: same parse
                    if isinstance(hit[1], ActionError):
                        self._pending_errors.append((call_id, hit[1].message))
                    else:
                        calls.append(ParsedCall(name, hit[1], call_id))  # type: ignore[arg-type]
                    continue
                specs = self._parse_specs if spec is None else (spec,)
                parsed = parse_tool_calls({"tool_calls": [item]}, specs)
                if key is not None and spec is not None:
                    if len(known) >= _PARSE_CACHE_SIZE:
                        known.clear()
                    known[key] = (spec, parsed if isinstance(parsed, ActionError) else parsed[0].arguments)
                if isinstance(parsed, ActionError):
                    self._pending_errors.append((call_id, parsed.message))
                else:
                    calls.extend(parsed)
            if not calls:
                messages = "; ".join(m for _, m in self._pending_errors)
                self._pending_errors = []
                return ActionError("bad_tool_call", messages)
            return calls
        text = action.get("content") if isinstance(action, Mapping) else action
        if not isinstance(text, str):
            return ActionError("not_text", "An action is text (an answer or Python calls) or an assistant "
                               "message with tool_calls.")
        visible = _THINK.sub(" ", text) if "<" in text else text
        if "python" not in self.action_formats or not _CALL_START.match(visible):
            return []  # a plain answer: the stage ends
        key = (text, id(self._parse_specs))
        hit = self._parsed_texts.get(key)
        if hit is not None and hit[0] is self._parse_specs:  # the same text for the same tools
            return hit[1] if isinstance(hit[1], ActionError) else list(hit[1])
        parsed = parse_python_calls(text, self._parse_specs, max_calls=self.max_calls_per_action)
        if len(text) <= _PARSE_CACHE_TEXT_CHARS:
            if len(self._parsed_texts) >= _PARSE_CACHE_SIZE:
                self._parsed_texts.clear()
            kept = parsed if isinstance(parsed, ActionError) else list(parsed)
            self._parsed_texts[key] = (self._parse_specs, kept)
        return parsed

    def _apply(self, calls: list[ParsedCall]) -> Transition:
        if not calls:
            return self._end_stage([])
        assert self._agent is not None
        self._stage_steps += 1
        messages: list[Message] = []
        text_results: list[str] = []
        succeeded = 0
        routes, histories = self._agent.routes, self._histories
        assert self._template_obj is not None
        uid = self._template_obj.uid
        texts = self._caches.result_texts if self._remember else None
        for call in calls:
            owner = routes.get(call.name)
            if owner is not None:  # the call runs on this back-end: its history grows
                histories[owner] = extend_history(histories[owner], call)
                self._agent_touched.add(owner)
                # a result's text is remembered per call history (deterministic back-ends only)
                result, ok = self._agent.execute(call, texts, (uid, owner, histories[owner]))
            else:
                result, ok = self._agent.execute(call)
            succeeded += ok
            self._agent_results.append(result)
            self._stage_calls.append(call)
            if call.call_id is not None:
                messages.append(tool_message(result, call.call_id, call.name))
            else:
                text_results.append(f"{_render(call)} -> {result}")
        self._fingerprint = None
        for call_id, problem in self._pending_errors:
            if call_id is not None:
                messages.append(tool_message(f"Invalid call: {problem}", call_id))
            else:
                text_results.append(f"Invalid call: {problem}")
        if text_results:
            messages.append(user("Results:\n" + "\n".join(text_results)))
        n_attempted = len(calls) + len(self._pending_errors)
        signals = {"tool_success": succeeded / n_attempted}
        invalid = "bad_call" if self._pending_errors else None
        if invalid:
            signals["valid_action"] = 0.0
        if self._stage_steps >= self.max_steps_per_stage:
            closing = self._end_stage(messages, closed=True)
            closing.signals.update(signals)
            closing.invalid = invalid
            return closing
        return Transition(messages, signals, invalid=invalid)

    def _end_stage(self, messages: list[Message], closed: bool = False) -> Transition:
        """Judge the current stage, then open the next one or end the episode."""
        assert self._agent is not None
        stage = self.task.stages[self._stage]
        # The lazy gold run: every back-end ran exactly the gold calls so far (its call history
        # equals the gold one), so its state and results are the gold run's (module docstring).
        expected = self._expected
        if (expected is not None and expected.routed[self._stage]
                and self._histories == expected.after[self._stage]):
            if self._gold is not None:  # a live gold run, started at an earlier stage, keeps pace
                self._run_live_gold(stage)
            state = response = _PASSED
        else:
            if self._gold is None and self._gold_run is None:  # lazy: the first stage off the gold
                self._start_gold(self.task)
            state, response = self._check_stage(stage)
        match = self.matcher.score(self._stage_calls, stage.gold)
        if stage.gold:
            passed = bool(self._stage_calls) and state.passed and response.passed
        else:
            passed = not self.strict_irrelevance or irrelevance_check(len(self._stage_calls), 0).passed
        verdict = {
            "stage": self._stage, "passed": passed, "state_match": state.passed,
            "response_match": response.passed, "calls": len(self._stage_calls), "gold_calls": len(stage.gold),
            "closed": closed, "state_differences": sorted(state.details.get("differences", {})),
            "missing_results": len(response.details.get("missing", [])),
        }
        self._verdicts.append(verdict)
        signals = {
            "state_match": float(state.passed), "response_match": float(response.passed),
            "call_precision": match.precision, "call_recall": match.recall, "match_reward": match.reward,
            "stage_passed": float(passed),
        }
        info: dict[str, Any] = {"stage_verdict": dict(verdict)}
        self._stage += 1
        self._stage_calls, self._stage_steps = [], 0
        if closed:
            messages = [*messages, user(f"(The turn was closed after {self.max_steps_per_stage} steps.)")]
        if self._stage < len(self.task.stages):
            reveal = self.task.stages[self._stage].reveal
            if reveal:
                self._visible.extend(name for name in reveal if name not in self._visible)
                self._sync_tools()
            return Transition([*messages, *self._stage_opening(self._stage)], signals, info=info)
        n_passed = sum(v["passed"] for v in self._verdicts)
        outcome_bfcl = float(n_passed == len(self._verdicts))
        outcome_partial = n_passed / len(self._verdicts)
        info.update({"outcome_bfcl": outcome_bfcl, "outcome_partial": outcome_partial,
                     "stage_verdicts": [dict(v) for v in self._verdicts]})
        outcome = outcome_bfcl if self.outcome_kind == "bfcl" else outcome_partial
        return Transition(messages, signals, terminated=True, outcome=outcome, info=info)

    def _run_live_gold(self, stage: Stage) -> tuple[list[str], Mapping[str, Any], set[str]]:
        """Run ``stage``'s gold calls on the live gold run: its results, states and touched back-ends."""
        assert self._gold is not None
        gold_results = [self._gold.execute(call)[0] for call in stage.gold]
        routes = self._gold.routes
        self._gold_touched |= {routes[c.name] for c in stage.gold if c.name in routes}
        return gold_results, self._gold.instances, self._gold_touched

    def _check_stage(self, stage: Stage) -> tuple[CheckResult, CheckResult]:
        """BFCL's state and response checks of the current stage against the gold run."""
        assert self._agent is not None
        same: set[str] = set()
        gold_touched: set[str] | frozenset[str]
        if self._gold_run is not None:
            gold_results: Sequence[str] = self._gold_run.results[self._stage]
            gold_states = self._gold_run.states[self._stage]
            gold_touched = self._gold_run.touched[self._stage]
            same = self._same_as_gold(gold_touched)
        else:
            gold_results, gold_states, gold_touched = self._run_live_gold(stage)
        # A back-end no call of either run went to is in the initial state on both sides.
        # So is one whose whole state hashes as the gold run's does (same pickled state).
        compared = {n: g for n, g in gold_states.items()
                    if (n in gold_touched or n in self._agent_touched) and n not in same}
        state = state_check(self._agent.instances, compared)
        n_gold, results = len(gold_results), self._agent_results
        if n_gold and len(results) >= n_gold and list(gold_results) == results[-n_gold:]:
            response = CheckResult(True)  # the latest results are the gold ones: a sub-multiset
        else:
            response = response_check(results, gold_results)
        return state, response

    def _agent_digest(self, name: str) -> str:
        """The state hash of the agent's back-end ``name``: remembered per call history where
        the back-ends are trusted to be deterministic (see ``lazy_gold``), else only for the
        empty history (no call ran: the state is the task template's)."""
        assert self._agent is not None and self._template_obj is not None
        key = (self._template_obj.uid, name, self._histories[name])
        if not self._remember and key[2]:  # a back-end no call went to is in the template's state
            return state_fingerprint({name: self._agent.instances[name]})
        digest = self._caches.fingerprints.get(key)
        if digest is None:
            digest = state_fingerprint({name: self._agent.instances[name]})
            self._caches.fingerprints.put(key, digest)
        return digest

    def _same_as_gold(self, gold_touched: frozenset[str] | set[str]) -> set[str]:
        """Back-ends whose state hash equals the cached gold run's at this stage.

        Equal hashes are equal pickles of the whole state (private attributes too), so the
        public attributes are equal as BFCL compares them (plain data with structural
        ``==``); unequal hashes prove nothing, and those back-ends are compared as usual.
        """
        assert self._gold_run is not None and self._task is not None
        out = set()
        states = self._gold_run.states[self._stage]
        for name in gold_touched:
            if name not in self._histories:
                continue
            key = (self._stage, name)
            gold_digest = self._gold_run.digests.get(key)
            if gold_digest is None:
                gold_digest = self._gold_run.digests[key] = state_fingerprint({name: states[name]})
            if gold_digest == self._agent_digest(name):
                out.add(name)
        return out

    # ----- contract extras ------------------------------------------------------------

    def _anchor(self) -> str:
        if self._task is None or self._agent is None:
            return "none"
        if self._fingerprint is None:
            # A back-end's state follows from the task and the calls it ran (deterministic
            # back-ends): hash it once per such history.
            assert self._template_obj is not None
            names = self._template_obj.sorted_names
            key = (self._template_obj.uid, "", tuple(self._histories[n] for n in names))  # "": all of them
            joined = self._caches.fingerprints.get(key) if self._remember else None
            if joined is None:
                parts = [f"{name}:{self._agent_digest(name)}" for name in names]
                joined = hashlib.blake2b("|".join(parts).encode(), digest_size=8).hexdigest()
                if self._remember:
                    self._caches.fingerprints.put(key, joined)
            self._fingerprint = joined
        return f"{self._task.task_id}|s{self._stage}|{self._fingerprint}"

    def oracle_action(self) -> Action | None:
        """The stage's gold calls (all at once) if none was made yet in it, else an answer."""
        if self._task is None or self._stage >= len(self._task.stages):
            return None
        stage = self._task.stages[self._stage]
        if not stage.gold or self._stage_steps > 0:
            return "Done." if stage.gold else "I cannot do that with the functions I have; please clarify."
        key = (self._task.task_id, self._stage)
        if key not in self._oracle_cache:
            if len(self._oracle_cache) > 256:
                self._oracle_cache.clear()
            exact = "tool_calls" in self.action_formats and all(_json_exact(c.arguments) for c in stage.gold)
            self._oracle_cache[key] = (
                [(c.name, json.dumps(c.arguments)) for c in stage.gold] if exact
                else "[" + ", ".join(_render(c) for c in stage.gold) + "]"
            )
        cached = self._oracle_cache[key]
        if isinstance(cached, str):
            return cached
        return {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call_{self._stage}_{i}", "type": "function",
             "function": {"name": name, "arguments": args}}
            for i, (name, args) in enumerate(cached)
        ]}

    def get_state(self) -> dict[str, Any]:
        """A deep snapshot: back-ends (the agent's and the gold run), stage and bookkeeping."""
        return {
            **self.base_state(), "task": self._task, "stage": self._stage,
            "stage_calls": list(self._stage_calls), "stage_steps": self._stage_steps,
            "agent_results": list(self._agent_results), "verdicts": copy.deepcopy(self._verdicts),
            "visible": list(self._visible), "agent": copy.deepcopy(self._agent),
            "gold": copy.deepcopy(self._gold), "gold_run": self._gold_run,
            "gold_touched": set(self._gold_touched), "agent_touched": set(self._agent_touched),
            "histories": dict(self._histories), "first_episode": self._first_episode,
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore a snapshot from :meth:`get_state` (it stays reusable)."""
        self.restore_base_state(state)
        self._task = state["task"]
        self._stage, self._stage_steps = int(state["stage"]), int(state["stage_steps"])
        self._stage_calls = list(state["stage_calls"])
        self._agent_results = list(state["agent_results"])
        self._verdicts = copy.deepcopy(state["verdicts"])
        self._visible = list(state["visible"])
        self._agent, self._gold = copy.deepcopy(state["agent"]), copy.deepcopy(state["gold"])
        self._gold_run = state["gold_run"]  # read-only: shared, not copied
        self._gold_touched, self._agent_touched = set(state["gold_touched"]), set(state["agent_touched"])
        self._histories = dict(state["histories"])
        self._first_episode = bool(state["first_episode"])
        self._template_obj = self._template(self._task) if self._task is not None else None
        self._expected = (self._gold_histories(self._task) if self.lazy_gold and self._task is not None
                          else None)
        self._fingerprint = None
        self._pending_errors = []
        self._sync_tools()


def _signature(spec: ToolSpec) -> str:
    """``name(arg: type, ...)``, required arguments first, optional ones marked ``?``."""
    properties = spec.parameters.get("properties", {})
    required = set(spec.parameters.get("required", []))
    parts = [f"{n}{'' if n in required else '?'}: {p.get('type', 'any') if isinstance(p, Mapping) else 'any'}"
             for n, p in properties.items()]
    return f"{spec.name}({', '.join(parts)})"


def _render(call: ParsedCall) -> str:
    """A call in Python syntax (its arguments as literals)."""
    return f"{call.name}({', '.join(f'{k}={v!r}' for k, v in call.arguments.items())})"


def _json_exact(value: Any) -> bool:
    """Whether ``value`` survives a JSON round trip with the same types (no tuples, int keys...):
    it is made of dicts with string keys, lists, strings, ints, floats, booleans and ``None``."""
    kind = type(value)
    if kind in (str, int, float, bool) or value is None:
        return True
    if kind is list:
        return all(_json_exact(v) for v in value)
    if kind is dict:
        return all(type(k) is str and _json_exact(v) for k, v in value.items())
    return False

