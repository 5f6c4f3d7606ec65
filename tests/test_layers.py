"""Imports run one way, as the folders say: cloudrec/ is the ground (its own
ground modules import nothing of ours but each other), the compositor draws
on it, the recorder uses both, and the server (signaling/) never imports the
recorder's encoders or the compositor: a bot is another process."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What each package may import of ours.
ALLOWED = {
    "cloudrec": {"cloudrec"},
    "compositor": {"cloudrec", "compositor"},
    "recorder": {"cloudrec", "compositor", "recorder"},
    "signaling": {"cloudrec", "signaling"},
}
# The wire model and the source names in it, errors, config, auth, the
# whiteboard model, the server/bot contract and layouts: what everything else
# stands on.
GROUND = {
    "cloudrec.errors",
    "cloudrec.ids",
    "cloudrec.jsonio",
    "cloudrec.wire",
    "cloudrec.config",
    "cloudrec.auth",
    "cloudrec.whiteboard",
    "cloudrec.contract",
    "cloudrec.layouts",
    "cloudrec.sources",
}


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The modules of ours that ``path`` imports (``from a import b`` is a.b
    where that is a module, else a)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                names.add(full if full in modules else node.module)
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return {n for n in names if n.split(".")[0] in ALLOWED}


def _modules() -> dict[str, Path]:
    found = {}
    for package in ALLOWED:
        for path in (ROOT / package).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[module.removesuffix(".__init__")] = path
    return found


def test_no_package_imports_upward() -> None:
    modules = _modules()
    upward = [
        f"{module} imports {name}"
        for module, path in sorted(modules.items())
        for name in sorted(_imports(path, set(modules)))
        if name.split(".")[0] not in ALLOWED[module.split(".")[0]]
    ]
    assert upward == []


def test_the_ground_imports_only_the_ground() -> None:
    modules = _modules()
    assert modules.keys() >= GROUND
    outside = [
        f"{module} imports {name}"
        for module in sorted(GROUND)
        for name in sorted(_imports(modules[module], set(modules)))
        if name in modules and name not in GROUND
    ]
    assert outside == []
