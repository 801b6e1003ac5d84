"""The import layers of docs/architecture.md, enforced: a module imports only from below.

Each module belongs to the unit with the longest matching name in LAYERS; a unit may
import from units on lower layers and from itself (a package's own modules), never
from its own layer or above. The walk reads every ``import`` in the source, including
those inside functions, so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import rangetui

ROOT = Path(rangetui.__file__).parent
LAYERS: list[list[str]] = [
    ["rangetui", "core", "daemon"],
    [
        "core.errors",
        "core.units",
        "core.naming",
        "core.ratelimit",
        "core.intervals",
        "core.text",
        "core.jobthreads",
        "core.note",
    ],
    ["core.retry", "core.rates", "core.urls", "core.checksum", "core.lowspeed", "core.setaside"],
    ["core.types"],
    ["core.diskio", "core.http", "core.adaptive", "core.segments", "core.sizecap", "core.spread"],
    ["core.privatedir"],
    ["core.store", "core.blockmap", "core.tuning", "core.budget", "core.partfile", "core.sources"],
    ["core.statelock", "core.jobs", "core.resume", "core.finished", "core.mirrors"],
    ["core.worker", "core.single", "core.placement", "core.opening"],
    ["core.pool"],
    ["core.download"],
    ["core.snapshots", "core.launcher"],
    ["core.ledger"],
    ["core.api", "core.queuesaver"],
    ["core.engine"],
    ["config", "logfile"],
    [
        "cli.flags",
        "cli.progress",
        "cli.listing",
        "cli.settings",
        "cli.inputfile",
        "tui",
        "daemon.protocol",
    ],
    ["cli.get", "daemon.server", "daemon.client"],
    ["daemon.detach", "daemon.spawn"],
    ["cli.commands"],
    ["cli.tui"],
    ["cli"],
    ["__main__"],
]
PACKAGES_ONLY = {"rangetui", "core", "daemon"}
"""Units that hold no code of their own: they match only their own name."""
MAX_LINES = 350
"""One job per module: past this, a module is usually two."""


def unit_of(module: str) -> str:
    name = module.removeprefix("rangetui").removeprefix(".") or "rangetui"
    units = [u for layer in LAYERS for u in layer]
    matches = [
        u for u in units if name == u or (name.startswith(u + ".") and u not in PACKAGES_ONLY)
    ]
    if not matches:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and the docs")
    return max(matches, key=len)


def layer_of(unit: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if unit in layer)


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append((".".join(parts), path))
    return found


def imports_of(module: str, path: Path) -> set[str]:
    """Absolute names of the rangetui modules ``path`` imports (relative ones resolved)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0]
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    known = {m for m, _ in modules()}
    return {n for n in names if n in known and n != module}


@pytest.mark.parametrize(("module", "path"), modules(), ids=lambda v: str(v))
def test_imports_only_from_lower_layers(module: str, path: Path) -> None:
    unit = unit_of(module)
    mine = layer_of(unit)
    for name in sorted(imports_of(module, path)):
        other = unit_of(name)
        if other == unit or other in PACKAGES_ONLY:
            continue
        assert layer_of(other) < mine, (
            f"{module} (layer {mine}) imports {name} (layer {layer_of(other)})"
        )


@pytest.mark.parametrize(("module", "path"), modules(), ids=lambda v: str(v))
def test_modules_stay_small(module: str, path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it by job"


def test_the_rule_catches_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: a core module importing the engine must be caught."""
    fake = tmp_path / "blockmap.py"
    fake.write_text("from rangetui.core.engine import Engine\n", encoding="utf-8")
    with pytest.raises(AssertionError, match=r"imports rangetui\.core\.engine"):
        test_imports_only_from_lower_layers("rangetui.core.blockmap", fake)


@pytest.mark.parametrize(
    "module", ["rangetui.core.types", "rangetui.core.snapshots", "rangetui.core.api"]
)
def test_value_modules_load_neither_requests_nor_textual(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "top = {m.split('.')[0] for m in sys.modules}\n"
        "print(' '.join(sorted(top & {'requests', 'urllib3', 'textual', 'rich'})))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"importing {module} loaded {proc.stdout.strip()}"
