#!/bin/bash
# m3ae prep --format vqa-rad on the real VQA-RAD training file (1,797 questions, 313 images): a 20 %
# hold-out by image (train and heldout share no image, together they hold every question), the
# label vocabulary from the training part (checked against the Python reference's vocabulary built
# the official way), the held-out part labelled with the training vocabulary (--answer-vocab DIR,
# unseen answers -> label -1, counted), answer types, --answer-vocab all with its official check,
# and `m3ae prep inspect` showing the downstream fields.
set -u
M3AE=${M3AE_BIN:?}
DATA=${M3AE_DATA:-../shared/data}
SRC=${M3AE_SOURCE_DIR:?}
PY=/usr/bin/python3
IN="$DATA/vqa_rad/trainset.json"
[ -f "$IN" ] || { echo "SKIPPED: $IN missing"; [ -n "${CI:-}" ] && exit 1; exit 77; }
[ -x $PY ] || { echo "SKIPPED: no /usr/bin/python3"; exit 77; }
T=$(mktemp -d /tmp/m3ae_test_vqa_rad_XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
P="--store-size 32 --threads 2 --quiet --holdout 0.2"

$M3AE prep --format vqa-rad --input "$IN" --out "$T/train" $P > "$T/train.log" 2>&1 \
    && ok "train: $(head -1 "$T/train.log")" || bad "prep train: $(cat "$T/train.log")"
$M3AE prep --format vqa-rad --input "$IN" --out "$T/held" $P --split heldout --answer-vocab "$T/train" \
    > "$T/held.log" 2>&1 && ok "heldout: $(head -1 "$T/held.log")" || bad "prep heldout: $(cat "$T/held.log")"
$M3AE prep --format vqa-rad --input "$IN" --out "$T/all" $P --split heldout --answer-vocab all \
    > "$T/all.log" 2>&1 && ok "answer-vocab all" || bad "prep --answer-vocab all: $(cat "$T/all.log")"
grep -q "official setup: it includes the test answers" "$T/all.log" && ok "log says the vocabulary includes test answers" \
    || bad "the --answer-vocab all log does not say so: $(cat "$T/all.log")"
grep -q "official VQA-RAD (MEVF split): 498 labels, train 3064, test 451; here: .* differs" "$T/all.log" \
    && ok "official check: $(grep "official VQA" "$T/all.log")" || bad "official check line missing: $(cat "$T/all.log")"

$PY - "$T" "$IN" "$SRC/tools/reference" <<'PYEOF' || bad "dataset checks (above)"
import json, sys
t, src, ref = sys.argv[1:4]
sys.path.insert(0, ref)
from normalize_word import normalize_answer
qs = json.load(open(src, encoding="utf-8"))
m = {k: json.load(open(f"{t}/{k}/manifest.json")) for k in ("train", "held", "all")}
tg = {k: [json.loads(l) for l in open(f"{t}/{k}/targets.jsonl")] for k in ("train", "held")}
errs = []
def check(c, msg):
    if not c: errs.append(msg)
tr, he = m["train"], m["held"]
check(tr["task"] == "vqa" and tr["split"] == "train" and he["split"] == "heldout", "task/split fields")
check(tr["questions"] == len(tg["train"]) == tr["samples"] and he["questions"] == len(tg["held"]), "question counts")
check(tr["questions"] + he["questions"] == 1797, f"train {tr['questions']} + heldout {he['questions']} != 1797")
img_tr = {x["image"] for x in tg["train"]}; img_he = {x["image"] for x in tg["held"]}
check(not (img_tr & img_he), f"{len(img_tr & img_he)} images in both parts")
check(len(img_tr | img_he) == len({q["image_name"] for q in qs}) == 313, "images lost")
check(tr["images"] == len(img_tr) and he["images"] == len(img_he), "distinct image counts")
check(abs(len(img_he) - round(0.2 * 313)) == 0, f"held-out images {len(img_he)}, expected 63")
check(tr["splits"]["train"]["questions"] == tr["questions"] and tr["splits"]["heldout"]["questions"] == he["questions"],
      "counts per split")
# the vocabulary: normalised training answers in first-appearance order (the official rule)
vocab = []
for q in qs:
    if q["image_name"] in img_tr:
        a = normalize_answer(q["answer"])
        if a not in vocab: vocab.append(a)
check(tr["labels"] == vocab and tr["label_count"] == len(vocab), "train vocabulary differs from the reference")
check(tr["label_source"] == "train" and he["labels"] == tr["labels"] and he["label_source"].endswith("/train"),
      "heldout must carry the training labels and name their source")
# every sample: label, label name, answer type, against the input
by_q = {str(q["qid"]): q for q in qs}
unseen = 0
for k, rows in tg.items():
    for i, x in enumerate(rows):
        q = by_q[x["qid"]]
        a = normalize_answer(q["answer"])
        want = vocab.index(a) if a in vocab else -1
        unseen += want < 0
        if x["sample"] != i or x["answer"] != a or x["label"] != want or x["image"] != q["image_name"] \
           or x["answer_type"] != q["answer_type"].strip().lower() \
           or (want >= 0 and x["label_name"] != a):
            errs.append(f"{k} sample {i}: {x} vs input {q['answer']!r}/{q['answer_type']!r}"); break
check(tr["unseen"] == 0 and he["unseen"] == unseen and unseen > 0, f"unseen {he['unseen']} (expected {unseen})")
check(m["all"]["label_source"] == "all" and "differs" in m["all"]["official_check"], "all: source/official check")
va = []
for q in qs:
    a = normalize_answer(q["answer"])
    if a not in va: va.append(a)
check(m["all"]["labels"] == va, "--answer-vocab all: every split's answers in first-appearance order")
oc = m["all"]["official_check"]
check(oc == f"official VQA-RAD (MEVF split): 498 labels, train 3064, test 451; here: {len(va)} labels, train 1797, test 0: "
      f"differs (labels {len(va) - 498:+d}, train -1267, test -451)", "official check: " + oc)
check(len(tr["inputs"]) == 1 and len(tr["inputs"][0]["sha256"]) == 64, "inputs with SHA-256")
import hashlib
check(tr["inputs"][0]["sha256"] == hashlib.sha256(open(src, "rb").read()).hexdigest(), "SHA-256 of the input")
for e in errs: print("FAIL:", e)
print(f"checked {len(tg['train'])} + {len(tg['held'])} samples, {len(vocab)} labels, {unseen} unseen held-out answers")
sys.exit(1 if errs else 0)
PYEOF
$M3AE prep inspect "$T/held" --show 2 > "$T/inspect.txt" 2>&1 && grep -q 'question ".*", answer ".*", label ' "$T/inspect.txt" \
    && ok "inspect: $(grep 'record 0' "$T/inspect.txt")" || bad "inspect: $(cat "$T/inspect.txt")"
[ $fails -eq 0 ] && echo "test_prep_vqa_rad: all checks passed" || { echo "test_prep_vqa_rad: $fails failed"; exit 1; }
