"""Architecture rules: archive/ is pure; tui/ does not depend on the Functions runtime."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
ARCHIVE = ROOT / "archive"
TUI = ROOT / "tui"

# I/O, clock, randomness, environment and UI/cloud SDKs have no place in the pure core.
FORBIDDEN_IMPORTS = {
    "azure", "textual", "aiohttp", "os", "pathlib", "io", "subprocess", "socket", "shutil",
    "time", "random", "secrets", "uuid", "urllib", "http", "requests", "httpx", "asyncio",
    "tempfile", "glob", "sqlite3", "logging",
}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "getenv", "open", "input", "environ", "urandom"}


def _modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _names_used(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            used.add(node.attr)
        elif isinstance(node, ast.Name):
            used.add(node.id)
    return used


def test_archive_has_modules_to_check() -> None:
    names = {p.relative_to(ARCHIVE).as_posix() for p in _modules(ARCHIVE)}
    assert {"encoding.py", "meta/parser.py", "record.py", "index.py"} <= names


@pytest.mark.parametrize("path", _modules(ARCHIVE), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_archive_module_imports_nothing_impure(path: Path) -> None:
    bad = {name for name in _imports(path) if name.split(".")[0] in FORBIDDEN_IMPORTS}
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _modules(ARCHIVE), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_archive_module_reads_no_clock_env_or_files(path: Path) -> None:
    bad = _names_used(path) & FORBIDDEN_CALLS
    assert not bad, f"{path.name} uses {sorted(bad)}"


def test_importing_archive_loads_no_sdk_or_ui_modules() -> None:
    modules = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in _modules(ARCHIVE)
    ]
    script = (
        "import importlib, json, sys\n"
        "before = set(sys.modules)\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, check=True, timeout=120)
    loaded = json.loads(result.stdout)
    assert "archive.meta.parser" in loaded
    offenders = [m for m in loaded if m.split(".")[0] in {"azure", "textual", "aiohttp"}]
    assert offenders == []


@pytest.mark.parametrize("path", _modules(TUI), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_tui_never_imports_azure_functions(path: Path) -> None:
    bad = {
        name for name in _imports(path)
        if name == "azure.functions" or name.startswith("azure.functions.")
        or name == "function_app"  # it imports azure.functions
    }
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_scanner_detects_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("import azure.functions as func\nfrom os import environ\n"
                      "import datetime\nx = datetime.datetime.now()\n")
    assert "azure.functions" in _imports(sample)
    assert "os.environ" in _imports(sample)
    assert "now" in _names_used(sample)
