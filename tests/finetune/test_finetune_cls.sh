#!/bin/bash
# Classification fine-tuning end to end (MELINDA layout, issue 12): a format-true synthetic MELINDA
# release of phantom scans whose class (p_meth_label = the body region) the caption states
# (make_melinda.py), converted with m3ae prep --format melinda, a tiny pretraining checkpoint at
# 32 px, then `m3ae finetune --task cls` at 48 px for 80 steps (position embeddings resized, the cls
# head fresh, clip_resizedcrop, head lr x 10 as spec 3.4):
#  - the run trains: finite metrics, the training loss falls (mean of the last 10 steps below 0.8 x
#    the first 10), validation lines with cls_acc;
#  - `m3ae evaluate --task cls --json` on the training split: the keys, n and the per-class counts
#    equal the CSV's, accuracy well above chance (1/3); on the held-out split the accuracy equals the
#    run's validation accuracy at its last step (val_batches = 2: the whole split of 16 once, same
#    model), and another
#    evaluation batch gives the same numbers;
#  - `m3ae predict --task cls` from the image files and captions: as many right as evaluate counts;
#  - evaluate refuses a checkpoint without a cls head, and finetune a dataset that is not cls.
source "$(dirname "$0")/../pretrain/common.sh"
source "$(dirname "$0")/melinda_data.sh"
PY=/usr/bin/python3
[ -x $PY ] || { echo "SKIPPED: no /usr/bin/python3"; exit 77; }
W=$(mktemp -d /tmp/m3ae-finetune-cls-XXXXXX); trap 'rm -rf "$W"' EXIT
melinda_data "$W" 21
phantom_data phantom64 64 11
pretrain "$W/pre" max_steps=2 ckpt_every=2 >"$W/pre.log" 2>&1 || { echo "FAIL: pretrain: $(tail -5 "$W/pre.log")"; exit 1; }
PRE=$W/pre/checkpoints/step_0000002.h5
"$M3AE" finetune --task cls --config "$TINY_CFG" --init-from "$PRE" --data "$W/train" --val-data "$W/held" \
  --out "$W/a" vocab="$VOCAB" image_size=48 random_crop=1 max_steps=80 warmup_steps=8 learning_rate=3e-3 \
  lr_mult_head=10 ckpt_every=40 val_every=40 val_batches=2 per_gpu_batchsize=8 batch_size=8 >"$W/a.log" 2>&1 ||
  { echo "FAIL: finetune: $(tail -20 "$W/a.log")"; exit 1; }
check 'grep -q "resized vision_encoder.visual.positional_embedding from a 4x4 to a 6x6 patch grid" "$W/a.log"' \
  "no position-embedding resize in the log"
check 'grep -q "6 tensor(s) fresh (cls_head.0.weight" "$W/a.log"' "the cls head was not fresh: $(grep fresh "$W/a.log")"
check 'grep -q "validation at step 80: cls_acc" "$W/a.log"' "no validation line at step 30"
check '! grep -qiw "nan\|inf" "$W/a/metrics.jsonl"' "non-finite metrics"
A=$W/a/checkpoints/step_0000080.h5
ev() { ASAN_OPTIONS=detect_leaks=1 "$M3AE" evaluate --task cls --checkpoint "$A" vocab="$VOCAB" "$@"; }
ev --data "$W/train" --json "$W/et.json" per_gpu_batchsize=8 >"$W/et.log" 2>&1 || { echo "FAIL: evaluate: $(cat "$W/et.log")"; exit 1; }
ev --data "$W/held" --json "$W/e1.json" per_gpu_batchsize=8 >"$W/e1.log" 2>&1 || { echo "FAIL: evaluate: $(cat "$W/e1.log")"; exit 1; }
ev --data "$W/held" --json "$W/e2.json" per_gpu_batchsize=5 >"$W/e2.log" 2>&1 || { echo "FAIL: evaluate (batch 5): $(cat "$W/e2.log")"; exit 1; }
check 'grep -q "^all " "$W/et.log" && grep -q "^Chest " "$W/et.log"' "evaluate table: $(cat "$W/et.log")"
$PY - "$W" <<'PY' || fail=1
import json, sys
w = sys.argv[1]
counts = json.load(open(f"{w}/counts.json"))
et, e1, e2 = (json.load(open(f"{w}/{k}.json")) for k in ("et", "e1", "e2"))
errs = []
for k in ("accuracy", "n", "correct", "per_class"):
    if k not in et: errs.append(f"JSON lacks {k}")
if not errs:
    if et["n"] != 40: errs.append(f"train n {et['n']} != 40")
    if {k: v["n"] for k, v in et["per_class"].items()} != counts["train"]:
        errs.append(f"per-class counts {et['per_class']} != CSV {counts['train']}")
    if sum(v["correct"] for v in et["per_class"].values()) != et["correct"]: errs.append("per-class correct do not add up")
    if et["accuracy"] < 0.6: errs.append(f"training accuracy {et['accuracy']} is not well above chance (1/3)")
    if e1["n"] != 16: errs.append(f"held-out n {e1['n']} != 16")
    if e1 != e2: errs.append(f"another evaluation batch changes the result: {e1} vs {e2}")
m = [json.loads(l) for l in open(f"{w}/a/metrics.jsonl")]
tr = [x["cls_loss"] for x in m if "cls_loss" in x]
if len(tr) < 80: errs.append(f"{len(tr)} training lines with cls_loss")
elif not sum(tr[-10:]) < 0.8 * sum(tr[:10]): errs.append(f"the loss did not fall: first {tr[:10]}, last {tr[-10:]}")
val = [x for x in m if "val_cls_acc" in x]
if not val or abs(val[-1]["val_cls_acc"] - e1.get("accuracy", -1)) > 1e-6:
    errs.append(f"validation accuracy at the last step {val[-1] if val else None} != evaluate {e1.get('accuracy')}")
for e in errs: print("FAIL:", e)
print(f"cls: loss {tr[0]:.3f} -> {tr[-1]:.3f}; train accuracy {et.get('accuracy')}, held-out {e1.get('accuracy')}")
sys.exit(1 if errs else 0)
PY
# m3ae predict --task cls on the held-out figures from the image files and CSV captions
$PY - "$W/mel" "$W/q.jsonl" <<'PY'
import csv, json, sys
with open(sys.argv[2], "w") as f:
    for r in csv.DictReader(open(f"{sys.argv[1]}/dev.csv", newline="")):
        f.write(json.dumps({"image": f"{sys.argv[1]}/melinda_images/{r['figure_file']}", "caption": r["caption"],
                            "truth": r["p_meth_label"]}) + "\n")
PY
ASAN_OPTIONS=detect_leaks=1 "$M3AE" predict --task cls --checkpoint "$A" --labels "$W/train" --input "$W/q.jsonl" \
  --out "$W/p.jsonl" vocab="$VOCAB" >"$W/p.log" 2>&1 || { echo "FAIL: predict: $(cat "$W/p.log")"; fail=1; }
$PY - "$W" <<'PY' || fail=1
import json, sys
w = sys.argv[1]
p = [json.loads(l) for l in open(f"{w}/p.jsonl")]
q = [json.loads(l) for l in open(f"{w}/q.jsonl")]
e1 = json.load(open(f"{w}/e1.json"))
right = sum(x["label"] == y["truth"] for x, y in zip(p, q))
errs = []
if len(p) != len(q): errs.append(f"{len(p)} predictions for {len(q)} inputs")
if any(not 0 < x["score"] <= 1 for x in p): errs.append("a score outside (0, 1]")
if right != e1["correct"]: errs.append(f"predict gets {right} right, evaluate {e1['correct']}")
for e in errs: print("FAIL: predict:", e)
sys.exit(1 if errs else 0)
PY
"$M3AE" evaluate --task cls --checkpoint "$PRE" --data "$W/held" vocab="$VOCAB" >"$W/e3.log" 2>&1; rc=$?
check '[ $rc -ne 0 ] && grep -q "has no classification head" "$W/e3.log"' "evaluate accepted a checkpoint without a cls head: $(cat "$W/e3.log")"
"$M3AE" finetune --task cls --data "$CACHE/phantom64" --out "$W/c" vocab="$VOCAB" >"$W/c.log" 2>&1; rc=$?
check '[ $rc -ne 0 ] && grep -q "is not a classification dataset" "$W/c.log"' "finetune accepted pretraining data: $(tail -2 "$W/c.log")"
[ $fail -eq 0 ] && echo "classification fine-tuning test passed"
exit $fail
