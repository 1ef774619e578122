#!/bin/bash
# VQA fine-tuning end to end on real data: 24 VQA-RAD images (their questions from trainset.json)
# prepared with m3ae prep and split by image (--holdout), a tiny pretraining checkpoint at 32 px,
# then `m3ae finetune --task vqa` at 48 px (the vision position embeddings resized, the VQA head
# fresh, clip_resizedcrop, dropout on):
#  - the run trains (finite losses, validation lines) and writes checkpoints with the vqa_head;
#  - exact resume: 4 steps in one go and 2 + stop + 2 give bitwise-identical weights and moments;
#  - `m3ae evaluate --task vqa --json`: the fields, n = the held-out questions, overall = the
#    count-weighted mean of open and closed, unseen answers never correct, the same numbers with
#    another evaluation batch (a partial last batch), and the validation accuracy of the run's last
#    step (the whole held-out split, same model) equal to the evaluation's overall;
#  - `m3ae predict` from the original image files gives the answers the evaluation scores;
#  - evaluate refuses a checkpoint without a VQA head, and finetune a dataset that is not VQA.
source "$(dirname "$0")/../pretrain/common.sh"
PY=/usr/bin/python3
IN="$DATA/vqa_rad/trainset.json"
[ -f "$IN" ] || { echo "SKIPPED: $IN missing"; [ -n "${CI:-}" ] && exit 1; exit 77; }
[ -x $PY ] || { echo "SKIPPED: no /usr/bin/python3"; exit 77; }
W=$(mktemp -d /tmp/m3ae-finetune-XXXXXX); trap 'rm -rf "$W"' EXIT
$PY - "$IN" "$W/trainset.json" <<'PY'
import json, sys
qs = json.load(open(sys.argv[1], encoding="utf-8"))
imgs = []
for q in qs:
    if q["image_name"] not in imgs: imgs.append(q["image_name"])
keep = set(imgs[:24])
json.dump([q for q in qs if q["image_name"] in keep], open(sys.argv[2], "w"))
PY
P=(--images "$DATA/vqa_rad/images" --store-size 64 --threads 1 --quiet --holdout 0.25)
"$M3AE" prep --format vqa-rad --input "$W/trainset.json" --out "$W/train" "${P[@]}" >"$W/prep.log" 2>&1 &&
"$M3AE" prep --format vqa-rad --input "$W/trainset.json" --out "$W/held" "${P[@]}" --split heldout \
    --answer-vocab "$W/train" >>"$W/prep.log" 2>&1 || { echo "FAIL: prep: $(cat "$W/prep.log")"; exit 1; }
phantom_data phantom64 64 11
pretrain "$W/pre" max_steps=2 ckpt_every=2 >"$W/pre.log" 2>&1 || { echo "FAIL: pretrain: $(tail -5 "$W/pre.log")"; exit 1; }
PRE=$W/pre/checkpoints/step_0000002.h5
ft() { # RUN_DIR [key=value ...]
  local run=$1; shift
  "$M3AE" finetune --task vqa --config "$TINY_CFG" --init-from "$PRE" --data "$W/train" --val-data "$W/held" \
    --out "$run" vocab="$VOCAB" image_size=48 random_crop=1 max_steps=4 warmup_steps=1 ckpt_every=2 val_every=2 \
    val_batches=1000 per_gpu_batchsize=4 batch_size=8 "$@"
}
ft "$W/a" >"$W/a.log" 2>&1 || { echo "FAIL: finetune a: $(tail -20 "$W/a.log")"; exit 1; }
check 'grep -q "resized vision_encoder.visual.positional_embedding from a 4x4 to a 6x6 patch grid" "$W/a.log"' \
  "no position-embedding resize in the log: $(grep -i resiz "$W/a.log")"
check 'grep -q "6 tensor(s) fresh (vqa_head.0.weight" "$W/a.log"' "the VQA head was not fresh: $(grep fresh "$W/a.log")"
check 'grep -q "validation at step 4: vqa_acc" "$W/a.log"' "no validation line at step 4"
check '! grep -qiw "nan\|inf" "$W/a/metrics.jsonl"' "non-finite metrics"
check '[ "$(grep -c "\"vqa_loss\"" "$W/a/metrics.jsonl")" -ge 4 ]' "metrics.jsonl lacks vqa_loss lines"
# the start itself: with learning_rate 0 the step-1 weights are the loaded ones; the positional
# embedding must be torch's F.interpolate(bicubic, align_corners=False) of the pretrained grid, CLS row kept
ft "$W/z" learning_rate=0 max_steps=1 val_every=0 >"$W/z.log" 2>&1 || { echo "FAIL: finetune z: $(tail -5 "$W/z.log")"; exit 1; }
if python3 -c "import torch, h5py" 2>/dev/null; then
  python3 - "$PRE" "$W/z/checkpoints/step_0000001.h5" <<'PY' || fail=1
import sys, h5py, torch, torch.nn.functional as F
k = "model/vision_encoder.visual.positional_embedding"
a = torch.tensor(h5py.File(sys.argv[1], "r")[k][()], dtype=torch.float64)
b = torch.tensor(h5py.File(sys.argv[2], "r")[k][()], dtype=torch.float64)
gi, go, W = 4, 6, a.shape[-1]
grid = a[1:].reshape(gi, gi, W).permute(2, 0, 1)[None]
ref = torch.cat([a[:1], F.interpolate(grid, size=(go, go), mode="bicubic", align_corners=False)[0].permute(1, 2, 0).reshape(go * go, W)])
err = ((b - ref).abs().max() / ref.abs().max()).item()
t = "model/language_encoder.encoder.layer.0.attention.self.query.weight"
same = bool((torch.tensor(h5py.File(sys.argv[1], "r")[t][()]) == torch.tensor(h5py.File(sys.argv[2], "r")[t][()])).all())
print(f"resized positional embedding vs torch bicubic: rel err {err:.2e}; backbone tensors copied: {same}")
sys.exit(0 if err < 1e-6 and same else 1)
PY
elif [ -n "${CI:-}" ]; then echo "FAIL: python3 with torch and h5py missing"; fail=1; fi
ft "$W/b" stop_after=2 >"$W/b1.log" 2>&1 || { echo "FAIL: finetune b part 1: $(tail -20 "$W/b1.log")"; exit 1; }
check '[ ! -e "$W/b/checkpoints/step_0000004.h5" ]' "run b went past its stop"
ft "$W/b" >"$W/b2.log" 2>&1 || { echo "FAIL: finetune b part 2: $(tail -20 "$W/b2.log")"; exit 1; }
check 'grep -q "resuming .* step 2" "$W/b2.log"' "run b did not resume from step 2"
A=$W/a/checkpoints/step_0000004.h5 B=$W/b/checkpoints/step_0000004.h5
for g in /model /optimizer/exp_avg /optimizer/exp_avg_sq; do
  out=$(h5diff "$A" "$B" "$g" "$g" 2>&1); rc=$?
  check '[ $rc -eq 0 ]' "resumed fine-tuning differs from the straight run in $g: $(head -5 <<<"$out")"
done
ev() { ASAN_OPTIONS=detect_leaks=1 "$M3AE" evaluate --task vqa --checkpoint "$A" --data "$W/held" vocab="$VOCAB" "$@"; }
ev --json "$W/e1.json" per_gpu_batchsize=8 >"$W/e1.log" 2>&1 || { echo "FAIL: evaluate: $(cat "$W/e1.log")"; exit 1; }
ev --json "$W/e2.json" per_gpu_batchsize=3 >"$W/e2.log" 2>&1 || { echo "FAIL: evaluate (batch 3): $(cat "$W/e2.log")"; exit 1; }
check 'grep -q "^overall " "$W/e1.log" && grep -q "^open " "$W/e1.log" && grep -q "^closed " "$W/e1.log"' \
  "evaluate table: $(cat "$W/e1.log")"
$PY - "$W" <<'PY' || fail=1
import json, sys
w = sys.argv[1]
e1, e2 = (json.load(open(f"{w}/{k}.json")) for k in ("e1", "e2"))
man = json.load(open(f"{w}/held/manifest.json"))
tg = [json.loads(l) for l in open(f"{w}/held/targets.jsonl")]
errs = []
for k in ("overall", "open", "closed", "n"):
    if k not in e1: errs.append(f"JSON lacks {k}")
if not errs:
    n_open = sum(t["answer_type"] == "open" for t in tg)
    if e1["n"] != man["questions"] or e1["n"] != len(tg): errs.append(f"n {e1['n']} != {man['questions']} questions")
    if (e1["n_open"], e1["n_closed"]) != (n_open, len(tg) - n_open): errs.append("open/closed counts")
    mix = (e1["open"] * e1["n_open"] + e1["closed"] * e1["n_closed"]) / e1["n"]
    if abs(mix - e1["overall"]) > 1e-5: errs.append(f"overall {e1['overall']} != weighted {mix}")
    unseen = sum(t["label"] < 0 for t in tg)
    if unseen != man["unseen"] or unseen == 0: errs.append(f"unseen {unseen} (manifest {man['unseen']}): the test needs some")
    if e1["correct"] > e1["n"] - unseen: errs.append("an unseen answer was counted correct")
    if e1 != e2: errs.append(f"another evaluation batch changes the result: {e1} vs {e2}")
last = [json.loads(l) for l in open(f"{w}/a/metrics.jsonl") if '"val_vqa_acc"' in l]
if not last or abs(last[-1]["val_vqa_acc"] - e1.get("overall", -1)) > 1e-6:
    errs.append(f"validation accuracy at the last step {last[-1] if last else None} != evaluate overall {e1.get('overall')}")
for e in errs: print("FAIL:", e)
print("evaluate:", e1)
sys.exit(1 if errs else 0)
PY
# m3ae predict on the held-out questions from the original images: the same answers as the
# evaluation scores (decode, shorter side to store_size, clip, as prep + evaluate), vocabulary
# answers, scores in (0, 1)
$PY - "$IN" "$W/held/targets.jsonl" "$DATA/vqa_rad/images" "$W/q.jsonl" <<'PY'
import json, sys
qs = {str(q["qid"]): q for q in json.load(open(sys.argv[1], encoding="utf-8"))}
with open(sys.argv[4], "w") as f:
    for l in open(sys.argv[2]):
        q = qs[json.loads(l)["qid"]]
        f.write(json.dumps({"image": f"{sys.argv[3]}/{q['image_name']}", "question": q["question"]}) + "\n")
PY
ASAN_OPTIONS=detect_leaks=1 "$M3AE" predict --checkpoint "$A" --labels "$W/train" --input "$W/q.jsonl" --out "$W/a.jsonl" vocab="$VOCAB" \
  >"$W/p.log" 2>&1 || { echo "FAIL: predict: $(cat "$W/p.log")"; fail=1; }
$PY - "$W" <<'PY' || fail=1
import json, sys
w = sys.argv[1]
a = [json.loads(l) for l in open(f"{w}/a.jsonl")]
tg = [json.loads(l) for l in open(f"{w}/held/targets.jsonl")]
labels = json.load(open(f"{w}/train/manifest.json"))["labels"]
e1 = json.load(open(f"{w}/e1.json"))
correct = sum(x["answer"] == t["label_name"] and t["label"] >= 0 for x, t in zip(a, tg))
errs = []
if len(a) != len(tg): errs.append(f"{len(a)} answers for {len(tg)} questions")
if any(x["answer"] not in labels or not 0 < x["score"] < 1 for x in a): errs.append("an answer outside the vocabulary or a bad score")
if correct != e1["correct"]: errs.append(f"predict gets {correct} right, evaluate {e1['correct']}")
for e in errs: print("FAIL: predict:", e)
print(f"predict: {len(a)} answers, {correct} correct (evaluate {e1['correct']})")
sys.exit(1 if errs else 0)
PY
ev --checkpoint "$PRE" >"$W/e3.log" 2>&1; rc=$?
check '[ $rc -ne 0 ] && grep -q "has no VQA head" "$W/e3.log"' "evaluate accepted a checkpoint without a VQA head: $(cat "$W/e3.log")"
"$M3AE" finetune --task vqa --data "$CACHE/phantom64" --out "$W/c" vocab="$VOCAB" >"$W/c.log" 2>&1; rc=$?
check '[ $rc -ne 0 ] && grep -q "is not a VQA dataset" "$W/c.log"' "finetune accepted pretraining data: $(tail -2 "$W/c.log")"
[ $fail -eq 0 ] && echo "VQA fine-tuning test passed"
exit $fail
