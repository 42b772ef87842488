"""The JavaScript that builds the DCR script bindings (kept in Python so it ships with the package)."""

PRELUDE = r"""
// Builds the DCR script bindings from a JSON snapshot. Evaluated in a fresh context before the
// script; returns the function that reads the outcome back. Pure JavaScript: no host callbacks.
(function (input) {
  "use strict";
  const stringify = JSON.stringify, parse = JSON.parse, isArray = Array.isArray;
  const keysOf = Object.keys, freeze = Object.freeze, define = Object.defineProperty;
  const create = Object.create, toStr = String;

  function copyMap(source) {
    const out = create(null);
    const names = keysOf(source);
    for (let i = 0; i < names.length; i++) out[names[i]] = source[names[i]].slice();
    return out;
  }

  function deepFreeze(value) {
    if (value !== null && typeof value === "object") {
      const names = keysOf(value);
      for (let i = 0; i < names.length; i++) deepFreeze(value[names[i]]);
      freeze(value);
    }
    return value;
  }

  function toValues(values) {
    if (typeof values === "string") return [values];
    if (!isArray(values)) throw new TypeError("setAttribute: values must be an array of strings");
    const out = [];
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v === "string") out.push(v);
      else if (typeof v === "number" || typeof v === "boolean") out.push(toStr(v));
      else throw new TypeError("setAttribute: values must be an array of strings");
    }
    return out;
  }

  const original = copyMap(input.attributes);
  let current = copyMap(input.attributes);
  let stored = null;
  const logs = [];
  let dropped = 0;

  const clientIdentity = freeze({
    isAIAgent: function () { return input.isAIAgent === true; },
    getClientId: function () { return input.clientId; },
    getAttributeValues: function (name) {
      const values = current[toStr(name)];
      return values === undefined ? [] : values.slice();
    },
    setAttribute: function (name, values) {
      if (typeof name !== "string" || name.length === 0 || name.length > 255)
        throw new TypeError("setAttribute: name must be a non-empty string of at most 255 characters");
      current[name] = toValues(values);
    },
    store: function () { stored = copyMap(current); },
  });

  function describe(arg) {
    if (typeof arg === "string") return arg;
    try { const text = stringify(arg); return text === undefined ? toStr(arg) : text; }
    catch (e) { return toStr(arg); }
  }

  function log(level) {
    return function () {
      if (logs.length >= input.limits.logLines) { dropped++; return; }
      const parts = [];
      for (let i = 0; i < arguments.length; i++) parts.push(describe(arguments[i]));
      logs.push((level + " " + parts.join(" ")).slice(0, input.limits.logChars));
    };
  }

  const logger = freeze({ info: log("INFO"), warn: log("WARN"), error: log("ERROR"), debug: log("DEBUG") });
  const metadata = deepFreeze(parse(stringify(input.metadata)));
  const globals = { operation: input.operation, realm: input.realm, clientIdentity: clientIdentity,
                    metadata: metadata, requestProperties: metadata, logger: logger };
  const names = keysOf(globals);
  for (let i = 0; i < names.length; i++)
    define(globalThis, names[i], { value: globals[names[i]], writable: false, configurable: false, enumerable: false });

  return function outcome() {
    return stringify({ stored: stored !== null, attributes: stored === null ? original : stored,
                       logs: logs, dropped: dropped });
  };
})
"""
