"""Python source transforms for the firmware files the device gets.

`minify` drops comments and blank lines and indents one space a level (the
device keeps its files in a 28 KB filesystem on the V1, 20 KB on the V2, and
compiles them in RAM); `prune` keeps only the top-level functions a model
needs (each costs heap on the V1) and `closure` says which those are.
"""

from __future__ import annotations

import ast
import io
import tokenize


def minify(src: str) -> str:
    """Python source without comments and blank lines, indented one space a level.

    The V1 keeps every file in a 28 KB filesystem, so the firmware travels
    without its comments. The result has the same syntax tree as `src`
    (checked; otherwise `src` is returned unchanged).
    """
    toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
    cut = {t.start[0]: t.start[1] for t in toks if t.type == tokenize.COMMENT}
    out = []
    for no, line in enumerate(src.splitlines(), 1):
        line = line[:cut.get(no, len(line))].rstrip()
        body = line.lstrip(" ")
        if body:
            out.append(" " * ((len(line) - len(body)) // 4) + body)
    small = "\n".join(out) + "\n"
    try:
        same = ast.dump(ast.parse(small)) == ast.dump(ast.parse(src))
    except SyntaxError:
        same = False
    return small if same else src


def _defs(src: str) -> dict:
    return {d.name: d for d in ast.parse(src).body if isinstance(d, ast.FunctionDef)}


def closure(src: str, keep) -> list[str]:
    """The top-level functions of `src` in `keep` and all they call, in file order."""
    defs = _defs(src)
    need, todo = set(), [k for k in keep if k in defs]
    while todo:
        name = todo.pop()
        if name not in need:
            need.add(name)
            todo += [n.id for n in ast.walk(defs[name]) if isinstance(n, ast.Name) and n.id in defs]
    return [n for n in defs if n in need]


def prune(src: str, keep) -> str:
    """`src` with only the top-level functions in `keep` and the ones they call."""
    need = set(closure(src, keep))
    drop = set()
    for name, d in _defs(src).items():
        if name not in need:
            drop.update(range(min([d.lineno] + [x.lineno for x in d.decorator_list]) - 1, d.end_lineno))
    return "\n".join(l for i, l in enumerate(src.splitlines()) if i not in drop) + "\n"
