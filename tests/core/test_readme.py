"""The README's registration example works as written."""

import re
from pathlib import Path

from gymnasium.utils.env_checker import check_env

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_opens_with_the_two_commands():
    head = README.read_text().split("\n")[:6]
    assert any(line.startswith("make demo") for line in head)
    assert any(line.startswith("make test") for line in head)


def test_readme_registration_example_runs():
    text = README.read_text()
    block = re.search(r"### Register your own in a few lines\n\n```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    env = namespace["env"]
    check_env(env.unwrapped)
    _, info = env.reset(options={"task_id": "pear"})
    _, reward, terminated, _, info = env.step(env.unwrapped.oracle_action())
    assert terminated and reward == 1.0 and info["outcome"] == 1.0
