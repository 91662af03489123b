"""One lock around Python's ``ast`` module for code that may run in several threads.

CPython 3.11 (and early 3.12) keeps the AST constructors' recursion depth in shared state, so
two threads parsing or dumping at the same time can fail with ``SystemError: AST constructor
recursion depth mismatch`` (cpython issue gh-106905). The episode runner steps environments in
threads, and the code sandbox and the Python-call action format parse what models write, so
turngym's ``ast`` calls go through :data:`AST_LOCK`. Parsing is microseconds; the lock costs
nothing measurable.
"""

from __future__ import annotations

import threading

AST_LOCK = threading.RLock()
"""Held around every ``ast.parse``/``dump``/``unparse``/``literal_eval`` turngym makes."""
