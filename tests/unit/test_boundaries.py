"""Architecture rules: the import layering of every package, checked from the source.

Floors, lowest first: ``archive`` (pure core) < ``telemetry`` (metrics adapter) <
``storage`` (Azure adapters) < ``orchestrations`` < ``ingest`` (triggers) ; ``admin`` <
``tui`` / ``cli``. A floor never imports one above it. ``telemetry`` sits just above the
core so that every floor can emit metrics: it imports the core, OpenTelemetry and the
Azure Monitor exporter, and nothing that reads or writes the archive. ``tui`` reaches
storage only through ``admin``; it may import the pure ``archive`` core (names,
encodings, formats): that reads nothing and writes nothing, so it bypasses no access
path, and re-exporting it through ``admin`` would only add pass-through code.
"""

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
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
    "tempfile", "glob", "sqlite3", "logging", "importlib",
}
# Pure parts of otherwise forbidden standard-library packages.
PURE_SUBMODULES = {"urllib.parse"}
FORBIDDEN_CALLS = {
    "now", "utcnow", "today", "getenv", "open", "input", "environ", "urandom", "__import__",
}
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}


@dataclass(frozen=True)
class Rule:
    """Modules under ``package`` import none of ``forbidden``; with ``allowed`` set, they
    import only the standard library (when ``stdlib``) and those packages."""

    name: str
    package: str
    forbidden: frozenset[str] = frozenset()
    allowed: frozenset[str] | None = None
    stdlib: bool = True

    def breaks(self, imported: str) -> bool:
        top = imported.split(".")[0]
        if any(imported == f or imported.startswith(f + ".") for f in self.forbidden):
            return True
        if self.allowed is None:
            return False
        # An allowed entry is a package or a dotted sub-package (`azure.monitor`).
        return not ((self.stdlib and top in STDLIB) or any(
            imported == a or imported.startswith(a + ".") for a in self.allowed))


TRIGGERS = frozenset({"ingest", "orchestrations", "function_app"})
ADMIN_TOOLS = frozenset({"admin", "tui", "cli"})

RULES: tuple[Rule, ...] = (
    Rule("archive is the pure core: standard library and itself only",
         "archive", allowed=frozenset({"archive"})),
    Rule("telemetry imports the core, OpenTelemetry and the Azure Monitor exporter only",
         "telemetry", allowed=frozenset({"telemetry", "archive", "opentelemetry",
                                         "azure.monitor", "azure.identity"})),
    Rule("storage imports no trigger and no admin tool",
         "storage", forbidden=TRIGGERS | ADMIN_TOOLS | {"devhost"}),
    Rule("ingest imports no admin tool", "ingest", forbidden=ADMIN_TOOLS | {"devhost"}),
    Rule("orchestrations import no trigger module and no admin tool",
         "orchestrations", forbidden=ADMIN_TOOLS | {"ingest", "function_app", "devhost"}),
    Rule("tui talks to storage only through admin",
         "tui", allowed=frozenset({"tui", "admin", "archive", "textual", "rich"})),
)


def _modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    """Absolute imports anywhere in the module (also under TYPE_CHECKING or in functions).

    Relative imports are skipped: from inside a top-level package they cannot leave it.
    """
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


def check_layering(root: Path, rules: tuple[Rule, ...] = RULES) -> list[str]:
    """Every broken rule as ``<module>: <import> (<rule>)``; empty when the layering holds."""
    found: list[str] = []
    for rule in rules:
        folder = root / rule.package
        for path in _modules(folder) if folder.is_dir() else []:
            module = path.relative_to(root).as_posix()
            imported = _imports(path)
            for name in sorted(imported):
                parent = name.rsplit(".", 1)[0] if "." in name else None
                # `from x import y` yields `x` and `x.y`: report the pair once, as `x`.
                if rule.breaks(name) and not (parent in imported and rule.breaks(parent)):
                    found.append(f"{module}: {name} ({rule.name})")
    return found


def test_every_layer_keeps_its_imports() -> None:
    assert check_layering(ROOT) == []


def test_each_rule_has_modules_to_check() -> None:
    for rule in RULES:
        assert _modules(ROOT / rule.package), rule.package


def _write(root: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")


def test_the_checker_reports_every_kind_of_violation(tmp_path: Path) -> None:
    _write(tmp_path, {
        "archive/__init__.py": "",
        "archive/ok.py": "import json\nfrom archive.events import X\nfrom . import sibling\n",
        "archive/bad.py": "import requests\n",
        "storage/bad.py": "from ingest.worker import prepare\n",
        "ingest/bad.py": "import admin.detail\n",
        "orchestrations/bad.py": "if False:\n    from archive import x\n"
                                 "def f():\n    import ingest.parsing\n",
        "tui/ok.py": "from admin.detail import MessageDetail\nfrom textual.app import App\n",
        "tui/bad.py": "from storage.clients import table_service\n",
        "telemetry/ok.py": "from opentelemetry.sdk.metrics import MeterProvider\n"
                           "from azure.monitor.opentelemetry.exporter import X\n",
        "telemetry/bad.py": "from storage.blobs import create_only\nimport azure.storage.blob\n",
    })
    assert sorted(check_layering(tmp_path)) == sorted([
        "archive/bad.py: requests (archive is the pure core: standard library and itself only)",
        "storage/bad.py: ingest.worker (storage imports no trigger and no admin tool)",
        "ingest/bad.py: admin.detail (ingest imports no admin tool)",
        "orchestrations/bad.py: ingest.parsing"
        " (orchestrations import no trigger module and no admin tool)",
        "tui/bad.py: storage.clients (tui talks to storage only through admin)",
        "telemetry/bad.py: storage.blobs (telemetry imports the core, OpenTelemetry and"
        " the Azure Monitor exporter only)",
        "telemetry/bad.py: azure.storage.blob (telemetry imports the core, OpenTelemetry"
        " and the Azure Monitor exporter only)",
    ])


def test_the_checker_passes_a_clean_tree(tmp_path: Path) -> None:
    _write(tmp_path, {
        "archive/a.py": "import hashlib\nfrom archive.b import c\n",
        "storage/a.py": "from azure.data.tables import TableClient\nimport archive.index\n",
        "ingest/a.py": "import orchestrations.steps\nimport storage.blobs\n",
        "orchestrations/a.py": "from archive.parsing import parse_body\n",
        "tui/a.py": "from admin.detail import MessageDetail\nfrom archive.names import X\n"
                    "from rich.text import Text\n",
    })
    assert check_layering(tmp_path) == []


def test_archive_has_modules_to_check() -> None:
    names = {p.relative_to(ARCHIVE).as_posix() for p in _modules(ARCHIVE)}
    assert {"encoding.py", "meta/parser.py", "record.py", "index.py", "parsing.py"} <= names


def _impure(name: str) -> bool:
    if any(name == pure or name.startswith(pure + ".") for pure in PURE_SUBMODULES):
        return False
    return name.split(".")[0] in FORBIDDEN_IMPORTS


@pytest.mark.parametrize("path", _modules(ARCHIVE), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_archive_module_imports_nothing_impure(path: Path) -> None:
    bad = {name for name in _imports(path) if _impure(name)}
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
    assert _impure("urllib.request") and _impure("os.path") and not _impure("urllib.parse")
