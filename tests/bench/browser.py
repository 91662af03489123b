"""Headless Chromium for the report tests: find or install it, load a page, read what it logged.

``chromium_path()`` installs Debian's ``chromium`` with ``install_chromium.sh`` beside this file
where it is missing (root and apt-get needed) and skips the test with the script's reason where
it cannot; ``TURNGYM_NO_BROWSER_INSTALL=1`` skips instead of installing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

INSTALLER = Path(__file__).with_name("install_chromium.sh")
_CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\] (.*)$", re.MULTILINE)


def chromium_path() -> str:
    """The ``chromium`` command, installed first where missing (else the test is skipped, saying why)."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.environ.get("TURNGYM_NO_BROWSER_INSTALL"):
        pytest.skip("chromium is not installed and TURNGYM_NO_BROWSER_INSTALL is set")
    try:
        done = subprocess.run(["bash", str(INSTALLER)], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        pytest.skip("installing chromium with apt-get took over 15 minutes")
    found = shutil.which("chromium")
    if done.returncode != 0 or not found:
        pytest.skip(f"chromium is not installed and could not be: {done.stderr.strip() or done.returncode}")
    return found


def run_chromium(url: str, *flags: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Load ``url`` in a fresh headless Chromium with console logging on stderr; return the process."""
    with tempfile.TemporaryDirectory(prefix="turngym-chromium-") as profile:
        command = [
            chromium_path(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--hide-scrollbars", f"--user-data-dir={profile}",
            "--enable-logging=stderr", "--v=0", *flags, url,
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def console_messages(stderr: str) -> list[str]:
    """What the page wrote to the console (uncaught exceptions included), from Chromium's log."""
    return _CONSOLE.findall(stderr)
