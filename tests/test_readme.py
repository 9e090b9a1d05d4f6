"""The README's Python example must run as written."""

import re
from pathlib import Path


def test_readme_example_runs(tmp_path, monkeypatch):
    text = (Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "the README lost its example"
    monkeypatch.chdir(tmp_path)  # it writes decisions.csv
    for code in blocks:
        exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "decisions.csv").read_text().startswith("step,block")
