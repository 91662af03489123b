"""atomic_write's files get the normal permissions (issue #11, Confusing: results files were 0600)."""

import os
import stat

from turngym.core.atomic import atomic_write


def test_atomic_write_gives_the_mode_a_plain_open_would(tmp_path):
    """Issue #11 Confusing: results files were written 0600 (mkstemp); they get 0o666 & ~umask."""
    old = os.umask(0o022)
    try:
        target = tmp_path / "results.jsonl"
        with atomic_write(target) as handle:
            handle.write("{}\n")
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o644
        os.umask(0o002)
        with atomic_write(target, "wb") as handle:
            handle.write(b"{}\n")
        assert stat.S_IMODE(target.stat().st_mode) == 0o664
    finally:
        os.umask(old)
    assert target.read_bytes() == b"{}\n"
