#!/bin/bash
# Official fine-tuned checkpoints (issue 12, "Commands"): a state dict with the official names of a
# fine-tuned M3AE (the backbone of tools/reference/m3ae_ref.py at the tiny sizes with the RoBERTa
# vocabulary, no MLM/MIM/ITM heads, and the official vqa_head.{0,1,3}.* or cls_head.{0,1,3}.*:
# Linear, LayerNorm, GELU, Linear) saved as a Lightning .ckpt, converted with
# `tools/convert_checkpoint.py from-pt --keep-heads`, then `m3ae evaluate --task vqa|cls --json` and
# `m3ae predict --task vqa|cls` on datasets prepared from images whose pixels are known (32 x 32 grey
# PNGs written here: prep and the clip transform leave them as they are) and texts tokenized by
# `m3ae tokenize`. The PyTorch reference computes the logits of the same weights on the same inputs:
# every sample's predicted label and score (sigmoid for VQA, softmax for cls) must match m3ae
# predict's (score within 1e-4), and the evaluation's correct count and accuracy the reference's.
# Needs torch and h5py for python3 (tools/reference/requirements.txt): skipped without them.
source "$(dirname "$0")/../pretrain/common.sh"
py=python3
if ! $py -c "import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in ('torch', 'h5py', 'numpy')))"; then
  echo "SKIPPED: python3 lacks torch or h5py (pip install -r tools/reference/requirements.txt)"; exit 77
fi
W=$(mktemp -d /tmp/m3ae-official-heads-XXXXXX); trap 'rm -rf "$W"' EXIT
# 1. the raw datasets: 12 PNGs, a MELINDA release (3 classes) and a VQA-RAD release (3 answers)
$py - "$W" <<'PY' || { echo "FAIL: writing the inputs"; exit 1; }
import json, os, struct, sys, zlib
import numpy as np
w = sys.argv[1]
rng = np.random.default_rng(5)
def png(path, a):  # 8-bit grey, no filter
    raw = b"".join(b"\x00" + bytes(r) for r in a.astype(np.uint8))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", a.shape[1], a.shape[0], 8, 0, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
os.makedirs(f"{w}/mel/melinda_images"); os.makedirs(f"{w}/img")
classes, answers = ["Chest", "Abdomen", "Head"], ["yes", "no", "two"]
rows, qs = ["figure_file,caption,i_meth,p_meth,i_meth_label,p_meth_label"], []
for i in range(12):
    a = np.clip(rng.integers(0, 96, size=(32, 32)) + 13 * i, 0, 255)  # a brightness of its own
    png(f"{w}/mel/melinda_images/f{i}.png", a); png(f"{w}/img/f{i}.png", a)
    rows.append(f'f{i}.png,"Axial scan {i}, of the {classes[i % 3].lower()}.",ct,radiology,Radiology,{classes[i % 3]}')
    qs.append({"qid": i, "image_name": f"f{i}.png", "question": f"Is there a lesion in scan {i}?",
               "answer": answers[(i // 2) % 3], "answer_type": "CLOSED" if i % 2 else "OPEN", "phrase_type": "freeform"})
open(f"{w}/mel/train.csv", "w").write("\n".join(rows) + "\n")
json.dump(qs, open(f"{w}/vqa.json", "w"))
PY
"$M3AE" prep --format melinda --input "$W/mel" --store-size 32 --threads 1 --quiet --out "$W/cls" >"$W/prep.log" 2>&1 &&
"$M3AE" prep --format vqa-rad --input "$W/vqa.json" --images "$W/img" --store-size 32 --threads 1 --quiet --out "$W/vqa" \
  >>"$W/prep.log" 2>&1 || { echo "FAIL: prep: $(cat "$W/prep.log")"; exit 1; }
# the texts as the datasets hold them (targets.jsonl order = record order), tokenized by m3ae
for t in cls vqa; do
  /usr/bin/python3 - "$W" $t <<'PY' | "$M3AE" tokenize --vocab "$VOCAB" --max-len 16 >"$W/$t.ids" || { echo "FAIL: tokenize $t"; exit 1; }
import json, sys
w, t = sys.argv[1:3]
if t == "cls":
    import csv
    for r in csv.DictReader(open(f"{w}/mel/train.csv", newline="")): print(" ".join(r["caption"].split()))
else:
    for q in json.load(open(f"{w}/vqa.json")): print(" ".join(q["question"].split()))
PY
done
# 2. the official-name checkpoints, converted; the reference's predictions
$py - "$SRC" "$W" <<'PY' || { echo "FAIL: the reference or the converter"; exit 1; }
import json, os, sys, zlib
import numpy as np, torch
src, w = sys.argv[1:3]
sys.path.insert(0, os.path.join(src, "tools", "reference")); sys.path.insert(0, os.path.join(src, "tools"))
import m3ae_ref as R, make_model_fixtures as MF, make_vqa_fixture as V, convert_checkpoint as C
torch.set_num_threads(1)
cfg = dict(R.CONFIGS["tiny"], vocab_size=50265, drop_rate=0.0)
model = MF.build_model(cfg, 11)
def read_png(path):  # the 32 x 32 grey PNGs written above (filter 0)
    b = open(path, "rb").read()
    data, p = b"", 8
    while p < len(b):
        n = int.from_bytes(b[p:p + 4], "big"); t = b[p + 4:p + 8]
        if t == b"IDAT": data += b[p + 8:p + 8 + n]
        p += 12 + n
    raw = zlib.decompress(data)
    return np.frombuffer(raw, np.uint8).reshape(32, 33)[:, 1:].astype(np.float64)
mean, std = np.array(R.CLIP_MEAN)[:, None, None], np.array(R.CLIP_STD)[:, None, None]
for task, n_seed in (("cls", 29), ("vqa", 17)):
    man = json.load(open(f"{w}/{task}/manifest.json"))
    tg = [json.loads(l) for l in open(f"{w}/{task}/targets.jsonl")]
    n = len(man["labels"])
    head = V.classifier_head(2 * cfg["hidden_size"], n, n_seed)
    img_dir = f"{w}/mel/melinda_images" if task == "cls" else f"{w}/img"
    ids = np.array([[int(x) for x in l.split()] for l in open(f"{w}/{task}.ids")], dtype=np.int64)
    masks = (ids != R.PAD_ID).astype(np.int64)
    files = sorted(os.listdir(img_dir), key=lambda f: int(f[1:-4]))
    imgs = np.stack([(np.repeat(read_png(f"{img_dir}/{f}")[None] / 255.0, 3, 0) - mean) / std for f in files])
    with torch.no_grad():
        r = model.double().infer(torch.from_numpy(ids), torch.from_numpy(masks), torch.from_numpy(imgs))
        # The pooled features of a random tiny model differ little between samples: the last layer is
        # set to read their deviations from the mean (any weights do; these make the predictions
        # differ, so that they test something), before the checkpoint is written.
        g = head.double()[:3](r["cls_feats"])
        dev = (g - g.mean(0)) @ head[3].weight.T
        head[3].weight.div_(dev.std())
        head[3].bias.copy_(-(g.mean(0) @ head[3].weight.T))
        logits = head(r["cls_feats"]).numpy()
    sd = {k: v for k, v in model.state_dict().items() if not k.startswith(("mlm_head.", "mim_head.", "itm_head."))}
    sd.update({f"{task}_head.{k}": v.float() for k, v in head.state_dict().items()})
    sd = {k: v.float() for k, v in sd.items()}
    torch.save({"state_dict": sd, "epoch": 9, "global_step": 123, "pytorch-lightning_version": "1.3.2"}, f"{w}/{task}.ckpt")
    rc = C.main(["from-pt", f"{w}/{task}.ckpt", "--out", f"{w}/{task}.h5", "--keep-heads", "--config-from", "tiny"])
    assert rc == 0, f"convert {task}: rc {rc}"
    arg = logits.argmax(1)
    score = 1 / (1 + np.exp(-logits.max(1))) if task == "vqa" else 1 / np.exp(logits - logits.max(1, keepdims=True)).sum(1)
    lab = [t["label"] for t in tg]
    exp = {"labels": [man["labels"][a] for a in arg], "scores": score.tolist(), "correct": int(sum(a == y for a, y in zip(arg, lab))),
           "n": len(tg)}
    assert len(set(exp["labels"])) >= 2, f"{task}: the reference predicts one label only ({exp['labels']}): a weak test"
    json.dump(exp, open(f"{w}/{task}.expected.json", "w"))
    print(f"{task}: reference {exp['correct']}/{exp['n']} correct, predictions {exp['labels']}")
PY
# 3. m3ae on the converted checkpoints
for t in cls vqa; do
  key=$([ $t = cls ] && echo caption || echo question)
  /usr/bin/python3 - "$W" $t $key <<'PY' >"$W/$t.in.jsonl"
import csv, json, sys
w, t, key = sys.argv[1:4]
texts = ([r["caption"] for r in csv.DictReader(open(f"{w}/mel/train.csv", newline=""))] if t == "cls"
         else [q["question"] for q in json.load(open(f"{w}/vqa.json"))])
d = "mel/melinda_images" if t == "cls" else "img"
for i, x in enumerate(texts): print(json.dumps({"image": f"{w}/{d}/f{i}.png", key: x}))
PY
  ASAN_OPTIONS=detect_leaks=1 "$M3AE" evaluate --task $t --checkpoint "$W/$t.h5" --data "$W/$t" --json "$W/$t.eval.json" \
    vocab="$VOCAB" per_gpu_batchsize=5 >"$W/$t.eval.log" 2>&1 || { echo "FAIL: evaluate $t: $(cat "$W/$t.eval.log")"; fail=1; }
  ASAN_OPTIONS=detect_leaks=1 "$M3AE" predict --task $t --checkpoint "$W/$t.h5" --labels "$W/$t" --input "$W/$t.in.jsonl" \
    --out "$W/$t.out.jsonl" vocab="$VOCAB" >"$W/$t.pred.log" 2>&1 || { echo "FAIL: predict $t: $(cat "$W/$t.pred.log")"; fail=1; }
done
[ $fail -eq 0 ] || exit 1
/usr/bin/python3 - "$W" <<'PY' || fail=1
import json, sys
w = sys.argv[1]
errs = []
for t, key, acc in (("cls", "label", "accuracy"), ("vqa", "answer", "overall")):
    exp = json.load(open(f"{w}/{t}.expected.json"))
    ev = json.load(open(f"{w}/{t}.eval.json"))
    out = [json.loads(l) for l in open(f"{w}/{t}.out.jsonl")]
    if [o[key] for o in out] != exp["labels"]: errs.append(f"{t}: predict {[o[key] for o in out]} vs reference {exp['labels']}")
    worst = max(abs(o["score"] - s) for o, s in zip(out, exp["scores"]))
    if worst > 1e-4: errs.append(f"{t}: scores differ from the reference by {worst:.2e}")
    if ev["n"] != exp["n"] or ev["correct"] != exp["correct"] or abs(ev[acc] - exp["correct"] / exp["n"]) > 1e-6:
        errs.append(f"{t}: evaluate {ev} vs reference {exp['correct']}/{exp['n']}")
    print(f"{t}: {len(out)} predictions as the reference (scores within {worst:.1e}), evaluate {ev[acc]:.4f} = {exp['correct']}/{exp['n']}")
for e in errs: print("FAIL:", e)
sys.exit(1 if errs else 0)
PY
[ $fail -eq 0 ] && echo "official fine-tuned checkpoint test passed"
exit $fail
