"""docs/architecture.md's "one place" table names files and names that exist in the code: a module
moved or a function renamed without the table following fails here (issue 29)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "refsearch"
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
DATA_FILES = {"toml", "npy", "json", "jsonl", "bin", "yaml", "txt", "onnx", "data", "sqlite"}  # names of files, not code


def one_place_rows() -> list[str]:
    text = (ROOT / "docs" / "architecture.md").read_text("utf-8")
    table = text.split("## One place for each decision", 1)[1].split("\n## ", 1)[0]
    return [line.split("|")[2] for line in table.splitlines() if line.startswith("| ") and line.count("|") >= 3][1:]


def defined_names() -> set[str]:
    """Every name a module of the package defines: functions, classes, their methods and
    attributes, and module-level or class-level assignments."""
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    for leaf in ast.walk(target):
                        if isinstance(leaf, ast.Name):
                            names.add(leaf.id)
                        elif isinstance(leaf, ast.Attribute):
                            names.add(leaf.attr)
    return names


def test_the_one_place_table_names_what_the_code_has():
    names, missing = defined_names(), []
    rows = one_place_rows()
    assert len(rows) > 30
    for row in rows:
        for token in re.findall(r"`([^`]+)`", row):
            last = token.rsplit(".", 1)[-1]
            if token.endswith(".py"):  # a module, by its path in the package or its name alone
                if not ((PACKAGE / token).is_file() or "/" not in token and any(PACKAGE.rglob(token))):
                    missing.append(token)
            elif IDENTIFIER.fullmatch(token) and last not in DATA_FILES and ("." in token or "_" in token or
                                                                            token[0].isupper()):
                if last not in names:  # a function, class, method or constant, by its (qualified) name
                    missing.append(token)
    assert not missing, f"docs/architecture.md names what the code does not have: {missing}"
