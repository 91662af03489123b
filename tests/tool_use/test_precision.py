"""Which back-ends get the precision handling of ``Backends.execute`` (``uses_precision``).

Each back-end below is defined in a module of its own (made from source here), since what
a back-end's module holds counts too.
"""

from __future__ import annotations

import decimal
import sys
import textwrap
import types

import pytest

from turngym.core.actions import ParsedCall
from turngym.envs.tool_use import bfcl
from turngym.envs.tool_use.backends import Backends, uses_precision

THIRD = "str(decimal.Decimal(1) / decimal.Decimal(3))"


def _backend(name: str, source: str) -> type:
    """The class ``Backend`` of a new module ``name`` made from ``source``."""
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(textwrap.dedent(source), module.__dict__)  # test code of our own, not model text
    return module.Backend


CASES = {
    "plain": ("""
        class Backend:
            decimal_places = 2  # a name that merely contains the word
            def third(self):
                return "1/3"
        """, False),
    "method_import": (f"""
        class Backend:
            def third(self):
                import decimal
                return {THIRD}
        """, True),
    "from_import_in_nested_function": ("""
        class Backend:
            def third(self):
                def inner():
                    from decimal import Decimal
                    return str(Decimal(1) / Decimal(3))
                return inner()
        """, True),
    "static_method_import_as": ("""
        class Backend:
            @staticmethod
            def third():
                import mpmath as mp
                return str(mp.mpf(1) / 3)
        """, True),
    "property_import": (f"""
        class Backend:
            @property
            def third(self):
                import decimal
                return {THIRD}
        """, True),
    "import_module_by_name": ("""
        import importlib
        class Backend:
            def third(self):
                d = importlib.import_module("decimal")
                return str(d.Decimal(1) / d.Decimal(3))
        """, True),
    "helper_function_of_the_module": (f"""
        def _third():
            import decimal
            return {THIRD}
        class Backend:
            def third(self):
                return _third()
        """, True),
    "module_import": (f"""
        import decimal
        class Backend:
            def third(self):
                return {THIRD}
        """, True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_precision_libraries_are_seen_wherever_the_back_end_imports_them(case):
    source, expected = CASES[case]
    cls = _backend(f"turngym_test_precision_{case}", source)
    assert uses_precision(cls) is expected


@pytest.mark.parametrize("case", ["method_import", "from_import_in_nested_function",
                                  "helper_function_of_the_module"])
def test_a_function_local_import_runs_at_the_default_precision_whatever_the_caller_set(case):
    cls = _backend(f"turngym_test_precision_run_{case}", CASES[case][0])
    backends = Backends({"B": cls}, stateless=("B",))
    default = backends.execute(ParsedCall("third", {}))
    assert default == (str(decimal.Decimal(1) / decimal.Decimal(3)), True) and len(default[0]) == 30
    with decimal.localcontext() as context:
        context.prec = 5
        assert backends.execute(ParsedCall("third", {})) == default
        assert decimal.getcontext().prec == 5  # the caller's setting stays


def test_only_bfcl_math_and_subclasses_of_it_get_the_precision_handling():
    from bfcl_eval.eval_checker.multi_turn_eval.func_source_code.math_api import MathAPI

    assert {n for n, cls in bfcl.catalog().classes.items() if uses_precision(cls)} == {"MathAPI"}

    class Derived(MathAPI):  # inherits methods written where decimal and mpmath are imported
        pass

    assert uses_precision(Derived)
    plain = _backend("turngym_test_precision_hello", """
        class Backend:
            def hello(self):
                return "hi"
        """)
    assert not uses_precision(plain)
    assert Backends({"Plain": plain}, stateless=("Plain",)).execute(ParsedCall("hello", {})) == ("hi", True)
