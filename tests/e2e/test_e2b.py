"""E2B's unmodified SDKs (npm `e2b`, `@e2b/code-interpreter`, pinned in
tests/e2b/package.json) driving the session thawd through its E2B front
(--e2b-listen, docs/e2b.md). Each tests/e2b/*.test.mjs is one test here:
`node --test` runs its scenarios with THAW_E2B_URL and THAW_E2B_KEY set,
and its output is shown when it fails.

THAW_E2B_SDK_DIR=DIR runs the same scenarios against another
node_modules (scripts/e2b-drift.sh: the SDKs' latest releases) instead of
the pinned one, which is then not installed."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import thawlib as T

SUITE = T.REPO / "tests" / "e2b"
FILES = sorted(SUITE.glob("*.test.mjs"))
# Per scenario file: guests run under TCG here, and a file creates a few.
FILE_TIMEOUT_S = int(os.environ.get("THAW_E2B_TIMEOUT", "900"))


# E2B's SDKs want node >= 20.18.1 (their "engines"); Debian 12's is 18, so
# scripts/install-deps.sh then puts node 20 here.
NODE_MIN = (20, 18, 1)
NODE_CACHE = Path("/var/cache/thaw")


def _node_version(node):
    try:
        r = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
        return tuple(int(x) for x in r.stdout.strip().lstrip("v").split("."))
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


@pytest.fixture(scope="session")
def e2b_node():
    """The node that runs the scenarios: THAW_E2B_NODE, else the host's
    when it is new enough, else the one install-deps.sh installed."""
    if os.environ.get("THAW_E2B_NODE"):
        return os.environ["THAW_E2B_NODE"]
    candidates = [shutil.which("node")] + [str(p) for p in
                                           sorted(NODE_CACHE.glob("node-*/bin/node"), reverse=True)]
    seen = []
    for node in filter(None, candidates):
        v = _node_version(node)
        seen.append(f"{node}: {v}")
        if v and v >= NODE_MIN:
            return node
    pytest.fail("E2B's SDKs need node >= 20.18.1 and none was found (" + "; ".join(seen) +
                "): scripts/install-deps.sh installs one into /var/cache/thaw")


@pytest.fixture(scope="session")
def e2b_sdk():
    """The node_modules the scenarios import: the pinned SDKs, installed
    once per session from the lockfile (npm ci), or THAW_E2B_SDK_DIR."""
    other = os.environ.get("THAW_E2B_SDK_DIR")
    if other:
        mods = Path(other)
        assert (mods / "e2b").is_dir(), f"THAW_E2B_SDK_DIR={other} has no e2b package"
        return mods
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing: the E2B conformance suite needs node and npm "
                        "(scripts/install-deps.sh installs nodejs and npm)")
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline"], cwd=SUITE,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"npm ci in {SUITE} failed:\n{r.stdout}\n{r.stderr}"
    return SUITE / "node_modules"


@pytest.mark.parametrize("scenario", FILES, ids=[f.name for f in FILES])
def test_e2b_sdk(thawd, template, e2b_node, e2b_sdk, scenario):
    assert thawd.e2b_url, "the session thawd has no --e2b-listen"
    env = dict(os.environ, THAW_E2B_URL=thawd.e2b_url, THAW_E2B_KEY=thawd.key)
    run = _run_dir(e2b_sdk)
    cmd = [e2b_node, "--test", "--test-reporter=spec", str(run / scenario.name)]
    print(f"\n[e2b] {' '.join(cmd)} against {thawd.e2b_url}")
    try:
        r = subprocess.run(cmd, cwd=run, env=env, capture_output=True,
                           text=True, timeout=FILE_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) \
            else (e.stdout or "")
        pytest.fail(f"{scenario.name} ran past {FILE_TIMEOUT_S} s; output so far:\n{out}\n"
                    f"thawd log:\n{thawd.log_tail(40)}")
    sys.stdout.write(r.stdout[-4000:])
    assert r.returncode == 0, f"{scenario.name} failed (node exit {r.returncode}):\n" \
        f"{r.stdout}\n{r.stderr}\nthawd log:\n{thawd.log_tail(40)}"
    # node's summary: scenarios ran, none was skipped or left to do (a
    # file whose scenarios never ran would pass above).
    counts = dict(re.findall(r"^\S+ (tests|pass|fail|skipped|todo|cancelled) (\d+)$",
                             r.stdout, re.M))
    assert int(counts.get("pass", 0)) > 0 and int(counts.get("pass", 0)) == \
        int(counts.get("tests", -1)), f"{scenario.name}: node ran {counts}:\n{r.stdout}"


def _run_dir(mods):
    """Where node runs scenario: its own folder for the pinned SDKs; for
    other ones a folder whose node_modules is theirs, holding copies of
    the scenario files (imports resolve from the importing file)."""
    if mods == SUITE / "node_modules":
        return SUITE
    run = mods.parent
    for f in SUITE.glob("*.mjs"):
        shutil.copy(f, run / f.name)
    return run
