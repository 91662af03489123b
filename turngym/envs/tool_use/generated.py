"""Generated ToolUse tasks over turngym's own APIs: seeded, levelled, split, contamination-free.

A task is drawn from its id alone (``gen-<level>-<split>-<index>``), so the same id is
the same task everywhere and the ``train`` and ``test`` splits draw from disjoint seed
streams. While drawing, every gold call is run on a simulated copy of the back-ends, so
each request is valid in the state the agent will be in (no transfer larger than the
balance, no note read before it exists).

A :class:`Level` sets the difficulty: the number of user turns, the calls each asks for,
distractor APIs (whose tools are offered but never needed), a missing function (held out,
asked for in a stage whose right answer is no call, revealed in the next stage, as in
BFCL's ``miss_func``) and a missing parameter (a request without a needed value: the
right answer is to ask; the value comes in the next stage, as in BFCL's ``miss_param``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from turngym.core.actions import ParsedCall
from turngym.envs.tool_use.apis import API_CLASSES
from turngym.envs.tool_use.backends import Backends
from turngym.envs.tool_use.schema import tools_from_class
from turngym.envs.tool_use.tasks import Catalog, Stage, ToolTask


@dataclass(frozen=True)
class Level:
    """How hard generated tasks are (see the module docstring)."""

    stages: int
    calls_per_stage: tuple[int, int]
    domains: int = 1
    distractors: int = 0
    missing_function: bool = False
    missing_parameter: bool = False


LEVELS: dict[str, Level] = {
    "easy": Level(stages=2, calls_per_stage=(1, 1)),
    "medium": Level(stages=3, calls_per_stage=(1, 2), domains=1, distractors=1),
    "hard": Level(stages=4, calls_per_stage=(2, 3), domains=2, distractors=1,
                  missing_function=True, missing_parameter=True),
}
SPLITS: tuple[str, ...] = ("train", "test")

_ACCOUNTS = ("checking", "savings", "travel", "rent", "groceries", "gifts")
_TITLES = ("groceries", "ideas", "meeting", "books", "trip", "recipes")
_WORDS = ("buy milk", "call Ana", "draft the plan", "book a table", "read chapter 3", "pack a charger")
_TAGS = ("urgent", "home", "work", "later")
_EVENTS = ("standup", "dentist", "lunch", "review", "gym", "piano")
_DAYS = ("mon", "tue", "wed", "thu", "fri")
_DAY_NAMES = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday", "fri": "Friday"}


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    """The generated APIs' classes and their tool specs (derived from the typed methods)."""
    # deterministic: plain data changed by the calls alone (tests/tool_use/test_determinism.py)
    return Catalog(API_CLASSES, {name: tools_from_class(cls) for name, cls in API_CLASSES.items()},
                   deterministic=True)


def _initial_config(domain: str, rng: np.random.Generator) -> dict[str, Any]:
    if domain == "BankAPI":
        names = rng.choice(_ACCOUNTS, size=3, replace=False)
        return {"accounts": {str(n): float(rng.integers(2, 60) * 10) for n in names}}
    if domain == "NotesAPI":
        titles = rng.choice(_TITLES, size=2, replace=False)
        return {"notes": {str(t): str(rng.choice(_WORDS)) for t in titles}}
    taken = rng.choice(len(_DAYS) * 10, size=2, replace=False)
    events = rng.choice(_EVENTS, size=2, replace=False)
    return {"events": {str(e): {"day": _DAYS[int(s) // 10], "hour": 8 + int(s) % 10}
                       for e, s in zip(events, taken)}}


@dataclass(frozen=True)
class _Op:
    """A request a user can make: the call's arguments drawn from the current state."""

    method: str
    choose: Callable[[np.random.Generator, Any], dict[str, Any] | None]
    say: str
    vague: tuple[str, str, str] | None = None
    """(argument left out, the request without it, the follow-up that gives it)."""


def _pick(rng: np.random.Generator, items: Any) -> Any:
    items = list(items)
    return items[int(rng.integers(len(items)))] if items else None


def _bank_ops() -> list[_Op]:
    def balance(rng: np.random.Generator, api: Any) -> dict[str, Any] | None:
        account = _pick(rng, sorted(api.accounts))
        return None if account is None else {"account": account}

    def deposit(rng: np.random.Generator, api: Any) -> dict[str, Any] | None:
        account = _pick(rng, sorted(api.accounts))
        return None if account is None else {"account": account, "amount": int(rng.integers(1, 20)) * 5}

    def withdraw(rng: np.random.Generator, api: Any) -> dict[str, Any] | None:
        rich = [a for a, b in sorted(api.accounts.items()) if b >= 10]
        account = _pick(rng, rich)
        if account is None:
            return None
        return {"account": account, "amount": int(rng.integers(1, int(api.accounts[account] // 5) + 1)) * 5}

    def transfer(rng: np.random.Generator, api: Any) -> dict[str, Any] | None:
        rich = [a for a, b in sorted(api.accounts.items()) if b >= 10]
        source = _pick(rng, rich)
        target = _pick(rng, [a for a in sorted(api.accounts) if a != source])
        if source is None or target is None:
            return None
        amount = int(rng.integers(1, int(api.accounts[source] // 5) + 1)) * 5
        return {"source": source, "target": target, "amount": amount}

    def open_account(rng: np.random.Generator, api: Any) -> dict[str, Any] | None:
        account = _pick(rng, [a for a in _ACCOUNTS if a not in api.accounts])
        return None if account is None else {"account": account}

    return [
        _Op("get_balance", balance, "What is the balance of my {account} account?"),
        _Op("deposit", deposit, "Deposit ${amount} into {account}.",
            ("amount", "Deposit some money into {account}.", "Oh, the amount: ${amount}.")),
        _Op("withdraw", withdraw, "Withdraw ${amount} from {account}.",
            ("amount", "Withdraw some cash from {account}.", "Sorry, I meant ${amount}.")),
        _Op("transfer", transfer, "Move ${amount} from {source} to {target}.",
            ("target", "Move ${amount} out of {source}.", "It should go to {target}.")),
        _Op("open_account", open_account, "Open a new account called {account}."),
    ]


def _notes_ops() -> list[_Op]:
    def any_note(rng: np.random.Generator, api: Any) -> dict[str, Any] | None:
        title = _pick(rng, sorted(api.notes))
        return None if title is None else {"title": title}

    def create(rng: np.random.Generator, api: Any) -> dict[str, Any] | None:
        title = _pick(rng, [t for t in _TITLES if t not in api.notes])
        return None if title is None else {"title": title, "text": str(rng.choice(_WORDS))}

    def append(rng: np.random.Generator, api: Any) -> dict[str, Any] | None:
        title = _pick(rng, sorted(api.notes))
        return None if title is None else {"title": title, "text": str(rng.choice(_WORDS))}

    def tag(rng: np.random.Generator, api: Any) -> dict[str, Any] | None:
        title = _pick(rng, sorted(api.notes))
        return None if title is None else {"title": title, "tag": str(rng.choice(_TAGS))}

    return [
        _Op("list_notes", lambda rng, api: {}, "Which notes do I have?"),
        _Op("read_note", any_note, "Show me my {title} note."),
        _Op("create_note", create, "Make a note titled {title} saying '{text}'.",
            ("text", "Make a new note titled {title}.", "It should say '{text}'.")),
        _Op("append_to_note", append, "Add '{text}' to the end of the {title} note.",
            ("title", "Add '{text}' to one of my notes.", "Put it in the {title} note.")),
        _Op("tag_note", tag, "Tag the {title} note as {tag}."),
        _Op("delete_note", any_note, "Delete the {title} note."),
    ]


def _calendar_ops() -> list[_Op]:
    def free_slot(rng: np.random.Generator, api: Any) -> tuple[str, int] | None:
        taken = {(e["day"], e["hour"]) for e in api.events.values()}
        slots = [(d, h) for d in _DAYS for h in range(8, 18) if (d, h) not in taken]
        return _pick(rng, slots)

    def add(rng: np.random.Generator, api: Any) -> dict[str, Any] | None:
        title = _pick(rng, [e for e in _EVENTS if e not in api.events])
        slot = free_slot(rng, api)
        return None if title is None or slot is None else {"title": title, "day": slot[0], "hour": slot[1]}

    def move(rng: np.random.Generator, api: Any) -> dict[str, Any] | None:
        title = _pick(rng, sorted(api.events))
        slot = free_slot(rng, api)
        return None if title is None or slot is None else {"title": title, "day": slot[0], "hour": slot[1]}

    def cancel(rng: np.random.Generator, api: Any) -> dict[str, Any] | None:
        title = _pick(rng, sorted(api.events))
        return None if title is None else {"title": title}

    return [
        _Op("list_events", lambda rng, api: {"day": str(rng.choice(_DAYS))},
            "What is on my calendar on {day_name}?"),
        _Op("add_event", add, "Put {title} on {day_name} at {hour}:00.",
            ("hour", "Put {title} on {day_name}.", "Make it {hour}:00.")),
        _Op("move_event", move, "Move {title} to {day_name} at {hour}:00."),
        _Op("cancel_event", cancel, "Cancel {title}."),
    ]


_OPS: dict[str, list[_Op]] = {
    "BankAPI": _bank_ops(), "NotesAPI": _notes_ops(), "CalendarAPI": _calendar_ops(),
}


def _text(template: str, arguments: dict[str, Any]) -> str:
    fields = dict(arguments)
    if "day" in fields:
        fields["day_name"] = _DAY_NAMES[fields["day"]]
    return template.format(**fields)


def _draw(rng: np.random.Generator, domains: list[str], sim: Backends,
          exclude: set[str], vague: bool = False) -> tuple[str, ParsedCall, _Op] | None:
    """A random valid request in the simulated state (``None`` if none is possible)."""
    for _ in range(50):
        domain = domains[int(rng.integers(len(domains)))]
        op = _OPS[domain][int(rng.integers(len(_OPS[domain])))]
        if op.method in exclude or (vague and op.vague is None):
            continue
        arguments = op.choose(rng, sim.instances[domain])
        if arguments is None:
            continue
        return _text(op.say, arguments), ParsedCall(op.method, arguments), op
    return None


def _seed(level: str, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(f"{level}|{split}".encode()), index])


def generate_task(level: str, split: str, index: int) -> ToolTask:
    """The generated task ``gen-<level>-<split>-<index>`` (deterministic)."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; accepted: {', '.join(LEVELS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; accepted: {', '.join(SPLITS)}")
    if not isinstance(index, int) or index < 0:
        raise ValueError(f"index must be an int >= 0, got {index!r}")
    spec = LEVELS[level]
    rng = _seed(level, split, index)
    names = [str(n) for n in rng.permutation(sorted(API_CLASSES))]
    used, distractors = names[: spec.domains], names[spec.domains: spec.domains + spec.distractors]
    classes = tuple(used + distractors)
    config = {name: _initial_config(name, rng) for name in classes}
    sim = Backends({n: API_CLASSES[n] for n in classes}, config)
    plain = list(range(spec.stages))
    special: dict[int, str] = {}
    if spec.missing_function:
        special[int(rng.integers(spec.stages))] = "function"
    if spec.missing_parameter:
        free = [s for s in plain if s not in special]
        special[int(free[int(rng.integers(len(free)))])] = "parameter"
    hidden_op: _Op | None = None
    if "function" in special.values():
        domain = used[int(rng.integers(len(used)))]
        hidden_op = _OPS[domain][int(rng.integers(len(_OPS[domain])))]
    stages: list[Stage] = []
    hidden: tuple[str, ...] = ()
    for s in plain:
        kind = special.get(s)
        exclude = {hidden_op.method} if hidden_op is not None and not hidden else set()
        if kind == "function" and hidden_op is not None:
            arguments = None
            for _ in range(50):
                domain = next(d for d in used if hidden_op in _OPS[d])
                arguments = hidden_op.choose(rng, sim.instances[domain])
                if arguments is not None:
                    break
            if arguments is not None:
                call = ParsedCall(hidden_op.method, arguments)
                hidden = (hidden_op.method,)
                stages.append(Stage((_text(hidden_op.say, arguments),), ()))
                stages.append(Stage((), (call,), reveal=hidden))
                sim.execute(call)
                continue
        if kind == "parameter":
            drawn = _draw(rng, used, sim, exclude, vague=True)
            if drawn is not None:
                _, call, op = drawn
                assert op.vague is not None
                stages.append(Stage((_text(op.vague[1], call.arguments),), ()))
                stages.append(Stage((_text(op.vague[2], call.arguments),), (call,)))
                sim.execute(call)
                continue
        low, high = spec.calls_per_stage
        texts, calls = [], []
        for _ in range(int(rng.integers(low, high + 1))):
            drawn = _draw(rng, used, sim, exclude)
            if drawn is None:
                break
            text, call, _ = drawn
            sim.execute(call)
            texts.append(text)
            calls.append(call)
        request = " Then ".join(t[:1].lower() + t[1:] if i else t for i, t in enumerate(texts))
        stages.append(Stage((request or "Thanks, that is all.",), tuple(calls)))
    return ToolTask(
        task_id=f"gen-{level}-{split}-{index}", category=f"generated_{level}", stages=tuple(stages),
        classes=classes, initial_config=config, hidden=hidden,
    )


def parse_task_id(task_id: str) -> tuple[str, str, int]:
    """``"gen-hard-test-7"`` -> ``("hard", "test", 7)``; ``ValueError`` for anything else."""
    parts = task_id.split("-")
    if len(parts) != 4 or parts[0] != "gen" or not parts[3].isdigit():
        raise ValueError(f"generated task ids look like gen-<level>-<split>-<index>, got {task_id!r}")
    return parts[1], parts[2], int(parts[3])
