"""Saying once when turngym takes a slower or different path than it could.

Some speed-ups rest on private or moving APIs of torch and transformers (oneDNN
prepacked weights, transformers' attention registry). When one of them is not
there, turngym falls back to the plain path, and says so once per process with a
:class:`FallbackWarning` naming the internal, the installed version and the cost,
rather than silently running slower.
"""

from __future__ import annotations

import threading
import warnings

_said: set[str] = set()
_lock = threading.Lock()


class FallbackWarning(RuntimeWarning):
    """turngym took a slower or different path because an internal API it uses is missing."""


def warn_once(key: str, message: str, *, stacklevel: int = 3) -> bool:
    """Warn ``message`` the first time ``key`` is seen in this process; True when it warned."""
    with _lock:
        if key in _said:
            return False
        _said.add(key)
    warnings.warn(message, FallbackWarning, stacklevel=stacklevel)
    return True
