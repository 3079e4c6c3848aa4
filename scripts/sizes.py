"""The largest files, classes and functions of each package, in lines: what the house rules bound.

    .venv/bin/python scripts/sizes.py [--top N]

A file over ~400 lines, a class over ~200 or a function over ~60 is a room to split (docs/architecture.md).
"""

import argparse
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dse", "objectives", "search_spaces", "training", "synthesis")


def sizes(package: str) -> dict[str, list[tuple[int, str]]]:
    """Per kind ("file", "class", "function"): (lines, where) of every one in ``package``, largest first."""
    found: dict[str, list[tuple[int, str]]] = {"file": [], "class": [], "function": []}
    for path in sorted((ROOT / package).rglob("*.py")):
        text = path.read_text()
        where = path.relative_to(ROOT).as_posix()
        found["file"].append((len(text.splitlines()), where))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                found["class"].append((node.end_lineno - node.lineno + 1, f"{where}:{node.name}"))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found["function"].append((node.end_lineno - node.lineno + 1, f"{where}:{node.name}"))
    return {kind: sorted(rows, reverse=True) for kind, rows in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=1, help="how many of each kind per package (default 1)")
    top = parser.parse_args().top
    for package in PACKAGES:
        for kind, rows in sizes(package).items():
            for lines, where in rows[:top]:
                print(f"{package:14s} {kind:9s} {lines:5d}  {where}")


if __name__ == "__main__":
    main()
