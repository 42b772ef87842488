"""The QuickJS DCR script runner: the seed script, the bindings, failures and limits."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credo.scripting.api import ScriptError, ScriptInput, ScriptOutput
from credo.scripting.quickjs_runner import QuickJsRunner

SEED = (Path(__file__).parent.parent / "fixtures" / "seed_dcr_script.js").read_text()
AGENT_ATTRS = {"AgentType": ["shopping-assistant"], "aiAgentIdentityUid": ["uid-42"], "custom": ["kept"]}


@pytest.fixture(scope="module")
def runner() -> Iterator[QuickJsRunner]:
    r = QuickJsRunner()
    yield r
    r.close()


def data(operation: str = "CREATE", *, agent: bool = True, attributes: dict[str, list[str]] | None = None,
         metadata: dict[str, object] | None = None, realm: str = "alpha") -> ScriptInput:
    return ScriptInput(operation=operation, client_id="c-123", is_ai_agent=agent,  # type: ignore[arg-type]
                       attributes=dict(AGENT_ATTRS if attributes is None else attributes),
                       metadata=metadata or {"client_name": "Retail Chatbot"}, realm=realm)


def run(runner: QuickJsRunner, source: str, **kw: object) -> ScriptOutput:
    return runner.run(source, data(**kw))  # type: ignore[arg-type]


def failure(runner: QuickJsRunner, source: str, **kw: object) -> tuple[ScriptError, float]:
    start = time.monotonic()
    with pytest.raises(ScriptError) as info:
        run(runner, source, **kw)
    return info.value, time.monotonic() - start


def store_js(expr: str) -> str:
    """A script that stores the JSON of `expr` in attribute `out`."""
    return f'clientIdentity.setAttribute("out", [JSON.stringify({expr})]); clientIdentity.store();'


def out(runner: QuickJsRunner, expr: str, **kw: object) -> object:
    return json.loads(run(runner, store_js(expr), **kw).attributes["out"][0])


# --- the seed script -------------------------------------------------------------------------

def test_seed_script_on_agent_create_sets_overrides_and_copies_identity(runner: QuickJsRunner) -> None:
    result = run(runner, SEED)
    assert result.stored is True
    assert result.attributes == {
        "providerOverridesEnabled": ["true"], "statelessTokensEnabled": ["true"],
        "acceptAudienceParametersInTokenExchangeRequests": ["true"],
        "AgentType": ["shopping-assistant"], "aiAgentIdentityUid": ["uid-42"], "custom": ["kept"]}


def test_seed_script_copies_absent_identity_attributes_as_empty(runner: QuickJsRunner) -> None:
    result = run(runner, SEED, attributes={})
    assert result.stored is True
    assert result.attributes["AgentType"] == [] and result.attributes["aiAgentIdentityUid"] == []
    assert result.attributes["providerOverridesEnabled"] == ["true"]


def test_seed_script_ignores_a_plain_client(runner: QuickJsRunner) -> None:
    result = run(runner, SEED, agent=False)
    assert result.stored is False
    assert result.attributes == AGENT_ATTRS


@pytest.mark.parametrize("operation", ["UPDATE", "DELETE"])
def test_seed_script_ignores_other_operations(runner: QuickJsRunner, operation: str) -> None:
    result = run(runner, SEED, operation=operation)
    assert result.stored is False
    assert result.attributes == AGENT_ATTRS


def test_seed_script_runs_in_a_few_milliseconds(runner: QuickJsRunner) -> None:
    run(runner, SEED)  # warm the worker
    n = 200
    start = time.perf_counter()
    for _ in range(n):
        run(runner, SEED)
    per_run_us = (time.perf_counter() - start) / n * 1e6
    print(f"seed DCR script: {per_run_us:.0f} us per run")
    assert per_run_us < 20_000


# --- bindings --------------------------------------------------------------------------------

def test_changes_without_store_are_discarded(runner: QuickJsRunner) -> None:
    result = run(runner, 'clientIdentity.setAttribute("providerOverridesEnabled", ["true"]);')
    assert result.stored is False
    assert result.attributes == AGENT_ATTRS


def test_changes_after_the_last_store_are_discarded(runner: QuickJsRunner) -> None:
    result = run(runner, 'clientIdentity.setAttribute("a", ["1"]); clientIdentity.store();'
                         'clientIdentity.setAttribute("b", ["2"]);')
    assert result.stored is True
    assert result.attributes["a"] == ["1"] and "b" not in result.attributes


def test_identity_and_request_bindings(runner: QuickJsRunner) -> None:
    got = out(runner, "[operation, realm, clientIdentity.getClientId(), clientIdentity.isAIAgent(),"
                      " metadata.client_name, requestProperties.client_name]", operation="UPDATE", realm="bravo")
    assert got == ["UPDATE", "bravo", "c-123", True, "Retail Chatbot", "Retail Chatbot"]
    assert out(runner, "clientIdentity.isAIAgent()", agent=False) is False


def test_get_attribute_values_returns_a_copy_and_empty_when_absent(runner: QuickJsRunner) -> None:
    got = out(runner, '(function(){ const v = clientIdentity.getAttributeValues("custom"); v.push("x");'
                      ' return [clientIdentity.getAttributeValues("custom"), clientIdentity.getAttributeValues("nope")]; })()')
    assert got == [["kept"], []]


def test_set_attribute_coerces_a_string_and_scalars(runner: QuickJsRunner) -> None:
    result = run(runner, 'clientIdentity.setAttribute("s", "one"); clientIdentity.setAttribute("n", [1, true, "x"]);'
                         'clientIdentity.store();')
    assert result.attributes["s"] == ["one"] and result.attributes["n"] == ["1", "true", "x"]


@pytest.mark.parametrize("call", ['clientIdentity.setAttribute("a", null)', 'clientIdentity.setAttribute("a", [{}])',
                                  'clientIdentity.setAttribute("a", [["nested"]])', 'clientIdentity.setAttribute("a", 5)',
                                  'clientIdentity.setAttribute("", ["x"])', 'clientIdentity.setAttribute(7, ["x"])',
                                  'clientIdentity.setAttribute("x".repeat(256), ["x"])'])
def test_set_attribute_refuses_bad_values(runner: QuickJsRunner, call: str) -> None:
    error, _ = failure(runner, call + "; clientIdentity.store();")
    assert error.reason == "exception"
    assert "TypeError: setAttribute" in str(error)


def test_metadata_is_read_only(runner: QuickJsRunner) -> None:
    error, _ = failure(runner, '"use strict"; metadata.client_name = "changed";')
    assert error.reason == "exception" and "TypeError" in str(error)
    got = out(runner, '(function(){ operation = "DELETE"; requestProperties.client_name = "x"; '
                      'return [operation, metadata.client_name]; })()')
    assert got == ["CREATE", "Retail Chatbot"]


def test_logger_lines_are_returned_with_levels(runner: QuickJsRunner) -> None:
    result = run(runner, 'logger.info("hello", {a: 1}); logger.warn("w"); logger.error("e"); logger.debug(42);')
    assert result.logs == ['INFO hello {"a":1}', "WARN w", "ERROR e", "DEBUG 42"]


def test_promise_callbacks_run_before_the_outcome_is_read(runner: QuickJsRunner) -> None:
    result = run(runner, 'Promise.resolve("async").then(v => { clientIdentity.setAttribute("v", [v]);'
                         ' clientIdentity.store(); });')
    assert result.stored is True and result.attributes["v"] == ["async"]


# --- failures --------------------------------------------------------------------------------

def test_exception_carries_the_js_message_and_logs(runner: QuickJsRunner) -> None:
    error, _ = failure(runner, 'logger.info("before"); throw new Error("boom at step 3");')
    assert error.reason == "exception"
    assert "Error: boom at step 3" in str(error)
    assert error.logs == ["INFO before"]


def test_exception_message_is_truncated(runner: QuickJsRunner) -> None:
    error, _ = failure(runner, 'throw new Error("x".repeat(100000));')
    assert error.reason == "exception" and len(str(error)) <= 500


@pytest.mark.parametrize("source", ["if (", "import os from 'os';", "let let = 1;"])
def test_syntax_error_is_an_exception(runner: QuickJsRunner, source: str) -> None:
    error, _ = failure(runner, source)
    assert error.reason == "exception" and "SyntaxError" in str(error)


def test_non_error_throw_is_an_exception(runner: QuickJsRunner) -> None:
    error, _ = failure(runner, 'throw "plain string";')
    assert error.reason == "exception" and "plain string" in str(error)


def test_infinite_loop_times_out_quickly(runner: QuickJsRunner) -> None:
    error, elapsed = failure(runner, "while (true) {}")
    assert error.reason == "timeout"
    assert elapsed < 2


def test_catching_the_interrupt_does_not_help(runner: QuickJsRunner) -> None:
    error, elapsed = failure(runner, "while (true) { try { while (true) {} } catch (e) {} }")
    assert error.reason == "timeout" and elapsed < 2


def test_infinite_promise_chain_times_out(runner: QuickJsRunner) -> None:
    error, elapsed = failure(runner, "function again() { return Promise.resolve().then(again); } again();")
    assert error.reason == "timeout" and elapsed < 2


@pytest.mark.parametrize("source", [
    "let a = []; while (true) a.push(new Array(1e6).fill(1));",
    "let s = 'x'; while (true) s = s + s;",
    "let s = 'x'; for (;;) { s = s + s; s.charCodeAt(s.length - 1); }",
    "new Array(1e9).fill(0);",
])
def test_memory_bombs_fail_quickly(runner: QuickJsRunner, source: str) -> None:
    error, elapsed = failure(runner, source)
    assert error.reason in ("memory", "timeout")
    assert elapsed < 2


def test_array_bomb_reports_memory(runner: QuickJsRunner) -> None:
    error, _ = failure(runner, "let a = []; while (true) a.push(new Array(1e6).fill(1));")
    assert error.reason == "memory"


def test_stack_overflow_is_an_exception(runner: QuickJsRunner) -> None:
    error, elapsed = failure(runner, "function f() { return f(); } f();")
    assert error.reason == "exception" and "stack overflow" in str(error) and elapsed < 2


def test_blocking_wait_is_refused(runner: QuickJsRunner) -> None:
    error, elapsed = failure(runner, "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);")
    assert error.reason == "exception" and elapsed < 2


def test_script_stuck_in_native_code_is_killed_and_the_runner_recovers(runner: QuickJsRunner) -> None:
    """A backtracking regex never reaches an interrupt check: the wall-clock deadline kills the worker."""
    error, elapsed = failure(runner, "/(a+)+$/.test('a'.repeat(40) + 'b');")
    assert error.reason == "timeout" and elapsed < 2
    assert run(runner, SEED).stored is True


def test_swallowing_out_of_memory_in_a_loop_is_killed(runner: QuickJsRunner) -> None:
    error, elapsed = failure(runner, "for (;;) { try { new Array(1e6).fill(1); } catch (e) {} }")
    assert error.reason == "timeout" and elapsed < 2


def test_too_large_source_is_invalid(runner: QuickJsRunner) -> None:
    error, _ = failure(runner, "//" + "x" * (64 * 1024))
    assert error.reason == "invalid"


def test_too_large_attributes_are_invalid(runner: QuickJsRunner) -> None:
    error, _ = failure(runner, 'clientIdentity.setAttribute("big", ["x".repeat(70000)]); clientIdentity.store();')
    assert error.reason == "invalid" and "exceed" in str(error)


def test_a_replaced_to_json_makes_the_output_invalid(runner: QuickJsRunner) -> None:
    error, _ = failure(runner, "Object.prototype.toJSON = function () { return 5; }; clientIdentity.store();")
    assert error.reason == "invalid"


# --- isolation -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["require", "std", "os", "fetch", "XMLHttpRequest", "process", "setTimeout",
                                  "setInterval", "print", "console", "scriptArgs", "WebSocket", "Deno", "Bun"])
def test_no_file_network_process_or_timer_globals(runner: QuickJsRunner, name: str) -> None:
    assert out(runner, f"typeof {name}") == "undefined"


def test_dynamic_import_cannot_load_modules(runner: QuickJsRunner) -> None:
    result = run(runner, 'import("os").then(() => clientIdentity.setAttribute("r", ["loaded"]),'
                         ' e => clientIdentity.setAttribute("r", [String(e)])).then(() => clientIdentity.store());')
    assert result.attributes["r"] != ["loaded"]
    assert "could not load module" in result.attributes["r"][0]


def test_a_second_run_does_not_see_the_first(runner: QuickJsRunner) -> None:
    run(runner, "globalThis.leak = 'secret'; var declared = 1; Object.prototype.polluted = 1;")
    assert out(runner, "[typeof leak, typeof declared, typeof ({}).polluted]") == ["undefined"] * 3


def test_a_script_of_realm_a_cannot_affect_realm_b(runner: QuickJsRunner) -> None:
    run(runner, 'Array.prototype.slice = function () { return ["hijacked"]; }; globalThis.realmA = 1;', realm="alpha")
    result = run(runner, SEED, realm="bravo")
    assert result.attributes["AgentType"] == ["shopping-assistant"]
    assert out(runner, "[realm, typeof realmA]", realm="bravo") == ["bravo", "undefined"]


def test_runs_from_many_threads_at_once() -> None:
    runner = QuickJsRunner()
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda i: run(runner, SEED, attributes={"AgentType": [f"t{i}"]}), range(16)))
        assert [r.attributes["AgentType"] for r in results] == [[f"t{i}"] for i in range(16)]
    finally:
        runner.close()


def test_a_worker_that_died_while_idle_is_replaced(runner: QuickJsRunner) -> None:
    run(runner, SEED)
    for worker in list(runner._idle):
        worker.process.kill()
        worker.process.wait()
    assert run(runner, SEED).stored is True


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attributes=st.dictionaries(st.text(min_size=1, max_size=40), st.lists(st.text(max_size=40), max_size=4),
                                  max_size=6))
def test_attributes_round_trip_unchanged(runner: QuickJsRunner, attributes: dict[str, list[str]]) -> None:
    """Any names (even __proto__ or constructor) and any Unicode values survive a store() unchanged."""
    result = run(runner, "clientIdentity.store();", attributes=attributes)
    assert result.stored is True and result.attributes == attributes


@pytest.mark.parametrize("name", ["__proto__", "constructor", "toString", "hasOwnProperty"])
def test_attribute_names_that_shadow_object_members(runner: QuickJsRunner, name: str) -> None:
    result = run(runner, f'clientIdentity.setAttribute("{name}", ["v"]); clientIdentity.store();'
                         f'logger.info(JSON.stringify(clientIdentity.getAttributeValues("{name}")));')
    assert result.attributes[name] == ["v"] and result.logs == ['INFO ["v"]']


def test_a_heap_too_small_for_the_bindings_is_a_memory_failure() -> None:
    tiny = QuickJsRunner(memory_limit_bytes=32 * 1024)
    try:
        with pytest.raises(ScriptError) as info:
            run(tiny, SEED)
        assert info.value.reason == "memory"
    finally:
        tiny.close()


def test_warm_starts_a_worker_that_later_runs_reuse() -> None:
    warm = QuickJsRunner()
    try:
        warm.warm()
        assert len(warm._idle) == 1
        started = warm._idle[0].process.pid
        assert run(warm, SEED).stored is True
        assert [w.process.pid for w in warm._idle] == [started]
    finally:
        warm.close()


def test_a_worker_starts_and_answers_when_the_process_holds_many_open_files() -> None:
    """Descriptors past select()'s FD_SETSIZE (1024) once made every new worker 'not start'."""
    import os

    from credo.scripting.quickjs_runner import QuickJsRunner

    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    runner = QuickJsRunner()
    try:
        runner.warm()
    finally:
        runner.close()
        for fd in held:
            os.close(fd)
