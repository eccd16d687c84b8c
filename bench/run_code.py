#!/usr/bin/env python3
"""run_code benchmark, each row against starting python3 fresh in the
same sandbox, in the same run (interleaved, so all rows see the same
machine):

  1. run_code("1+1") in the warm interpreter / exec("true") /
     exec("python3 -c 1"): the round trip (target: run_code >= 5x faster).
  2. A matplotlib chart through run_code (a PNG result) / the same chart
     by a fresh python3 (import matplotlib, plot, savefig): rich output.
  3. A context restart (a fresh interpreter state with numpy, pandas and
     matplotlib imported) / a fresh python3 importing them.
  4. The first import of pandas in a new sandbox's interpreter.
  5. The template: its root disk (allocated), the memory file's non-zero
     part, and the restore working set (pages of the memory file a VMM
     has faulted in: ready, after run_code("1+1"), after a chart).

Uses the Python SDK (sdk/python) against $THAW_API_URL / $THAW_API_KEY.
Usage: bench/run_code.py [--n 30] [--template code-interpreter] [--json F] [--strict]"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sdk",
                                "python"))
from thaw import Sandbox  # noqa: E402
from thaw.client import Client  # noqa: E402
from kernel import memory_rss_kib, vmm_pid  # noqa: E402  (bench/kernel.py, beside this file)

CHART = ("import matplotlib.pyplot as plt\n"
         "fig, ax = plt.subplots()\n"
         "ax.plot(range(100), [i * i for i in range(100)])\n"
         "plt.show()")
CHART_FRESH = ("import matplotlib\nmatplotlib.use('Agg')\n" + CHART.replace(
    "plt.show()", "import io\nfig.savefig(io.BytesIO(), format='png')"))
HEAVY = "import numpy, pandas, matplotlib.pyplot"


def pct(v, p):
    s = sorted(v)
    k = max(0, -(-p * len(s) // 100) - 1)  # nearest rank
    return s[k]


def timed(fn):
    t0 = time.monotonic()
    fn()
    return (time.monotonic() - t0) * 1000


def guest_ram_rss_mib(pid, memory_mb):
    return memory_rss_kib(pid, memory_mb) / 1024


def template_figures(template, n):
    info = Client().request("GET", f"/v1/templates/{template}")
    ready, after_1, after_chart = [], [], []
    for _ in range(n):
        with Sandbox.create(template=template, timeout=300,
                            metadata={"thaw_bench": "run_code"}) as sbx:
            pid = vmm_pid(sbx.id)
            ready.append(guest_ram_rss_mib(pid, info["memory_mb"]))
            sbx.run_code("1+1")
            after_1.append(guest_ram_rss_mib(pid, info["memory_mb"]))
            sbx.run_code(CHART)
            after_chart.append(guest_ram_rss_mib(pid, info["memory_mb"]))
    return {"memory_mb": info["memory_mb"],
            "rootfs_allocated_mib": info["disk"]["allocated_bytes"] / 2**20,
            "working_set_mib": {"ready": pct(ready, 50), "after_run_code": pct(after_1, 50),
                                "after_chart": pct(after_chart, 50)}}


def ok_exec(sbx, argv):
    r = sbx.exec(argv)
    assert r.exit_code == 0, r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--template", default="code-interpreter")
    ap.add_argument("--json")
    ap.add_argument("--strict", action="store_true")
    a = ap.parse_args()
    n_heavy = max(5, a.n // 3)  # the fresh python3 rows take seconds under TCG
    with Sandbox.create(template=a.template, timeout=1200,
                        metadata={"thaw_bench": "run_code"}) as sbx:
        first = timed(lambda: sbx.run_code("1+1"))
        first_import = float(sbx.run_code(
            "import time\nt = time.perf_counter()\nimport pandas\n"
            "(time.perf_counter() - t) * 1000").text)
        ctx = sbx.create_code_context()

        def run_code():
            assert sbx.run_code("1+1").text == "2"

        def chart():
            ex = sbx.run_code(CHART)
            assert ex.error is None and ex.results and ex.results[0].png, ex

        def restart():
            sbx.restart_code_context(ctx)

        groups = [
            ("round trip", a.n, [
                ("run_code(\"1+1\") (warm interpreter)", run_code),
                ("exec(\"true\")", lambda: ok_exec(sbx, "true")),
                ("exec(\"python3 -c 1\") (fresh interpreter)",
                 lambda: ok_exec(sbx, ["python3", "-c", "1"]))]),
            ("a matplotlib chart as PNG", n_heavy, [
                ("run_code(chart) -> png result", chart),
                ("exec(python3: import matplotlib, plot, savefig)",
                 lambda: ok_exec(sbx, ["python3", "-c", CHART_FRESH]))]),
            ("a fresh interpreter with numpy+pandas+matplotlib", n_heavy, [
                ("restart a context (pre-forked)", restart),
                ("exec(python3 -c 'import numpy, pandas, matplotlib.pyplot')",
                 lambda: ok_exec(sbx, ["python3", "-c", HEAVY]))]),
        ]
        rows = {}
        for _, n, fns in groups:
            for label, _ in fns:
                rows[label] = []
            for _ in range(n):
                for label, fn in fns:
                    rows[label].append(timed(fn))
    tf = template_figures(a.template, 3)
    print(f"run_code benchmark: template {a.template}, interleaved per group; first run_code "
          f"in a new sandbox {first:.1f} ms; first `import pandas` in it {first_import:.3f} ms\n")
    print(f"{'milliseconds (client wall time)':58} {'n':>4} {'p50':>8} {'p99':>8}")
    ws = tf["working_set_mib"]
    print(f"template: {tf['memory_mb']} MiB of memory; its files allocate "
          f"{tf['rootfs_allocated_mib']:.0f} MiB (root disk, memory file, kernel); restore "
          f"working set (p50 of 3) {ws['ready']:.1f} MiB ready, {ws['after_run_code']:.1f} "
          f"after run_code(\"1+1\"), {ws['after_chart']:.1f} after a chart\n")
    summary = {"first_run_code_ms": first, "first_import_pandas_ms": first_import, "rows": {},
               "template": tf}
    for title, _, fns in groups:
        print(f"-- {title}")
        for label, _ in fns:
            v = rows[label]
            summary["rows"][label] = {"n": len(v), "p50": pct(v, 50), "p99": pct(v, 99)}
            print(f"  {label:56} {len(v):4} {pct(v, 50):8.1f} {pct(v, 99):8.1f}")
    ratios = []
    for title, _, fns in groups:
        warm, fresh = pct(rows[fns[0][0]], 50), pct(rows[fns[-1][0]], 50)
        ratios.append((title, fresh / warm))
    print()
    for title, r in ratios:
        print(f"fresh python3 / thaw (p50), {title}: {r:.1f}x")
    ok = ratios[0][1] >= 5
    print(f"round trip target >= 5x: {'PASS' if ok else 'MISS'}")
    summary["ratios"] = dict(ratios)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=1)
    return 1 if a.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
