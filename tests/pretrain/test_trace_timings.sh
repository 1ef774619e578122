#!/bin/bash
# The training log's timings and the run's timeline. 2 ranks with validation, trace = trace.json and
# straggler_every = 2: every train line of the log and of metrics.jsonl has compute, exposed
# communication and data wait in ms (comm > 0 on 2 ranks, 0 on 1 rank); a straggler line every 2
# steps (min <= median <= max, a slowest rank that exists); trace.json is one valid Chrome
# trace-event file (traceEvents, displayTimeUnit; complete events with name, cat, ph, ts, dur, pid,
# tid; process_name metadata "rank N" for each rank) with events for loader wait, each pass's
# forward and backward, the all-reduce, optimizer, validation and checkpoint on every rank.
source "$(dirname "$0")/common.sh"
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-trace-XXXXXX); trap 'rm -rf "$W"' EXIT
"${MPIRUN[@]}" -np 2 "$M3AE" pretrain --config "$TINY_CFG" --data "$CACHE/phantom64" --val-data "$CACHE/phantom64" \
  --out "$W/r2" vocab="$VOCAB" max_steps=6 ckpt_every=3 per_gpu_batchsize=4 val_every=3 val_batches=1 \
  straggler_every=2 trace=trace.json >"$W/r2.log" 2>&1 || { echo "FAIL: 2 ranks"; tail -20 "$W/r2.log"; exit 1; }
pretrain "$W/r1" max_steps=2 trace="$W/abs-trace.json" straggler_every=1 >"$W/r1.log" 2>&1 ||
  { echo "FAIL: 1 rank"; tail -20 "$W/r1.log"; exit 1; }
check 'grep -qE "^step .* comp_ms comm_ms data_ms +ETA$" "$W/r2.log"' "the log header has no timing columns"
check '[ $(grep -cE "^straggler at step [246] \(last 2 steps, 2 ranks\): busy min [0-9.]+ / median [0-9.]+ / max [0-9.]+ ms per step, slowest rank [01] " "$W/r2.log") -eq 3 ]' \
  "no straggler line every 2 steps: $(grep straggler "$W/r2.log")"
check '! grep -q "^straggler" "$W/r1.log"' "1 rank prints straggler lines"
check 'grep -q "timeline of the run in $W/r2/trace.json" "$W/r2.log"' "the log does not say where the timeline is"
/usr/bin/python3 - "$W" <<'PY' || fail=1
import json, sys
w = sys.argv[1]
def lines(run, split):
    return [m for m in map(json.loads, open(f"{w}/{run}/metrics.jsonl")) if m["split"] == split]
for run, comm in (("r2", True), ("r1", False)):
    train = lines(run, "train")
    assert train, f"{run}: no train lines"
    for m in train:
        for k in ("compute_ms", "comm_ms", "data_ms", "step_ms"):
            assert k in m and m[k] >= 0, f"{run} step {m['step']}: {k} missing or negative: {m}"
        assert m["compute_ms"] > 0, f"{run} step {m['step']}: compute_ms = 0"
        assert (m["comm_ms"] > 0) == comm, f"{run} step {m['step']}: comm_ms = {m['comm_ms']} with {run[1]} rank(s)"
        assert m["compute_ms"] + m["comm_ms"] + m["data_ms"] <= m["step_ms"] * 1.05 + 1, f"{run}: parts exceed the step: {m}"
strag = lines("r2", "straggler")
assert [s["step"] for s in strag] == [2, 4, 6], f"straggler steps {[s['step'] for s in strag]}"
for s in strag:
    assert s["ranks"] == 2 and 0 <= s["slowest_rank"] < 2 and 0 < s["min_ms"] <= s["median_ms"] <= s["max_ms"], s
assert not lines("r1", "straggler"), "1 rank wrote straggler lines"

for path, ranks, want in ((f"{w}/r2/trace.json", 2, {"loader wait", "forward MLM", "backward MLM", "forward MIM",
                           "backward MIM", "forward ITM", "backward ITM", "allreduce", "optimizer", "validation",
                           "checkpoint"}),
                          (f"{w}/abs-trace.json", 1, {"loader wait", "forward MLM", "backward ITM", "optimizer",
                           "checkpoint"})):
    d = json.load(open(path))  # one valid JSON document
    assert d.get("displayTimeUnit") in ("ms", "ns"), f"{path}: displayTimeUnit {d.get('displayTimeUnit')}"
    ev = d["traceEvents"]
    assert isinstance(ev, list) and ev, f"{path}: no traceEvents"
    names = {}
    for e in ev:
        assert e["ph"] in ("X", "M"), f"{path}: phase {e['ph']}"
        for k in ("name", "ph", "pid", "tid"):
            assert k in e, f"{path}: event without {k}: {e}"
        if e["ph"] == "M":
            if e["name"] == "process_name":
                names[e["pid"]] = e["args"]["name"]
            continue
        for k in ("cat", "ts", "dur"):
            assert k in e, f"{path}: complete event without {k}: {e}"
        assert isinstance(e["ts"], (int, float)) and isinstance(e["dur"], (int, float)) and e["dur"] >= 0, e
        assert 0 <= e["pid"] < ranks, f"{path}: pid {e['pid']} with {ranks} ranks"
    assert names == {r: f"rank {r}" for r in range(ranks)}, f"{path}: process names {names}"
    for r in range(ranks):
        # the bucketed all-reduce names one event per bucket: "allreduce bucket K"
        got = {"allreduce" if e["name"].startswith("allreduce bucket ") else e["name"]
               for e in ev if e["ph"] == "X" and e["pid"] == r}
        assert want <= got, f"{path}: rank {r} lacks {sorted(want - got)} (has {sorted(got)})"
        if ranks > 1:
            ar = [e for e in ev if e["ph"] == "X" and e["pid"] == r and e["name"].startswith("allreduce")]
            per_step = {}
            for e in ar:
                per_step.setdefault(e["args"]["step"], set()).add(e["name"])
            assert sorted(per_step) == list(range(1, 7)) and len({frozenset(v) for v in per_step.values()}) == 1, \
                f"rank {r}: all-reduce events per step {per_step}"
        # a pass's forward ends before its backward begins (microseconds, rounded to 1 ns)
        xs = sorted((e for e in ev if e["ph"] == "X" and e["pid"] == r and e["tid"] == 1), key=lambda e: e["ts"])
        for a, b in zip(xs, xs[1:]):
            assert a["ts"] + a["dur"] <= b["ts"] + 0.002 or b["name"] in ("checkpoint", "validation") or \
                a["name"] in ("checkpoint", "validation"), f"{path}: rank {r}: {a} overlaps {b}"
    print(f"{path}: {len(ev)} events, {ranks} rank(s)")
PY
[ $fail -eq 0 ] && echo "timings and trace test passed"
exit $fail
