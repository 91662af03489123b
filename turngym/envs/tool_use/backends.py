"""Executable back-ends: fresh instances per episode, calls dispatched by method name.

A back-end is a plain Python class whose public methods are the tools (BFCL's
``GorillaFileSystem``, ``TradingBot``, ... or turngym's generated APIs) and whose
``_load_scenario(config, long_context=False)`` loads a task's initial state.
:class:`Backends` holds one fresh instance of each class a task involves and runs
:class:`~turngym.core.actions.ParsedCall` objects on them: the method is looked up by
name among the public methods (never by evaluating text), called with the parsed
keyword arguments, and its result turned into the string the model reads, exactly as
BFCL's executor does (strings as they are, dicts as JSON, anything else through ``str``,
an exception as ``"Error during execution: <message>"``), so that BFCL's response check
compares the same strings. Omitted arguments whose default is a mutable container get a
fresh copy of it, so that no call leaks state into another episode through a shared
default (see :func:`mutable_defaults`).

:class:`BackendTemplate` loads a task's back-ends once and pickles them; every
:meth:`~BackendTemplate.instantiate` unpickles a fresh, independent set (about twice as
fast as ``_load_scenario`` and five times as fast as ``copy.deepcopy``), so episodes of
the same task still start from their own state and share nothing.
"""

from __future__ import annotations

import copy
import copyreg
import decimal
import hashlib
import inspect
import io
import itertools
import json
import pickle
import random
import sys
import threading
import types
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from turngym.core.actions import ParsedCall

ERROR_PREFIX = "Error during execution: "
MAX_REMEMBERED_TEXT = 1 << 16
"""Longer result texts are written out every time, never remembered (see ``Backends.execute``)."""


@cache
def public_methods(cls: type) -> frozenset[str]:
    """The names of ``cls``'s public methods (inherited ones included): its tools."""
    return frozenset(n for n, _ in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_"))


_PRECISION_LIBRARIES = frozenset({"decimal", "_decimal", "_pydecimal", "mpmath"})


@cache
def uses_precision(cls: type) -> bool:
    """Whether ``cls``'s methods may depend on decimal's or mpmath's process-wide precision.

    True when, for ``cls`` or one of its base classes, its module refers to either library
    (imports it, or a name from it, such as ``Decimal`` or ``getcontext``), or cannot be
    inspected, or the code of one of its methods, or of a function defined in its module,
    imports it where it runs (``import decimal``, ``from mpmath import mpf`` inside a
    function, nested functions included) or names it in a string (``importlib.import_module
    ("mpmath")``). Only such back-ends (BFCL's ``MathAPI``) need :meth:`Backends.execute`'s
    precision handling (an attribute or variable that happens to be called ``decimal`` also
    counts: harmless, only slower). Not seen: a back-end that reaches these libraries only
    through code of another module (a helper module of its own, a third-party library):
    import them where the back-end is defined, or in a method, to be seen.
    """
    for klass in cls.__mro__:
        if klass is object:
            continue
        module = sys.modules.get(klass.__module__)
        if module is None:
            return True
        for value in vars(module).values():
            is_module = isinstance(value, types.ModuleType)
            name = value.__name__ if is_module else getattr(value, "__module__", None)
            if isinstance(name, str) and name.split(".")[0] in _PRECISION_LIBRARIES:
                return True
            defined_here = isinstance(value, types.FunctionType) and value.__module__ == module.__name__
            if defined_here and _code_refers_to_precision(value.__code__):
                return True
        for value in vars(klass).values():
            for function in _functions_of(value):
                if _code_refers_to_precision(function.__code__):
                    return True
    return False


def _functions_of(value: Any) -> list[types.FunctionType]:
    """The plain functions a class attribute holds (a method, static or class method, property)."""
    if isinstance(value, (staticmethod, classmethod)):
        value = value.__func__
    if isinstance(value, property):
        return [f for f in (value.fget, value.fset, value.fdel) if isinstance(f, types.FunctionType)]
    return [value] if isinstance(value, types.FunctionType) else []


def _code_refers_to_precision(code: types.CodeType) -> bool:
    """Whether ``code`` (or code nested in it) names decimal or mpmath: an import in a function
    puts the module's name among the code's names, ``import_module("...")`` among its constants."""
    for name in code.co_names:
        if name.split(".")[0] in _PRECISION_LIBRARIES:
            return True
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            if _code_refers_to_precision(constant):
                return True
        elif isinstance(constant, str) and constant.split(".")[0] in _PRECISION_LIBRARIES:
            return True
    return False


@cache
def mutable_defaults(cls: type, method: str) -> tuple[tuple[str, Any], ...]:
    """Parameters of ``cls.method`` whose default is a list, dict or set, with a copy of it.

    Python shares such a default between calls: a method that mutates it (BFCL's
    ``TwitterAPI.post_tweet(mentions=[])`` with ``mention`` extending the list) leaks state
    across instances and episodes. :meth:`Backends.execute` passes a fresh copy instead.
    The copy is taken on first use, before any call of the method ran through here.
    """
    out = []
    for parameter in inspect.signature(getattr(cls, method)).parameters.values():
        if isinstance(parameter.default, (list, dict, set)):
            out.append((parameter.name, copy.deepcopy(parameter.default)))
    return tuple(out)


_ATOMIC = frozenset({str, int, float, bool, type(None)})


def extend_history(history: bytes, call: ParsedCall) -> bytes:
    """The digest of a back-end's call history ``history`` followed by ``call``.

    A call counts by its name and the ``repr`` of its arguments, which tells apart what
    ``==`` does not (``1``, ``1.0`` and ``True``; a list and a tuple; the order of a dict's
    keys), so that equal digests mean calls a back-end cannot tell apart. The empty history
    is ``b""``. Deterministic back-ends that ran equal histories from the same initial state
    are in the same state and gave the same results (see ``ToolUseEnv``'s lazy gold run).
    """
    return hashlib.blake2b(history + call.name.encode() + b"\0" + repr(call.arguments).encode(),
                           digest_size=16).digest()


def copy_arguments(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A fresh copy of a call's arguments, as BFCL's ``eval`` of the call text makes.

    Arguments come from JSON or Python literals: strings, numbers, booleans, ``None``,
    lists, tuples, dicts and sets of them. Those are copied by a plain walk (no memo, as a
    fresh ``eval`` shares nothing either), several times faster than ``copy.deepcopy``;
    anything else goes through ``copy.deepcopy``.
    """
    return {key: _copy_value(value) for key, value in arguments.items()}


def _copy_value(value: Any) -> Any:
    kind = type(value)
    if kind in _ATOMIC:
        return value
    if kind is list:
        return [_copy_value(v) for v in value]
    if kind is dict:
        return {k: _copy_value(v) for k, v in value.items()}
    if kind is tuple:
        return tuple(_copy_value(v) for v in value)
    if kind is set:
        return {_copy_value(v) for v in value}
    return copy.deepcopy(value)


def format_result(result: Any) -> str:
    """A method's return value as BFCL's executor shows it to the model."""
    if type(result) is str:
        return result
    if type(result) is dict:
        try:
            return json.dumps(result)
        except (TypeError, ValueError):
            return str(result)
    return str(result)


def is_error_result(result: Any) -> bool:
    """Whether a back-end reported failure: it raised, or returned ``{"error": ...}``."""
    return isinstance(result, dict) and "error" in result


class Backends:
    """One episode's back-end instances and the routing of tool names to them.

    Args:
        classes: back-end classes by name (e.g. ``{"MathAPI": MathAPI}``).
        configs: initial configuration per class name (missing: ``{}``); deep-copied.
        long_context: passed to ``_load_scenario`` (BFCL's long-context category).
        stateless: classes that take no scenario (BFCL's ``MathAPI``).
        private_configs: ``configs`` are already this episode's own copies (not copied again).

    When two classes share a method name, the later class in ``classes`` owns it (as in
    BFCL, whose routing table is filled in the task's class order).
    """

    def __init__(
        self,
        classes: Mapping[str, type],
        configs: Mapping[str, Any] | None = None,
        *,
        long_context: bool = False,
        stateless: Sequence[str] = (),
        private_configs: bool = False,
    ) -> None:
        self.instances: dict[str, Any] = {}
        self.routes: dict[str, str] = {}
        self._unpickle: dict[str, bytes] = {}  # see BackendTemplate.instantiate
        configs = configs or {}
        for name, cls in classes.items():
            instance = cls()
            if name not in stateless:
                config = configs.get(name, {})
                config = config if private_configs else copy.deepcopy(dict(config))
                instance._load_scenario(config, long_context=long_context)
            self.instances[name] = instance
            for method in public_methods(cls):
                self.routes[method] = name

    def __deepcopy__(self, memo: dict[int, Any]) -> Backends:
        clone = object.__new__(Backends)
        # A template's read-only instance (not called yet here) stays shared, with its blob.
        clone.instances = {name: instance if name in self._unpickle else copy.deepcopy(instance, memo)
                           for name, instance in self.instances.items()}
        clone.routes = dict(self.routes)
        clone._unpickle = dict(self._unpickle)
        return clone

    def execute(self, call: ParsedCall, texts: Any = None, key: Any = None) -> tuple[str, bool]:
        """Run one call: ``(result text, succeeded)``. Never raises on what the call holds.

        ``texts`` (an object with ``get(key)`` and ``put(key, text)``, such as
        :class:`~.gold.LRU`) remembers the text of a dict result under ``key``; a later call
        with the same ``key`` still runs but reads the text instead of writing the dict out
        again. The caller makes ``key`` name the back-end's state before the call and the call
        (e.g. the template, the back-end and its call history with this call): deterministic
        back-ends then return an equal dict, whose text is the same. Pass ``texts`` only for
        back-ends known to be deterministic (``ToolUseEnv`` does so only for a catalog declared
        deterministic, with ``lazy_gold`` on): any other would read a stale text.
        """
        owner = self.routes.get(call.name)
        if owner is None:
            return f"{ERROR_PREFIX}name '{call.name}' is not defined", False
        blob = self._unpickle.pop(owner, None)
        if blob is not None:  # first call to it: this episode's own copy replaces the shared one
            self.instances[owner] = pickle.loads(blob)
        instance = self.instances[owner]
        method = getattr(instance, call.name)
        # A fresh copy of the arguments, as BFCL's eval of the call text makes: back-ends keep
        # and mutate what they are given (a tweet's mentions list), which must not alias the
        # caller's data (a task's gold calls, shared by every episode).
        arguments = copy_arguments(call.arguments)
        for name, default in mutable_defaults(type(instance), call.name):
            if name not in arguments:
                arguments[name] = copy.deepcopy(default)
        if not uses_precision(type(instance)):  # nothing in it reads the libraries' precision
            try:
                result = method(**arguments)
            except Exception as exc:  # a back-end method that raises is the model's tool error
                return f"{ERROR_PREFIX}{exc}", False
            if texts is None or type(result) is not dict:
                return format_result(result), not is_error_result(result)
            text = texts.get(key)
            if text is None:
                text = format_result(result)
                if len(text) <= MAX_REMEMBERED_TEXT:
                    texts.put(key, text)
            return text, "error" not in result
        # Some back-ends set decimal's precision (and mpmath's) process-wide, and an mpmath
        # number's text depends on the precision when it is written. Every call starts from
        # the libraries' defaults (as in a fresh process) and its result is written at
        # mpmath's default precision; the caller's settings are restored after. So a result
        # depends on the call and the back-end's state only, never on what ran before in the
        # process (BFCL's own executor leaves its precisions changed).
        # mpmath's precision is process-wide, not per thread, and runners step environments in
        # threads: the lock keeps one call's set/compute/format/restore from interleaving.
        with _PRECISION_LOCK:
            return self._call_at_default_precision(method, arguments)

    @staticmethod
    def _call_at_default_precision(method: Any, arguments: dict[str, Any]) -> tuple[str, bool]:
        mp = _MPMATH.mp if _MPMATH is not None else None
        prec = mp.prec if mp is not None else _MP_DEFAULT_PREC
        try:
            if prec != _MP_DEFAULT_PREC:
                mp.prec = _MP_DEFAULT_PREC
            try:
                with decimal.localcontext(_DECIMAL_DEFAULTS):
                    result = method(**arguments)
            except Exception as exc:  # a back-end method that raises is the model's tool error
                if mp is not None and mp.prec != _MP_DEFAULT_PREC:
                    mp.prec = _MP_DEFAULT_PREC
                return f"{ERROR_PREFIX}{exc}", False
            if mp is not None and mp.prec != _MP_DEFAULT_PREC:
                mp.prec = _MP_DEFAULT_PREC
            return format_result(result), not is_error_result(result)
        finally:
            if mp is not None and mp.prec != prec:
                mp.prec = prec


try:
    import mpmath as _MPMATH
except ImportError:  # pragma: no cover - mpmath comes with the dev extra
    _MPMATH = None
_MP_DEFAULT_PREC = 53
_PRECISION_LOCK = threading.Lock()
"""mpmath's default binary precision (15 decimal digits)."""
_DECIMAL_DEFAULTS = decimal.Context()
"""decimal's default context (``localcontext`` runs each call on a copy of it)."""


def _reduce_random(generator: random.Random) -> tuple:
    # Made by __new__ and restored by __setstate__: unpickling skips Random(), which seeds the
    # generator from os.urandom before its state is set (most of an unpickled back-end's time).
    return (copyreg.__newobj__, (type(generator),), generator.getstate())


_DISPATCH = {**copyreg.dispatch_table, random.Random: _reduce_random}


def dumps(instance: Any) -> bytes:
    """``pickle.dumps`` of a back-end (highest protocol), its random generators written so that
    they load without being seeded first: ``pickle.loads`` gives an equal object, faster."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(instance)
    return buffer.getvalue()


_UIDS = itertools.count()


def _next_uid() -> int:
    return next(_UIDS)


class BackendTemplate:
    """A task's back-ends loaded once; :meth:`instantiate` gives a fresh, independent copy.

    The instances are loaded with ``_load_scenario`` (as :class:`Backends` does) and pickled
    at once, each on its own, before any call ran on them; :meth:`instantiate` unpickles
    them, so every episode gets its own objects equal to a fresh load, and the loaded
    objects themselves are never handed out. With ``lazy=True`` a back-end is unpickled on
    the first call that goes to it (copy on write): until then the episode reads one
    unpickled instance shared by all episodes of the task, which nothing calls or changes
    (the checks and state hashes only read it); the first lazy copy of a template is made
    of its own instances at once (a task played once needs no shared ones). That also keeps
    episodes apart where a back-end's ``_load_scenario`` puts module-level objects into its
    state (BFCL's ``TravelAPI`` adds the long-context credit cards by reference: a fresh load
    per episode shares them, and a booking on one changes every later load). Back-ends that
    cannot be pickled are deep-copied instead.

    Args: as :class:`Backends` (``configs`` are not modified).
    """

    def __init__(
        self,
        classes: Mapping[str, type],
        configs: Mapping[str, Any] | None = None,
        *,
        long_context: bool = False,
        stateless: Sequence[str] = (),
        private_configs: bool = False,
    ) -> None:
        loaded = Backends(classes, configs, long_context=long_context, stateless=stateless,
                          private_configs=private_configs)
        self.routes: dict[str, str] = loaded.routes
        self.sorted_names: tuple[str, ...] = tuple(sorted(loaded.instances))
        self.uid = _next_uid()
        """Unique in this process: remembered state hashes are keyed by it."""
        self._pristine: dict[str, Any] | None = None
        self._shared: dict[str, Any] | None = None  # made by the second lazy copy
        self._lazy_copies = 0
        try:
            self._blobs: dict[str, bytes] | None = {
                name: dumps(instance)
                for name, instance in loaded.instances.items()}
        except (pickle.PicklingError, TypeError, AttributeError):
            self._blobs = None
            self._pristine = loaded.instances

    def instantiate(self, *, lazy: bool = False) -> Backends:
        """A fresh set of back-end instances in the task's initial state (``lazy``: copy on write)."""
        clone = object.__new__(Backends)
        clone.routes = self.routes
        clone._unpickle = {}
        if self._blobs is None:
            clone.instances = copy.deepcopy(self._pristine)
        elif lazy and self._lazy_copies > 0:
            self._lazy_copies += 1
            if self._shared is None:
                self._shared = {name: pickle.loads(blob) for name, blob in self._blobs.items()}
            clone.instances = dict(self._shared)
            clone._unpickle = dict(self._blobs)
        else:  # every instance its own (also the first lazy copy: no shared instances yet)
            self._lazy_copies += lazy
            clone.instances = {name: pickle.loads(blob) for name, blob in self._blobs.items()}
        return clone

    def copy_instance(self, instance: Any) -> Any:
        """An independent copy of one back-end instance (pickled, or deep-copied)."""
        if self._blobs is not None:
            return pickle.loads(dumps(instance))
        return copy.deepcopy(instance)
