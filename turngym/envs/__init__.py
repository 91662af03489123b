"""turngym's environment families, one sub-package each.

Each family that is present registers its ids through its own light
``registration`` module (string entry points only, so nothing heavy is
imported until an environment is made).
"""

import importlib
import importlib.util

FAMILIES: tuple[str, ...] = ("search_qa", "code_sandbox", "tool_use", "webshop")


def register_builtin() -> None:
    """Register every family's ids with Gymnasium (idempotent)."""
    for family in FAMILIES:
        name = f"{__name__}.{family}.registration"
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            importlib.import_module(name)


register_builtin()
