"""Rules of the house, checked on the source: short functions, no code run from an input.

mypy --strict and ruff run in .ci/run; these are the rules they do not check.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "lossdoctor"
MAX_FUNCTION_LINES = 80
SOURCES = sorted(PACKAGE.rglob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _calls(tree: ast.Module) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_are_short(path: Path) -> None:
    long = [f"{n.name} (line {n.lineno}, {n.end_lineno - n.lineno + 1} lines)"
            for n in ast.walk(_tree(path))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.end_lineno is not None
            and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"split into named steps (at most {MAX_FUNCTION_LINES} lines each): {long}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_code_from_an_input_is_run(path: Path) -> None:
    bad = []
    for call in _calls(_tree(path)):
        name = _dotted(call.func)
        if name in ("eval", "exec", "compile", "pickle.load", "pickle.loads", "yaml.unsafe_load"):
            bad.append(f"{name} at line {call.lineno}")
        if name == "torch.load":
            kw = {k.arg: k.value for k in call.keywords}
            ok = isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True
            if not ok:
                bad.append(f"torch.load without weights_only=True at line {call.lineno}")
        if name == "yaml.load" and path.name != "yamlio.py":
            bad.append(f"yaml.load at line {call.lineno} (use lossdoctor.yamlio.safe_load)")
    assert not bad, bad


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    src = tmp_path / "bad.py"
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    src.write_text(f"import torch\ndef f():\n{body}\n    return torch.load('a')\n")
    with pytest.raises(AssertionError, match="split into named steps"):
        test_functions_are_short(src)
    with pytest.raises(AssertionError, match="weights_only"):
        test_no_code_from_an_input_is_run(src)


@pytest.mark.parametrize("package", ["compare", "diagnose", "facts", "fit", "nanogpt", "readers", "report",
                                     "trainer", "verify", "fit.points", "facts.spikes", "fit.extrapolate"])
def test_each_package_imports_first_in_a_fresh_process(package):
    # a test run imports lossdoctor.facts before lossdoctor.fit, which hides an import cycle
    # that a fresh `lossdoctor extrapolate` (fit first) meets
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", f"import lossdoctor.{package}"], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr[-500:]
