#!/usr/bin/env python3
"""check_schema.py - config/netrelayd.schema.json against the shipped configs and the decoder's
table of bad configs (Tests/NetRelayCoreTests/ConfigurationErrorTests.swift, `badConfigs`).

  python3 scripts/lib/check_schema.py NETRELAYD_BINARY

* the schema is a valid draft 2020-12 schema;
* every shipped config (config/netrelayd.json, config/examples/*.json) validates, and
  `netrelayd check-config` accepts it;
* every bad config of the table is refused by `netrelayd check-config`, and by the schema
  unless it is listed in NOT_EXPRESSIBLE below (with the reason a JSON Schema cannot say it);
  an entry there that the schema does reject is stale and fails too, so the list stays honest.
Prints one line per file/config and "check_schema: N passed, N failed".
"""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import jsonschema

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA = os.path.join(ROOT, "config", "netrelayd.schema.json")
TABLE = os.path.join(ROOT, "Tests", "NetRelayCoreTests", "ConfigurationErrorTests.swift")

# A substring of the decoder's expected message -> why a JSON Schema cannot express the rule.
NOT_EXPRESSIBLE = {
    "invalid JSON": "not JSON at all: there is no instance to validate",
    "must be below writeBufferHighWaterMark": "compares two values (low < high); JSON Schema has no cross-field comparison",
    "is already used by": "unique listener names across array items: uniqueItems compares whole objects, not one key",
    "is already claimed by": "port conflicts between listeners need address arithmetic",
    "plus maxDatagramSize": "a sum of two values (prefix bytes + maxDatagramSize) against a limit",
    "would loop": "compares the ports inside two address strings",
    "no block in the list is": "compares the address family of the allow list with the listen address",
    "is IPv6 but the group": "compares the address family of two keys",
    "is not an address and port": None,  # the pattern rejects it: listed to show it is checked
}


def swift_string(lit):
    """The value of a Swift string literal body (the escapes the table uses)."""
    return re.sub(r'\\(["\\nt])', lambda m: {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}[m.group(1)], lit)


def bad_configs():
    src = open(TABLE, encoding="utf-8").read()
    body = src[src.index("let badConfigs"):src.index("@Suite")]
    out = []
    for m in re.finditer(r'BadConfig\("((?:[^"\\]|\\.)*)",\s*\[#"(.*?)"#', body, re.S):
        out.append((swift_string(m.group(1)), m.group(2)))
    return out


def strict_json(text):
    def no_dups(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(pairs)
    return json.loads(text, object_pairs_hook=no_dups)


def check_config(binary, text):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(text)
        path = f.name
    try:
        r = subprocess.run([binary, "check-config", path], capture_output=True, text=True, timeout=30)
        return r.returncode, (r.stdout + r.stderr).strip()
    finally:
        os.unlink(path)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "debug", "netrelayd")
    schema = json.load(open(SCHEMA, encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    passed = failed = 0

    def result(ok, text):
        nonlocal passed, failed
        print(("PASS: " if ok else "FAIL: ") + text)
        if ok:
            passed += 1
        else:
            failed += 1

    shipped = [os.path.join(ROOT, "config", "netrelayd.json")] + sorted(glob.glob(os.path.join(ROOT, "config", "examples", "*.json")))
    for path in shipped:
        text = open(path, encoding="utf-8").read()
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(json.loads(text))]
        rc, out = check_config(binary, text)
        result(not errors and rc == 0 and '"$schema"' in text,
               f"{os.path.relpath(path, ROOT)}: schema {'ok' if not errors else errors}, check-config rc {rc}"
               + ("" if '"$schema"' in text else ", no \"$schema\" key"))

    table = bad_configs()
    result(len(table) >= 25, f"read {len(table)} bad configs from {os.path.relpath(TABLE, ROOT)}")
    used = set()
    for text, message in table:
        reason_key = next((k for k in NOT_EXPRESSIBLE if k in message and NOT_EXPRESSIBLE[k]), None)
        rc, _ = check_config(binary, text)
        try:
            instance = strict_json(text)
            schema_errors = list(validator.iter_errors(instance))
        except ValueError:
            instance, schema_errors = None, None
        short = message.split(": ", 2)[-1][:90]
        if rc == 0:
            result(False, f"check-config accepted a bad config: {text[:80]}")
            continue
        if schema_errors is None:
            result(reason_key == "invalid JSON" or "invalid JSON" in message,
                   f"not JSON for Python either, decoder rc {rc}: {short}")
            continue
        if schema_errors:
            if reason_key:
                used.add(reason_key)
                result(False, f"stale NOT_EXPRESSIBLE entry '{reason_key}': the schema does reject: {short}")
            else:
                result(True, f"both refuse (decoder rc {rc}; schema: {schema_errors[0].message[:70]}): {short}")
        else:
            if reason_key:
                used.add(reason_key)
                result(True, f"decoder refuses (rc {rc}), schema cannot ({NOT_EXPRESSIBLE[reason_key]}): {short}")
            else:
                result(False, f"the schema accepts a config the decoder refuses: {text[:100]} -> {message}")
    print(f"check_schema: {passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
