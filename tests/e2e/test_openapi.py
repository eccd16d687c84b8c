"""GET /openapi.json serves docs/openapi.json without a key, and every
operation it documents exists on the real server (no 405, no "no such
endpoint"); the unit test test_routes checks the other direction."""

import json
from pathlib import Path

import thawlib as T

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
FILL = {"{id}": "sb-aaaaaaaaaaaa", "{name}": "no-such-template", "{port}": "8000",
        "{path}": "x"}


def test_served_document_is_the_file(thawd):
    st, headers, raw = T.request("GET", "/openapi.json", key=None)
    assert st == 200 and headers["Content-Type"] == "application/json", (st, headers)
    assert json.loads(raw) == json.loads(DOC.read_text())
    T.check(f"/openapi.json without a key: {len(raw)} bytes, equal to docs/openapi.json")


def test_every_documented_operation_exists(thawd):
    doc = json.loads(DOC.read_text())
    n = 0
    for path, ops in doc["paths"].items():
        url = path
        for k, v in FILL.items():
            url = url.replace(k, v)
        for method, op in ops.items():
            if method == "post" and url == "/v1/templates":
                body = {"name": "Bad Name"}  # refused before any bake starts
            elif method in ("post", "put", "patch"):
                body = {"no_such_field": 1}
            else:
                body = None
            st, _, raw = T.request(method.upper(), url, body)
            text = raw.decode(errors="replace")
            assert st != 405 and "no such endpoint" not in text, \
                f"{method.upper()} {url} ({op['operationId']}) answered {st}: {text[:200]}"
            assert str(st) in op["responses"] or st in (400, 401, 404, 502), \
                f"{method.upper()} {url} answered {st}, not documented: {text[:200]}"
            n += 1
    T.check(f"all {n} documented operations exist on the server")
