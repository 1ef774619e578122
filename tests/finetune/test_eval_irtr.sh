#!/bin/bash
# Retrieval evaluation end to end on real data (issue 12): the MedPix-2.0 test split (199 images,
# m3ae prep --format jsonl), a tiny pretraining checkpoint made here (2 steps on phantom data), and
# `m3ae evaluate --task irtr` zero-shot through the ITM head's match row:
#  - the table, the zero-shot log line, the JSON keys; n_images = 199, n = 199 pairs, n_texts = the
#    distinct cleaned captions; every R@k in [0,1] and R@1 <= R@5 <= R@10;
#  - the recall recomputed here (numpy) from the score matrix (--scores) with the caption groups
#    derived from test.jsonl itself (an image hits every image... of its caption) equals the JSON;
#  - a checkpoint whose ITM match row is replaced by a known vector: the negated row gives exactly
#    the negated scores (so the row is what scores) and the recall of the reversed ranking; a zero
#    row and bias make every score equal, so every R@k is 0 (ties count against the query);
#  - a fine-tuned-style checkpoint with irtr_head = the negated row scores as that head (not zero-shot);
#  - --groups pair: one text per image-caption pair (n_texts = 199);
#  - case groups (issue 12): the split prepared again with --group-key case evaluates by case by
#    default ("groups": "case", n_groups = the cases of test.jsonl); its recall equals the one
#    recomputed here from its --scores with the hits of test.jsonl's case field (an image hits every
#    caption of any image of its case), which differs from the caption-group recall of the same
#    scores (32 cases have more than one caption); --groups caption on that folder is caption.
source "$(dirname "$0")/../pretrain/common.sh"
PY=/usr/bin/python3
IN="$DATA/medpix2/test.jsonl"
[ -f "$IN" ] || { echo "SKIPPED: $IN missing"; [ -n "${CI:-}" ] && exit 1; exit 77; }
$PY -c "import h5py, numpy" 2>/dev/null || { echo "SKIPPED: /usr/bin/python3 lacks h5py or numpy"; [ -n "${CI:-}" ] && exit 1; exit 77; }
W=$(mktemp -d /tmp/m3ae-irtr-XXXXXX); trap 'rm -rf "$W"' EXIT
"$M3AE" prep --format jsonl --input "$IN" --out "$W/test" --store-size 32 --min-words 1 --threads 1 --quiet \
  >"$W/prep.log" 2>&1 || { echo "FAIL: prep: $(cat "$W/prep.log")"; exit 1; }
"$M3AE" prep --format jsonl --input "$IN" --out "$W/case" --store-size 32 --min-words 1 --threads 1 --quiet \
  --group-key case >"$W/prep_case.log" 2>&1 || { echo "FAIL: prep --group-key case: $(cat "$W/prep_case.log")"; exit 1; }
phantom_data phantom64 64 11
pretrain "$W/pre" max_steps=2 ckpt_every=2 >"$W/pre.log" 2>&1 || { echo "FAIL: pretrain: $(tail -5 "$W/pre.log")"; exit 1; }
PRE=$W/pre/checkpoints/step_0000002.h5
$PY - "$PRE" "$W" "$SRC/tools" <<'PY' || { echo "FAIL: could not write the modified checkpoints"; exit 1; }
import h5py, shutil, sys
pre, w = sys.argv[1], sys.argv[2]
sys.path.insert(0, sys.argv[3])
import convert_checkpoint  # write_whole_file_block: edited in place, the file is sealed again
for name in ("neg", "zero", "ft"):
    shutil.copy(pre, f"{w}/{name}.h5")
    with h5py.File(f"{w}/{name}.h5", "r+") as f:
        W, B = f["model/itm_head.fc.weight"][()], f["model/itm_head.fc.bias"][()]
        if name == "ft":  # a fine-tuned head: irtr_head = minus the match row; the ITM head untouched
            f["model/irtr_head.weight"], f["model/irtr_head.bias"] = -W[1:2], -B[1:2]
            continue
        W[1], B[1] = (-W[1], -B[1]) if name == "neg" else (0 * W[1], 0 * B[1])
        f["model/itm_head.fc.weight"][...], f["model/itm_head.fc.bias"][...] = W, B
for name in ("neg", "zero", "ft"):
    convert_checkpoint.write_whole_file_block(f"{w}/{name}.h5")
PY
ev() { # NAME CHECKPOINT [args...]; EVDATA=DIR evaluates another folder than $W/test
  local n=$1 c=$2; shift 2
  ASAN_OPTIONS=detect_leaks=1 "$M3AE" evaluate --task irtr --checkpoint "$c" --data "${EVDATA:-$W/test}" --json "$W/$n.json" \
    --scores "$W/$n.f32" vocab="$VOCAB" per_gpu_batchsize=48 "$@" >"$W/$n.log" 2>&1 ||
    { echo "FAIL: evaluate $n: $(tail -5 "$W/$n.log")"; exit 1; }
}
ev pre "$PRE"
ev neg "$W/neg.h5"
ev zero "$W/zero.h5"
ev ft "$W/ft.h5" per_gpu_batchsize=7 # another batch: a partial last batch
ev pair "$PRE" --groups pair
EVDATA=$W/case ev case "$PRE"
EVDATA=$W/case ev case_caption "$PRE" --groups caption
check 'grep -q "^groups: case (" "$W/case.log"' "the folder with a group table was not evaluated by case: $(grep groups: "$W/case.log")"
check 'grep -q "^zero-shot retrieval: .* has no irtr_head; scoring with the ITM head.s match row" "$W/pre.log"' \
  "no zero-shot line in the log: $(head -5 "$W/pre.log")"
check 'grep -q "^fine-tuned retrieval: scoring with the irtr_head" "$W/ft.log"' "the irtr_head checkpoint was not scored by its head"
check 'grep -q "^image-to-text " "$W/pre.log" && grep -q "^text-to-image " "$W/pre.log"' "no table: $(cat "$W/pre.log")"
check 'grep -q "pairs/s, ETA" "$W/pre.log"' "no progress line (pairs/s, ETA)"
$PY - "$IN" "$W" <<'PY' || fail=1
import json, re, sys
import numpy as np
src, w = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(src, encoding="utf-8") if l.strip()]
caps = [re.sub(r"\s+", " ", r["caption"].strip()) for r in rows]
texts = list(dict.fromkeys(caps))  # distinct, first appearance
NI, NT = len(rows), len(texts)
hit = np.zeros((NI, NT), bool)
for i, c in enumerate(caps): hit[i, texts.index(c)] = True
bad = []
def recall(S, hit):
    out = []
    for q_scores, q_hit in ((S, hit), (S.T, hit.T)):
        best = np.where(q_hit, q_scores, -np.inf).max(1, keepdims=True)
        rank = ((q_scores >= best) & ~q_hit).sum(1)
        out += [float((rank < k).mean()) for k in (1, 5, 10)]
    return out
keys = ["i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10"]
S = {}
for n in ("pre", "neg", "zero", "ft", "pair"):
    j = json.load(open(f"{w}/{n}.json"))
    miss = [k for k in keys + ["n_images", "n_texts", "n"] if k not in j]
    if miss: bad.append(f"{n}: JSON lacks {miss}"); continue
    nt = NI if n == "pair" else NT
    if (j["n_images"], j["n_texts"], j["n"]) != (NI, nt, NI):
        bad.append(f"{n}: n_images/n_texts/n = {j['n_images']}/{j['n_texts']}/{j['n']}, expected {NI}/{nt}/{NI}")
        continue
    s = np.fromfile(f"{w}/{n}.f32", dtype="<f4")
    if s.size != NI * nt: bad.append(f"{n}: score matrix has {s.size} values, expected {NI}x{nt}"); continue
    S[n] = s.reshape(NI, nt)
    h = np.eye(NI, dtype=bool) if n == "pair" else hit
    ref = recall(S[n], h)
    got = [j[k] for k in keys]
    if any(abs(a - b) > 1e-5 for a, b in zip(ref, got)): bad.append(f"{n}: recall {got}, recomputed {ref}")
    if not all(0 <= v <= 1 for v in got) or not (got[0] <= got[1] <= got[2] and got[3] <= got[4] <= got[5]):
        bad.append(f"{n}: recall out of range or not monotone: {got}")
    if n in ("pre", "neg", "ft", "pair") and j["zero_shot"] != (n != "ft"): bad.append(f"{n}: zero_shot = {j['zero_shot']}")
    print(n, " ".join(f"{k}={j[k]:.4f}" for k in keys))
if len(S) == 5:
    if np.ptp(S["pre"]) <= 0: bad.append("the pretrained scores are all equal: the test cannot tell rankings apart")
    d = np.abs(S["neg"] + S["pre"]).max()
    if d > 1e-6 * (1 + np.abs(S["pre"]).max()): bad.append(f"negated match row: scores are not the negated ones (max diff {d:.3g})")
    if np.abs(S["ft"] - S["neg"]).max() > 1e-6: bad.append("irtr_head = negated row: scores differ from the negated-row checkpoint")
    if np.ptp(S["zero"]) != 0: bad.append(f"zero match row: scores not all equal (spread {np.ptp(S['zero'])})")
    z = json.load(open(f"{w}/zero.json"))
    if any(z[k] != 0 for k in keys): bad.append(f"zero match row: every R@k must be 0 (ties count against the query): {z}")
    # pair groups: the text of pair i is the caption of image i; equal captions give equal columns
    for i in range(NI):
        t = texts.index(caps[i])
        if np.abs(S["pair"][:, i] - S["pre"][:, t]).max() > 1e-6: bad.append(f"pair text {i} scores differ from caption text {t}"); break
# case groups: hit[i, t] when some image of i's case has caption t
cases = [r["case"] for r in rows]
hit_case = np.zeros((NI, NT), bool)
for i in range(NI):
    for j in range(NI):
        if cases[j] == cases[i]: hit_case[i, texts.index(caps[j])] = True
n_cases = len(set(cases))
multi = sum(len({caps[i] for i in range(NI) if cases[i] == c}) > 1 for c in set(cases))
if multi == 0: bad.append("no case has two captions: the case groups are not exercised")
for n, h, g, ng in (("case", hit_case, "case", n_cases), ("case_caption", hit, "caption", NT)):
    j = json.load(open(f"{w}/{n}.json"))
    if (j.get("groups"), j.get("n_groups"), j["n_images"], j["n_texts"], j["n"]) != (g, ng, NI, NT, NI):
        bad.append(f"{n}: groups/n_groups/n_images/n_texts/n = {j.get('groups')}/{j.get('n_groups')}/{j['n_images']}/"
                   f"{j['n_texts']}/{j['n']}, expected {g}/{ng}/{NI}/{NT}/{NI}")
        continue
    s = np.fromfile(f"{w}/{n}.f32", dtype="<f4").reshape(NI, NT)
    if n == "case" and "pre" in S and np.abs(s - S["pre"]).max() > 1e-6: bad.append("case: scores differ from the caption run")
    ref, got = recall(s, h), [j[k] for k in keys]
    if any(abs(a - b) > 1e-5 for a, b in zip(ref, got)): bad.append(f"{n}: recall {got}, recomputed {ref}")
    if n == "case":
        other = recall(s, hit)
        if other == ref: bad.append(f"case and caption groups give the same recall {ref}: the test cannot tell them apart")
        print(f"case ({n_cases} cases, {multi} with several captions):", " ".join(f"{k}={v:.4f}" for k, v in zip(keys, got)),
              "| caption groups on the same scores:", " ".join(f"{v:.4f}" for v in other))
for b in bad: print("FAIL:", b)
sys.exit(1 if bad else 0)
PY
[ $fail -eq 0 ] && echo "PASS: retrieval evaluation (zero-shot, fine-tuned head, groups) on the MedPix test split"
exit $fail
