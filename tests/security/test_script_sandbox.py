"""Attacks on the DCR script sandbox: escapes, pollution, forged outcomes, flooding."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from credo.scripting.api import ScriptError, ScriptInput, ScriptOutput
from credo.scripting.quickjs_runner import QuickJsRunner

SEED = (Path(__file__).parent.parent / "fixtures" / "seed_dcr_script.js").read_text()
ATTRS = {"AgentType": ["bot"], "aiAgentIdentityUid": ["uid-1"]}
# What a fresh context's global object holds: the ECMAScript built-ins plus our bindings.
BINDINGS = {"operation", "realm", "clientIdentity", "metadata", "requestProperties", "logger"}


@pytest.fixture(scope="module")
def runner() -> Iterator[QuickJsRunner]:
    r = QuickJsRunner()
    yield r
    r.close()


def run(runner: QuickJsRunner, source: str, *, agent: bool = True, realm: str = "alpha") -> ScriptOutput:
    return runner.run(source, ScriptInput(operation="CREATE", client_id="victim", is_ai_agent=agent,
                                          attributes=dict(ATTRS), metadata={"client_name": "n"}, realm=realm))


def out(runner: QuickJsRunner, expr: str) -> object:
    result = run(runner, f'clientIdentity.setAttribute("out", [JSON.stringify({expr})]); clientIdentity.store();')
    return json.loads(result.attributes["out"][0])


def test_object_prototype_pollution_does_not_reach_the_next_run(runner: QuickJsRunner) -> None:
    run(runner, "Object.prototype.isAIAgent = () => false; Object.prototype.polluted = 'yes';"
                "Array.prototype.push = function () { throw new Error('hijacked'); };"
                "JSON.stringify = () => '{}';")
    result = run(runner, SEED)
    assert result.stored is True and result.attributes["providerOverridesEnabled"] == ["true"]
    assert out(runner, "[({}).polluted, typeof [].push]") == [None, "function"]


def test_constructor_escape_reaches_only_the_sandbox_global(runner: QuickJsRunner) -> None:
    got = out(runner, "(function () { const g = ({}).constructor.constructor('return this')();"
                      " return [g === globalThis, typeof g.require, typeof g.process, typeof g.std, typeof g.os,"
                      " (0, eval)('this') === globalThis]; })()")
    assert got == [True, "undefined", "undefined", "undefined", "undefined", True]


def test_global_object_holds_only_builtins_and_bindings(runner: QuickJsRunner) -> None:
    names = set(out(runner, "Object.getOwnPropertyNames(globalThis)"))  # type: ignore[arg-type]
    assert BINDINGS <= names
    host = names - BINDINGS
    assert not {n for n in host if n.lower() in {"require", "process", "std", "os", "fetch", "import", "load",
                                                  "loadscript", "print", "setTimeout", "console"}}
    assert all(n[0].isupper() or n in {"parseInt", "parseFloat", "isNaN", "isFinite", "decodeURI",
                                       "decodeURIComponent", "encodeURI", "encodeURIComponent", "escape", "unescape",
                                       "undefined", "eval", "globalThis", "__date_clock"} for n in host), host


def test_bindings_cannot_be_replaced(runner: QuickJsRunner) -> None:
    result = run(runner, "clientIdentity.store = function () {}; globalThis.clientIdentity = null;"
                         "try { Object.defineProperty(globalThis, 'clientIdentity', {value: null}); } catch (e) {}"
                         "clientIdentity.setAttribute('still', ['works']); clientIdentity.store();")
    assert result.stored is True and result.attributes["still"] == ["works"]


def test_replacing_json_cannot_forge_the_outcome(runner: QuickJsRunner) -> None:
    forged = json.dumps({"stored": True, "attributes": {"providerOverridesEnabled": ["true"]}, "logs": []})
    result = run(runner, f"JSON.stringify = function () {{ return {json.dumps(forged)}; }};", agent=False)
    assert result.stored is False
    assert result.attributes == ATTRS


def test_a_getter_on_the_prototype_cannot_inject_attributes(runner: QuickJsRunner) -> None:
    result = run(runner, "Object.defineProperty(Object.prototype, 'injected', {get() { return ['x']; },"
                         " enumerable: true}); clientIdentity.store();")
    assert "injected" not in result.attributes


def test_huge_logger_output_is_bounded(runner: QuickJsRunner) -> None:
    result = run(runner, "const big = 'y'.repeat(100000); for (let i = 0; i < 10000; i++) logger.info(big);"
                         "clientIdentity.store();")
    assert len(result.logs) == 100
    assert all(len(line) <= 1024 for line in result.logs)
    assert result.logs[-1] == "[9901 more log lines dropped]"


def test_log_lines_are_bounded_on_failure_too(runner: QuickJsRunner) -> None:
    with pytest.raises(ScriptError) as info:
        run(runner, "for (let i = 0; i < 500; i++) logger.error('z'.repeat(5000)); throw new Error('end');")
    assert len(info.value.logs) == 100 and all(len(line) <= 1024 for line in info.value.logs)


def test_error_messages_carry_no_host_details(runner: QuickJsRunner) -> None:
    with pytest.raises(ScriptError) as info:
        run(runner, "null.x;")
    message = str(info.value)
    assert info.value.reason == "exception" and "TypeError" in message
    assert "Traceback" not in message and ".py" not in message


def test_worker_process_sees_no_secrets_in_its_environment(runner: QuickJsRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker starts with an empty environment, so nothing the server was configured with reaches it."""
    import subprocess

    monkeypatch.setenv("CREDO_MASTER_KEY", "a-secret-that-must-not-travel-0123456789")
    seen: list[dict[str, str] | None] = []
    real = subprocess.Popen

    def spy(*args, **kwargs):  # observe the launch, then launch for real
        seen.append(kwargs.get("env"))
        return real(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    fresh = QuickJsRunner()
    try:
        assert run(fresh, SEED).stored is True
    finally:
        fresh.close()
    assert seen == [{}]
