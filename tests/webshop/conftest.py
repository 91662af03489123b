"""WebShop tests build their catalogues in one temporary cache for the whole session."""

import pytest

from turngym.envs.webshop.catalogue import forget_open_catalogues

SMALL = 2_000
"""The default tests' catalogue size: builds in about a second."""


@pytest.fixture(scope="session", autouse=True)
def webshop_cache(tmp_path_factory):
    """Point $TURNGYM_CACHE at a session directory (so tests never touch ~/.cache)."""
    root = tmp_path_factory.mktemp("turngym-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TURNGYM_CACHE", str(root))
        forget_open_catalogues()
        yield root
    forget_open_catalogues()
