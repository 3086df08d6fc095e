"""The house rules of the code, checked on the source (no imports run): rooms import only
downwards and never in a cycle, no SQL text is assembled above the store, each room's public
surface is what it says, and modules and functions stay of a size one can read."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("engine", "store", "planner", "tui")
#: which rooms each room may import (DESIGN: tui -> engine, store, planner; engine -> store,
#: planner; store and planner -> nothing of ours)
ALLOWED = {"tui": {"tui", "engine", "store", "planner"}, "engine": {"engine", "store", "planner"},
           "store": {"store"}, "planner": {"planner"}}
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    mods = {}
    for room in ROOMS:
        for p in sorted((ROOT / room).rglob("*.py")):
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = p
    return mods


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Our modules that ``name`` imports (anywhere in the file, TYPE_CHECKING included)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for t in targets:
            while t and t not in MODULES:
                t = t.rsplit(".", 1)[0] if "." in t else ""
            parent_package = name.startswith(t + ".") and MODULES[t].name == "__init__.py"
            if t and t != name and not parent_package:
                found.add(t)
    return found


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    return out


def test_the_walker_sees_the_imports() -> None:
    """The check below is only as good as the graph: known edges must be in it."""
    assert "store" in GRAPH["engine.search"] or "store.selection" in GRAPH["engine.search"]
    assert "engine.pipeline" in GRAPH["tui.jobs"]
    assert any(m.startswith("tui.cli.") for m in GRAPH["tui.cli"])


def test_no_import_cycle() -> None:
    assert _cycles() == []


def test_rooms_import_only_downwards() -> None:
    wrong = [f"{m} imports {t}" for m, targets in GRAPH.items() for t in sorted(targets)
             if t.split(".")[0] not in ALLOWED[m.split(".")[0]]]
    assert wrong == []


def test_nothing_imports_the_front_door() -> None:
    """Only the command line itself imports ``tui.cli``: it is not a library."""
    users = sorted(m for m, targets in GRAPH.items() if not m.startswith("tui.cli")
                   and any(t == "tui.cli" or t.startswith("tui.cli.") for t in targets))
    assert users == []


#: filter text in an f-string: a column compared with a value or a list
_SQL = re.compile(r"\b[a-z_]+\s*(=|!=|<>|\bIN\b|\bIS\b)\s*(\(|'|\{|NULL|NOT)", re.IGNORECASE)


def test_no_sql_text_above_the_store() -> None:
    """Outside store/ nobody builds filter text (f-strings comparing columns) or reaches for
    the store's private modules; a user's own --where travels in a Selection as given."""
    found = []
    for name, path in MODULES.items():
        if name.split(".")[0] == "store":
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "{}"
                               for v in node.values)
                if _SQL.search(text) and ("'{}'" in text or "= {}" in text or "IN (" in text):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {text[:60]}")
        for t in GRAPH[name]:
            if t.startswith("store._"):
                found.append(f"{path.relative_to(ROOT)} imports {t}")
        if "sql_str" in path.read_text():
            found.append(f"{path.relative_to(ROOT)} uses sql_str")
    assert found == []


PUBLIC = {
    "store": ["STATUSES", "AugplanError", "Selection", "Store", "default_location",
              "default_path", "is_remote", "now"],
    "planner": [
        "FAMILIES", "AugmenterCost", "BacktestRow", "CostModel", "Curve", "CurveFit",
        "FamilyFit", "Option", "PilotPoint", "Plan", "PlanError", "PlanOptions", "backtest",
        "explain", "fit_curve", "fit_curves", "fit_family", "nice_scale", "plan",
        "resolve_weights",
    ],
    "tui.cli": ["app", "main"],
    "engine": [],
    "tui": [],
    "engine.planning": [
        "BacktestGroup", "CostInputs", "MadePlan", "PlanChoices", "backtest_groups",
        "cost_model", "execute_plan", "latest_plan",
        "load_plan", "load_points", "main_eval_mode", "make_plan", "option_label",
        "pilot_summary", "plan_choices", "plan_document", "plan_file", "plan_options",
        "planner_errors", "points_from_store", "read_pilots_csv", "select_retriever",
        "select_strategies", "split_label", "run_backtests", "to_points", "training_file",
        "write_plan",
    ],
}


@pytest.mark.parametrize("package", sorted(PUBLIC))
def test_public_surface(package: str) -> None:
    """What each room exports from its ``__init__`` (a change here is a change of the API)."""
    tree = ast.parse(MODULES[package].read_text())
    exported = next(ast.literal_eval(n.value) for n in tree.body
                    if isinstance(n, ast.Assign | ast.AnnAssign) and n.value is not None
                    and any(getattr(t, "id", None) == "__all__"
                            for t in (n.targets if isinstance(n, ast.Assign) else [n.target])))
    assert sorted(exported) == sorted(PUBLIC[package])


def _reason(path: Path) -> bool:
    """A long module says at its top why it is one module ("Why one module: ...")."""
    return "why one module" in path.read_text()[:2000].lower()


def test_modules_and_functions_stay_readable() -> None:
    too_long = []
    for path in MODULES.values():
        text = path.read_text()
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES and not _reason(path):
            too_long.append(f"{path.relative_to(ROOT)}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}: {n}")
    assert too_long == []
