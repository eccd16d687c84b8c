#!/usr/bin/env python3
"""Prints the include cycles between thawd's modules (a module is a .c
and its .h: core/sandbox.c + core/sandbox.h) and exits 1 if there is any
but the documented pair: core/sandbox and core/registry, one unit (the
registry holds sandboxes, a sandbox's references are counted under the
registry's lock). Run by `make check`.

    scripts/include-cycles.py [ROOT (default src/thawd)]
"""

import os
import re
import sys
from collections import defaultdict

ALLOWED = [{"core/registry", "core/sandbox"}]


def modules(root):
    graph = defaultdict(set)
    include = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
    files = {}
    for d, _, names in os.walk(root):
        for n in names:
            if n.endswith((".c", ".h")):
                p = os.path.join(d, n)
                with open(p) as f:
                    files[os.path.relpath(p, root)] = include.findall(f.read())
    known = {os.path.splitext(p)[0] for p in files}
    for p, incs in files.items():
        m = os.path.splitext(p)[0]
        graph[m]  # every module is a node
        for i in incs:
            # "x.h" from a file in the same folder, else relative to root
            local = os.path.normpath(os.path.join(os.path.dirname(p), i))
            target = os.path.splitext(local if os.path.splitext(local)[0] in known else i)[0]
            if target in known and target != m:
                graph[m].add(target)
    return graph


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "src/thawd"
    bad = 0
    for comp in cycles(modules(root)):
        ok = comp in ALLOWED
        print(f"include cycle{' (documented)' if ok else ''}: {' <-> '.join(sorted(comp))}")
        bad += not ok
    if bad:
        print(f"include-cycles: {bad} cycle(s) besides the documented pair", file=sys.stderr)
        return 1
    print("include-cycles: none but the documented pair")
    return 0


if __name__ == "__main__":
    sys.exit(main())
