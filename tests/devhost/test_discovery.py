"""Discovery: devhost sees exactly what the Python worker's indexing sees."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from devhost.discovery import DiscoveryError, discover
from tests.devhost.host_support import APPS

pytestmark = pytest.mark.devhost

REPO = Path(__file__).resolve().parents[2]

# The worker's way: import `function_app` with the script root first on sys.path,
# require exactly one FunctionRegister, index get_functions().
WORKER_INDEXING = """
import importlib, json, sys
import azure.functions as func
sys.path.insert(0, sys.argv[1])
module = importlib.import_module("function_app")
apps = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
assert len(apps) == 1, f"expected one FunctionApp, found {len(apps)}"
print(json.dumps(sorted(
    [{"name": f.get_function_name(), "bindings": [json.loads(b) for b in f.get_raw_bindings()]}
     for f in apps[0].get_functions()],
    key=lambda f: f["name"],
)))
"""

DEVHOST_DISCOVERY = """
import json, sys
from devhost.discovery import discover
specs = discover(sys.argv[1] + "/function_app.py")
print(json.dumps(sorted(
    [{"name": s.name, "bindings": list(s.bindings)} for s in specs], key=lambda f: f["name"]
)))
"""


def run_python(code: str, *args: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: list[dict[str, object]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_repo_function_app_is_discovered_like_the_worker_indexes_it():
    worker_view = run_python(WORKER_INDEXING, str(REPO))
    devhost_view = run_python(DEVHOST_DISCOVERY, str(REPO))
    assert devhost_view == worker_view
    for function in devhost_view:
        bindings = function["bindings"]
        assert isinstance(bindings, list)
        triggers = [b for b in bindings if str(b["type"]).endswith("Trigger")]
        assert len(triggers) == 1, function["name"]


def test_fixture_app_functions_and_bindings():
    specs = {s.name: s for s in discover(APPS / "host_http.py")}
    assert set(specs) == {"hello", "items", "echo", "admin_only", "broken", "slow", "release",
                          "where"}
    assert specs["hello"].trigger == {
        "type": "httpTrigger",
        "direction": "IN",
        "name": "req",
        "methods": ["GET"],
        "route": "hello/{name}",
        "authLevel": "ANONYMOUS",
    }
    assert specs["items"].trigger["authLevel"] == "FUNCTION"
    assert specs["admin_only"].trigger["authLevel"] == "ADMIN"
    assert {b["type"] for b in specs["items"].bindings} == {"httpTrigger", "http"}


def test_durable_fixture_bindings():
    specs = {s.name: s for s in discover(APPS / "host_durable.py")}
    assert specs["greet"].trigger_type == "orchestrationTrigger"
    assert specs["make_greeting"].trigger_type == "activityTrigger"
    assert specs["start"].binding_of_type("durableClient") is not None


def test_queue_and_timer_bindings():
    queue_specs = {s.name: s for s in discover(APPS / "host_queues.py")}
    assert queue_specs["batch"].trigger["queueName"] == "%DEVHOST_BATCH_QUEUE%"
    assert queue_specs["batch"].trigger["connection"] == "DEVHOST_TEST_STORAGE"
    (timer,) = discover(APPS / "host_timer.py")
    assert timer.trigger["schedule"] == "* * * * * *"
    assert timer.trigger["runOnStartup"] is True


def test_unservable_binding_is_refused_with_function_and_type():
    with pytest.raises(DiscoveryError, match=r"'read_blob'.*'blob'"):
        discover(APPS / "host_bad_binding.py")


def test_missing_app_script_is_a_clear_error(tmp_path: Path):
    with pytest.raises(DiscoveryError, match="no such app script"):
        discover(tmp_path / "function_app.py")
