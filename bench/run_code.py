#!/usr/bin/env python3
"""run_code benchmark: the round trip of run_code("1+1") in the warm
code interpreter, side by side with exec("true") and with starting
python3 fresh (exec("python3 -c 1")) in the same sandbox, in the same
run. Target: run_code p50 at least 5x faster than a fresh python3.

Uses the Python SDK (sdk/python) against $THAW_API_URL / $THAW_API_KEY.
Usage: bench/run_code.py [--n 30] [--template code-interpreter] [--strict]"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sdk",
                                "python"))
from thaw import Sandbox  # noqa: E402


def pct(v, p):
    s = sorted(v)
    k = max(0, -(-p * len(s) // 100) - 1)  # nearest rank
    return s[k]


def timed(fn, n):
    out = []
    for _ in range(n):
        t0 = time.monotonic()
        fn()
        out.append((time.monotonic() - t0) * 1000)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--template", default="code-interpreter")
    ap.add_argument("--strict", action="store_true")
    a = ap.parse_args()
    with Sandbox.create(template=a.template, timeout=600,
                        metadata={"thaw_bench": "run_code"}) as sbx:
        first = timed(lambda: sbx.run_code("1+1"), 1)[0]

        def run_code():
            r = sbx.run_code("1+1")
            assert r.result == "2", r

        def exec_true():
            assert sbx.exec("true").exit_code == 0

        def python_fresh():
            assert sbx.exec(["python3", "-c", "1"]).exit_code == 0

        # Interleaved so that all three see the same machine.
        rows = {"run_code(\"1+1\") (warm interpreter)": [], "exec(\"true\")": [],
                "exec(\"python3 -c 1\") (fresh interpreter)": []}
        fns = list(zip(rows.values(), (run_code, exec_true, python_fresh)))
        for _ in range(a.n):
            for samples, fn in fns:
                samples.extend(timed(fn, 1))
    print(f"run_code benchmark: template {a.template}, n={a.n} each, interleaved; "
          f"first run_code in a new sandbox {first:.1f} ms\n")
    print(f"{'milliseconds (client wall time)':44} {'n':>4} {'p50':>8} {'p99':>8}")
    for label, v in rows.items():
        print(f"{label:44} {len(v):4} {pct(v, 50):8.1f} {pct(v, 99):8.1f}")
    rc, _, fresh = (pct(v, 50) for v in rows.values())
    ratio = fresh / rc
    ok = ratio >= 5
    print(f"\nfresh python3 / run_code (p50): {ratio:.1f}x  target >= 5x: "
          f"{'PASS' if ok else 'MISS'}")
    return 1 if a.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
