"""docs/deploy.md is one ordered runbook whose `az` lines azure-cli would accept.

The flags come from azure-cli's own argument parser, recorded in
az_cli_flags.json by az_cli_flags.py (azure-cli is too large to install in every
bootstrap; that file says how to regenerate).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.bicep.bicep_tree import REPO
from tests.bicep.runbook import (
    DEPLOY_DOC,
    PLACEHOLDER,
    az_commands,
    bash_blocks,
    command_path,
    logical_lines,
)

pytestmark = pytest.mark.bicep

FLAGS = Path(__file__).with_name("az_cli_flags.json")
STEPS = [
    "Prerequisites", "Deploy", "Set the secrets", "Refresh the references and check them",
    "Publish the code", "Register the webhook", "Send a test message",
    "See it with `wa-archive show --account`", "Lock",
]  # fmt: skip


def recorded() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FLAGS.read_text(encoding="utf-8"))["commands"]
    return data


def doc() -> str:
    return DEPLOY_DOC.read_text(encoding="utf-8")


def problems(args: list[str], commands: dict[str, Any]) -> list[str]:
    """Why azure-cli's parser would refuse `az <args>`; empty when it would not."""
    path = command_path(args, set(commands))
    if path is None:
        return [f"unknown command (regenerate {FLAGS.name}?): az {' '.join(args[:3])}"]
    spec = commands[path]
    options: dict[str, Any] = spec["options"]
    rest = args[len(path.split()) :]
    given: set[str] = set()
    found: list[str] = []
    i = 0
    while i < len(rest):
        word = rest[i]
        flag, _, inline = word.partition("=") if word.startswith("--") else (word, "", "")
        if not flag.startswith("-"):
            found.append(f"az {path}: unexpected argument {word!r}")
            i += 1
            continue
        if flag not in options:
            found.append(f"az {path}: unknown flag {flag}")
            i += 1
            continue
        given.add(flag)
        option = options[flag]
        i += 1
        values: list[str] = [inline] if inline else []
        if option["takes_value"] and not inline:
            while i < len(rest) and not rest[i].startswith("-"):
                values.append(rest[i])
                i += 1
                if not option["many"]:
                    break
            if not values:
                found.append(f"az {path}: {flag} needs a value")
        for value in values:
            literal = "$" not in value and PLACEHOLDER not in value
            allowed = {c.lower() for c in option["choices"] or ()}
            if allowed and literal and value.lower() not in allowed:
                found.append(f"az {path}: {flag} {value!r} is not one of {option['choices']}")
    for aliases in spec["required"]:
        if not given & set(aliases):
            found.append(f"az {path}: missing required {'/'.join(aliases)}")
    return found


def test_the_recorded_flags_come_from_azure_cli() -> None:
    data = json.loads(FLAGS.read_text(encoding="utf-8"))
    assert re.fullmatch(r"2\.\d+\.\d+", data["azure-cli"])
    assert data["commands"]["rest"]["options"]["--method"]["choices"]


def test_every_az_line_of_the_runbook_parses() -> None:
    commands = recorded()
    lines = az_commands(doc())
    assert len(lines) > 25
    assert [p for args in lines for p in problems(args, commands)] == []


def test_every_recorded_command_is_still_used() -> None:
    used = {command_path(args, set(recorded())) for args in az_commands(doc())}
    assert set(recorded()) == used, f"regenerate {FLAGS.name} (see az_cli_flags.py)"


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("az functionapp deployment source config-zip -g rg -n app --src a.zip "
         "--build-remote yes", "'yes' is not one of"),
        ("az keyvault secret set --vault-name kv --name n --value-file x", "unknown flag"),
        ("az keyvault secret set --name n --file x", "missing required --vault-name"),
        ("az rest --method post", "missing required"),
        ("az role assignment create --role Reader --assignee-principal-type Users",
         "'Users' is not one of"),
        ("az deployment group make -g rg", "unknown command"),
    ],
)  # fmt: skip
def test_a_wrong_az_line_is_caught(line: str, complaint: str) -> None:
    (args,) = az_commands(f"```bash\n{line}\n```\n")
    assert any(complaint in p for p in problems(args, recorded())), problems(args, recorded())


def test_the_runbook_extractor_reads_substitutions_continuations_and_heredocs() -> None:
    text = (
        "```bash\n"
        'KV_ID=$(az keyvault show -n "$KV" --query id -o tsv)\n'
        "az deployment sub create -l x -f a.bicep \\\n  -p a=$(az x y) b=2\n"
        "python3 - <<'PY'\naz not a command\nPY\n"
        "printf '%s' v | az keyvault secret set --vault-name k --name n 2>/dev/null && echo\n"
        "```\n"
    )
    assert az_commands(text) == [
        ["keyvault", "show", "-n", "$KV", "--query", "id", "-o", "tsv"],
        ["x", "y"],
        ["deployment", "sub", "create", "-l", "x", "-f", "a.bicep", "-p", f"a={PLACEHOLDER}",
         "b=2"],
        ["keyvault", "secret", "set", "--vault-name", "k", "--name", "n"],
    ]


def sections() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^### (\d+)\. (.+)$", doc(), re.M)]


def step(number: int) -> str:
    text = doc()
    start = text.index(f"### {number}. ")
    end = text.find("\n### ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_runbook_has_the_nine_steps_in_order() -> None:
    numbered = [(int(n), title) for n, title in sections() if n != "0"]
    assert numbered == list(enumerate(STEPS, start=1))


def test_prerequisites_name_roles_that_can_create_roles_and_locks() -> None:
    text = step(1)
    for action in ("roleDefinitions/write", "roleAssignments/write", "locks/write"):
        assert action in text
    assert "**fails**" in text and "Role Based Access Control" in text


def test_secrets_come_from_stdin_with_a_retry_and_a_service_principal_path() -> None:
    text = step(3)
    assert "--file /dev/stdin" in text
    assert "--value" not in text
    assert "sleep 10" in text and "seq 1 30" in text
    assert "az ad sp show" in text and "ServicePrincipal" in text


def test_references_are_refreshed_and_every_one_must_read_resolved() -> None:
    text = step(4)
    refs = "https://management.azure.com${APP_ID}/config/configreferences/appsettings"
    assert f'REFS="{refs}"' in text
    assert '"$REFS/refresh?api-version=2022-03-01"' in text
    assert "--method post" in text
    assert "properties.status=='Resolved'" in text
    assert '[ "$RESOLVED" = 9 ]' in text


def test_nine_references_is_what_the_template_deploys() -> None:
    from tests.bicep.bicep_tree import MODULES, parse

    settings = parse(MODULES / "function-app.bicep")["variables"]["appSettings"]["value"]
    references = [v for v in settings.values() if str(v).startswith("@Microsoft.KeyVault(")]
    assert len(references) == 9


def test_publish_builds_remotely_from_a_zip_that_honours_funcignore() -> None:
    text = step(5)
    assert "--build-remote true" in text
    assert ".funcignore" in text


def packaging_script() -> str:
    for block in bash_blocks(step(5)):
        match = re.search(r"<<'PY'\n(.*?)^PY$", block, re.S | re.M)
        if match:
            return match.group(1)
    raise AssertionError("step 5 has no packaging script")


def test_the_packaging_script_leaves_out_what_funcignore_lists(tmp_path: Path) -> None:
    target = tmp_path / "app.zip"
    subprocess.run(
        [sys.executable, "-", str(target)], input=packaging_script(), text=True,
        cwd=REPO, check=True, timeout=60,
    )  # fmt: skip
    with zipfile.ZipFile(target) as package:
        packaged = set(package.namelist())
    for needed in ("function_app.py", "host.json", "requirements.txt", "archive/names.py"):
        assert needed in packaged
    for left_out in ("tests/", "bicep/", "tui/", "scripts/", ".venv", ".gitignore", "cli/"):
        assert not [n for n in packaged if n.startswith(left_out)], left_out


def test_show_runs_against_the_deployed_account() -> None:
    text = step(8)
    assert "wa-archive show --account" in text
    assert "durabletask_extension" in text and "durable-api-key" in text
    assert "/secrets/durable-api-key" in text  # the admins' role is scoped to that secret


def test_lock_step_warns_that_the_template_locks_without_asking() -> None:
    text = doc()
    assert "ARM can lock it too" in text
    assert "TRUE LOCKS THE POLICY IRREVERSIBLY, WITH NO CONFIRMATION" in text
    assert "ARM templates cannot lock" not in text


def test_built_features_are_not_called_planned() -> None:
    text = doc()
    # The daily seals (issue 10) and the retention job (issue 11) are built.
    assert "**planned**" not in text
    for line in logical_lines(text):
        if "retention job" in line.lower():
            assert "planned" not in line.lower() and "not built" not in line.lower(), line
    assert "seals are built" in text and "evidence.md" in text
    assert "retention.md" in text and "holds.md" in text
