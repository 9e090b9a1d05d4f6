"""MkDocs hook: the CLI reference page, generated from the parser at build time (never stale)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def _page() -> str:
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "src"))
    from qnewton.cli import build_parser

    parser = build_parser()
    os.environ.setdefault("COLUMNS", "100")
    lines = [
        "# CLI reference",
        "",
        "Generated from the parser (`qnewton <command> --help` prints the same). Every option shows its "
        "default; bad values exit with code 2 and one line naming the option.",
        "",
        "```text",
        parser.format_help().rstrip(),
        "```",
    ]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        lines += ["", f"## `qnewton {name}`", "", "```text", p.format_help().rstrip(), "```"]
    return "\n".join(lines) + "\n"


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    files.append(File.generated(config, "cli.md", content=_page()))
    return files
