#!/usr/bin/env python3
"""docs/thawd.md's table of options, made from thawd's own option table
(`thawd --help`), so that the reference cannot drift from the program.

    scripts/options-doc.py           rewrite the table in docs/thawd.md
    scripts/options-doc.py --check   exit 1 (and say so) if it differs

The table sits between the markers <!-- options:begin --> and
<!-- options:end -->; the rest of docs/thawd.md is prose, kept as it is."""

import os
import re
import subprocess
import sys

DOC = "docs/thawd.md"
BEGIN, END = "<!-- options:begin -->", "<!-- options:end -->"


def options(thawd):
    text = subprocess.run([thawd, "--help"], capture_output=True, text=True).stderr
    text += subprocess.run([thawd, "--help"], capture_output=True, text=True).stdout
    rows, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^  (--[a-z0-9-]+)(?: (\S+))?$", line)
        if not m or i + 1 >= len(lines):
            continue
        desc = lines[i + 1].strip()
        env = re.search(r"\[env (THAW_[A-Z0-9_]+)\]$", desc)
        desc = desc[:env.start()].strip() if env else desc
        arg = f" {m.group(2)}" if m.group(2) else ""
        rows.append((f"`{m.group(1)}{arg}`", f"`{env.group(1)}`" if env else "",
                     desc.replace("|", "\\|")))
    return rows


def table(rows):
    out = ["| Option | Environment | What it sets (default) |", "| --- | --- | --- |"]
    out += [f"| {o.replace('|', chr(92) + '|')} | {e} | {d} |" for o, e, d in rows]
    return "\n".join(out)


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    thawd = os.environ.get("THAWD", "build/bin/thawd")
    rows = options(thawd)
    if len(rows) < 10:
        print(f"options-doc: {thawd} --help listed {len(rows)} options", file=sys.stderr)
        return 1
    with open(DOC) as f:
        doc = f.read()
    i, j = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    new = doc[:i] + "\n" + table(rows) + "\n" + doc[j:]
    if "--check" in sys.argv[1:]:
        if new != doc:
            print(f"options-doc: {DOC} differs from `thawd --help`: run "
                  "scripts/options-doc.py", file=sys.stderr)
            return 1
        print(f"options-doc: {DOC} lists the {len(rows)} options of thawd --help")
        return 0
    with open(DOC, "w") as f:
        f.write(new)
    print(f"options-doc: wrote {len(rows)} options into {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
