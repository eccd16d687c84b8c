"""GET /v1/sandboxes with filters (state, template, metadata.KEY, owner)
and pages (limit, next): filters AND together, pages follow a stable
order (creation time, then id), paging while sandboxes come and go shows
each one that stayed exactly once, and every bad parameter or token is a
400. The answer keeps its shape for clients that know no pages. The
SDK's Sandbox.list follows the pages."""

import sys
import urllib.parse
import uuid
from pathlib import Path

import pytest

import thawlib as T

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "sdk" / "python"))
import thaw  # noqa: E402

N = 12


def _list(**q):
    st, body = T.api("GET", "/v1/sandboxes?" + urllib.parse.urlencode(q))
    assert st == 200, body
    return body


def _all_pages(**q):
    """Every sandbox of a paged walk; asserts each page's size."""
    seen, pages = [], 0
    while True:
        body = _list(**q)
        pages += 1
        assert len(body["sandboxes"]) <= int(q.get("limit", 1000))
        seen += body["sandboxes"]
        if not body["next"]:
            return seen, pages
        q["next"] = body["next"]


def _place(sid):
    st, sb = T.api("GET", f"/v1/sandboxes/{sid}")
    assert st == 200, sb
    return (sb["created_at"], sid)


@pytest.fixture(scope="module")
def fleet(template):
    """N sandboxes tagged with this run's id: team a or b, index i; the
    last one paused."""
    run = uuid.uuid4().hex[:8]
    made = []
    try:
        for i in range(N):
            made.append(T.create(timeout_s=1800, metadata={"run": run, "team": "ab"[i % 2],
                                                           "i": str(i)})["id"])
        st, body = T.api("POST", f"/v1/sandboxes/{made[-1]}/pause", {})
        assert st == 200, body
        paused = made[-1]
        # The list's order: creation time (to the second), then id.
        made.sort(key=_place)
        yield run, made, paused
    finally:
        for sid in made:
            T.api("DELETE", f"/v1/sandboxes/{sid}")


def test_old_clients_see_the_same_shape(fleet):
    run, made, paused = fleet
    st, body = T.api("GET", "/v1/sandboxes")
    assert st == 200 and set(body) == {"sandboxes", "next"} and body["next"] is None, body.keys()
    ids = [s["id"] for s in body["sandboxes"]]
    assert set(made) <= set(ids)
    one = next(s for s in body["sandboxes"] if s["id"] == made[0])
    assert {"id", "owner", "template", "state", "created_at", "metadata"} <= set(one), one
    T.check(f"no parameters: every sandbox ({len(ids)}), next null, entries as before")


def test_filters_and_together(fleet):
    run, made, paused = fleet
    mine = _list(**{"metadata.run": run})["sandboxes"]
    assert [s["id"] for s in mine] == made, "not in the order of (created_at, id)"
    team = {s["id"]: s["metadata"]["team"] for s in mine}
    three = next(s["id"] for s in mine if s["metadata"]["i"] == "3")
    team_a = _list(**{"metadata.run": run, "metadata.team": "a"})["sandboxes"]
    assert [s["id"] for s in team_a] == [sid for sid in made if team[sid] == "a"]
    assert len(team_a) == N // 2
    one = _list(**{"metadata.run": run, "metadata.team": "b", "metadata.i": "3"})["sandboxes"]
    assert [s["id"] for s in one] == [three]
    assert _list(**{"metadata.run": run, "metadata.team": "a", "metadata.i": "3"})["sandboxes"] == []
    got = _list(**{"metadata.run": run, "state": "paused"})["sandboxes"]
    assert [s["id"] for s in got] == [paused] and got[0]["state"] == "paused"
    running = _list(**{"metadata.run": run, "state": "running"})["sandboxes"]
    assert [s["id"] for s in running] == [sid for sid in made if sid != paused]
    assert len(_list(**{"metadata.run": run, "template": T.TEMPLATE})["sandboxes"]) == N
    assert _list(**{"metadata.run": run, "template": "no-such-template"})["sandboxes"] == []
    assert _list(**{"metadata.run": "other"})["sandboxes"] == []
    T.check("metadata (1-3 keys), state, template filters AND together, creation order kept")


def test_owner_filter_for_the_admin(fleet):
    run, made, paused = fleet
    owner = _list(**{"metadata.run": run})["sandboxes"][0]["owner"]
    assert len(_list(**{"metadata.run": run, "owner": owner})["sandboxes"]) == N
    assert _list(**{"metadata.run": run, "owner": "somebody-else"})["sandboxes"] == []


def test_pages_cover_everything_once(fleet):
    run, made, paused = fleet
    for limit in (1, 2, 5, N, N + 1):
        seen, pages = _all_pages(**{"metadata.run": run, "limit": limit})
        assert [s["id"] for s in seen] == made, f"limit {limit}"
        assert pages == -(-N // limit), (limit, pages)
    T.check("limits 1, 2, 5, 12, 13: every sandbox once, in order")


def test_paging_while_sandboxes_come_and_go(fleet, sandboxes):
    run, made, paused = fleet
    q = {"metadata.run": run, "limit": 3}
    first = _list(**q)
    seen = [s["id"] for s in first["sandboxes"]]
    # Between pages: one already shown is deleted, one not shown yet is
    # deleted, and a new one is made (it may sort before the cursor, if
    # made in the same second: then it is not shown; never twice).
    gone_seen, gone_later = seen[1], made[7]
    T.delete(gone_seen)
    T.delete(gone_later)
    newer = sandboxes(timeout_s=600, metadata={"run": run, "team": "c", "i": "new"})["id"]
    q["next"] = first["next"]
    rest, _ = _all_pages(**q)
    seen += [s["id"] for s in rest]
    assert len(seen) == len(set(seen)), f"a sandbox was shown twice: {seen}"
    stayed = [sid for sid in made if sid not in (gone_seen, gone_later)]
    assert [sid for sid in seen if sid in stayed] == stayed, "one that stayed was skipped"
    assert gone_later not in seen
    # what the tests after this one see (the new one goes with this test)
    made.remove(gone_seen)
    made.remove(gone_later)
    T.check("a delete before and after the cursor and a create: no repeats, no skips")


@pytest.mark.parametrize("q,words", [
    ({"state": "sleeping"}, "state"),
    ({"template": "../etc"}, "template"),
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"next": "garbage"}, "next"),
    ({"next": "00"}, "next"),
    # Well-formed hex, not a token: "1.not-an-id".
    ({"next": "1.not-an-id".encode().hex()}, "next"),
    ({"owner": "bad name"}, "owner"),
    ({"sort": "id"}, "unknown query parameter"),
    ({"metadata.": "x"}, "metadata"),
])
def test_bad_parameters(template, q, words):
    st, err = T.api("GET", "/v1/sandboxes?" + urllib.parse.urlencode(q))
    assert st == 400 and words in err["error"], (st, err)


def test_a_forged_but_well_formed_token_only_moves_the_cursor(fleet):
    run, made, paused = fleet
    # A token names a place in the order; one made up names a place too,
    # and shows what comes after it: nothing it may not see.
    forged = f"0.{made[0]}".encode().hex()
    body = _list(**{"metadata.run": run, "next": forged})
    assert [s["id"] for s in body["sandboxes"]] == made


def test_sdk_list_follows_pages(fleet):
    run, made, paused = fleet
    d = T.current()
    got = thaw.Sandbox.list(metadata={"run": run}, limit=2, api_url=d.url, api_key=d.key)
    assert [s.id for s in got] == made
    got = thaw.Sandbox.list(metadata={"run": run, "team": "a"}, state="running",
                            template=T.TEMPLATE, api_url=d.url, api_key=d.key)
    want = [s["id"] for s in _list(**{"metadata.run": run, "metadata.team": "a",
                                      "state": "running"})["sandboxes"]]
    assert len(want) >= 3 and [s.id for s in got] == want, (got, want)
    with pytest.raises(thaw.InvalidRequest):
        thaw.Sandbox.list(state="sleeping", api_url=d.url, api_key=d.key)
    T.check("Sandbox.list: filters, pages followed, a bad filter raises InvalidRequest")
