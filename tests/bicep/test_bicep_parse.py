"""Every Bicep file parses, and its symbols, module paths and parameters resolve."""

from __future__ import annotations

from pathlib import Path

import pytest
from lark.exceptions import LarkError

from tests.bicep.bicep_tree import (
    MAIN,
    MODULES,
    PARAMS,
    bicep_files,
    bicepparam_values,
    body,
    module_paths,
    parse,
    parse_text,
    required_params,
    undeclared_symbols,
)

pytestmark = pytest.mark.bicep

FILES = bicep_files()
IDS = [p.name for p in FILES]


def test_layout_has_main_params_and_modules() -> None:
    assert MAIN.is_file()
    assert PARAMS.is_file()
    assert len(list(MODULES.glob("*.bicep"))) >= 5


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_file_parses(path: Path) -> None:
    tree = parse(path)
    assert tree.get("resources") or tree.get("modules")


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_every_symbol_used_is_declared(path: Path) -> None:
    assert undeclared_symbols(path.read_text(encoding="utf-8")) == set()


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_module_paths_exist(path: Path) -> None:
    for name, target in module_paths(path).items():
        assert target.is_file(), f"{path.name}: module {name} points at missing {target}"


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_module_calls_match_module_parameters(path: Path) -> None:
    tree = parse(path)
    for name, target in module_paths(path).items():
        declared = parse(target).get("parameters", {})
        passed = set(body(tree["modules"][name]).get("params", {}))
        assert passed - set(declared) == set(), f"{name}: passes undeclared params"
        missing = required_params(parse(target)) - passed
        assert missing == set(), f"{name}: required params not passed"


def test_every_module_file_is_used() -> None:
    used: set[Path] = set()
    for path in FILES:
        used.update(module_paths(path).values())
    assert used == {p.resolve() for p in MODULES.glob("*.bicep")}


def test_bicepparam_targets_main_and_declares_only_known_params() -> None:
    using, values = bicepparam_values(PARAMS)
    assert (PARAMS.parent / using).resolve() == MAIN.resolve()
    declared = set(parse(MAIN)["parameters"])
    assert set(values) - declared == set()
    assert required_params(parse(MAIN)) - set(values) == set()


# The checks above must be able to fail: each is fed a known-bad template.


def test_syntax_error_is_rejected() -> None:
    with pytest.raises((ValueError, LarkError)):
        parse_text("param a string =\nresource x 'Microsoft.Web/sites@2024-04-01' = {\n")


def test_undeclared_parameter_is_reported() -> None:
    text = (
        "param known int = 1\n"
        "var total = known + unknownDays\n"
        "output url string = 'https://${missingHost}/api'\n"
    )
    assert undeclared_symbols(text) == {"unknownDays", "missingHost"}


def test_property_names_are_not_mistaken_for_symbols() -> None:
    text = (
        "param items array\n"
        "resource sa 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {\n"
        "  name: 'x'\n"
        "}\n"
        "output blob string = sa.properties.primaryEndpoints.blob\n"
        "output first string = items[0].name\n"
    )
    assert undeclared_symbols(text) == set()


def test_unknown_module_path_is_reported(tmp_path: Path) -> None:
    template = tmp_path / "main.bicep"
    template.write_text(
        "module missing 'modules/nowhere.bicep' = {\n  name: 'missing'\n}\n", encoding="utf-8"
    )
    targets = module_paths(template)
    assert not targets["missing"].exists()
