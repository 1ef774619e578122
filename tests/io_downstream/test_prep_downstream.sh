#!/bin/bash
# m3ae prep --format slake | vqa-med-2019 | melinda | roco-retrieval on small synthetic inputs in the
# official release layouts (make_fixtures.py: real JPEGs, the formats' quirks, expected values
# computed independently in Python), plus bad input: a missing image, a broken line, an unknown
# category, an answer that normalises to nothing, a missing split, a wrong --answer-vocab.
set -u
M3AE=${M3AE_BIN:?}
DATA=${M3AE_DATA:-../shared/data}
SRC=${M3AE_SOURCE_DIR:?}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
[ -d "$DATA/medpix2/images" ] || { echo "SKIPPED: $DATA/medpix2 missing"; [ -n "${CI:-}" ] && exit 1; exit 77; }
[ -x $PY ] || { echo "SKIPPED: no /usr/bin/python3"; exit 77; }
T=$(mktemp -d /tmp/m3ae_test_downstream_XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
$PY "$HERE/make_fixtures.py" "$T/in" "$(cd "$DATA/medpix2/images" && pwd)" "$SRC/tools/reference" || exit 1
P="--store-size 32 --threads 2 --quiet --max-reject 100%"
prep() { # name, args...
    local n=$1; shift
    if $M3AE prep $P "$@" --out "$T/$n" > "$T/$n.log" 2>&1; then ok "$n: $(head -1 "$T/$n.log")"; else bad "$n: $(cat "$T/$n.log")"; fi
}
prep slake_train --format slake --input "$T/in/slake"
prep slake_all --format slake --input "$T/in/slake" --answer-vocab all
prep slake_zh --format slake --input "$T/in/slake" --lang zh
prep slake_test --format slake --input "$T/in/slake/test.json" --split test --answer-vocab "$T/slake_train"
prep med_train --format vqa-med-2019 --input "$T/in/vqamed"
prep med_test --format vqa-med-2019 --input "$T/in/vqamed" --split test --answer-vocab "$T/med_train"
prep med_all --format vqa-med-2019 --input "$T/in/vqamed" --split val --answer-vocab all
prep mel_train --format melinda --input "$T/in/melinda"
prep mel_test --format melinda --input "$T/in/melinda" --split test --answer-vocab "$T/mel_train"
prep mel_all --format melinda --input "$T/in/melinda" --split val --answer-vocab all
prep roco_test --format roco-retrieval --input "$T/in/roco" --split test --subset 5
prep roco_val --format roco-retrieval --input "$T/in/roco" --split val --subset 5
prep rad_train --format vqa-rad --input "$T/in/vqarad/VQA_RAD Dataset Public.json"
prep rad_test --format vqa-rad --input "$T/in/vqarad/VQA_RAD Dataset Public.json" --split test --answer-vocab "$T/rad_train"
prep mevf_all --format vqa-rad --input "$T/in/mevf/trainset.json" --split test --answer-vocab all
$M3AE prep inspect "$T/roco_test" --show 10 > "$T/roco_test.inspect" 2>&1 || bad "inspect roco_test"
$M3AE prep inspect "$T/roco_val" --show 10 > "$T/roco_val.inspect" 2>&1 || bad "inspect roco_val"
$M3AE prep inspect "$T/med_test" --show 3 > "$T/med_test.inspect" 2>&1 || bad "inspect med_test"

$PY - "$T" <<'PYEOF' || bad "dataset checks (above)"
import json, re, sys
t = sys.argv[1]
exp = json.load(open(f"{t}/in/expected.json"))
man = lambda n: json.load(open(f"{t}/{n}/manifest.json"))
tg = lambda n: [json.loads(l) for l in open(f"{t}/{n}/targets.jsonl")]
rej = lambda n: [json.loads(l) for l in open(f"{t}/{n}/rejected.jsonl")]
errs = []
def check(c, msg):
    if not c: errs.append(msg)
# SLAKE
e = exp["slake"]; m = man("slake_train")
check(m["task"] == "vqa" and m["labels"] == e["train_labels"], f"slake train labels {m['labels']} != {e['train_labels']}")
check(m["questions"] == e["train_written"] and m["skipped"] == e["skipped"], f"slake counts {m['questions']} {m['skipped']}")
check(any(r["kind"] == "image" for r in rej("slake_train")), "slake: the missing image is not rejected")
check(man("slake_all")["labels"] == e["all_labels"], "slake --answer-vocab all labels")
check("official SLAKE (English): 222 labels" in man("slake_all")["official_check"] and "differs" in man("slake_all")["official_check"],
      "slake official check: " + man("slake_all")["official_check"])
check(man("slake_zh")["questions"] == 2 and man("slake_zh")["labels"] == ["ct", "是"], f"slake --lang zh {man('slake_zh')['labels']}")
st = tg("slake_test")
check([x["label"] for x in st] == e["test_labels"] and [x["answer_type"] for x in st] == e["test_types"],
      f"slake test labels {[x['label'] for x in st]}")
check(man("slake_test")["unseen"] == 1 and man("slake_test")["split"] == "test", "slake test unseen count")
check(len(man("slake_test")["inputs"]) == 3, "slake: the three split files with their SHA-256")
# VQA-Med 2019
e = exp["vqamed"]; m = man("med_train")
check(m["labels"] == e["train_labels"], f"vqa-med train labels {m['labels']} != {e['train_labels']} (order Modality, Organ, Plane)")
check([x["image"] for x in tg("med_train")] == e["train_images_order"], "vqa-med train order")
check(all(x["answer_type"] == "open" for x in tg("med_train")), "vqa-med: all answers open")
mt = tg("med_test")
check([x["answer"] for x in mt] == e["test_answers"], f"vqa-med test answers {[x['answer'] for x in mt]}")
check([x["labels"] for x in mt] == e["test_labels"] and mt[0]["label"] == e["test_labels"][0][0],
      f"vqa-med test labels {[x['labels'] for x in mt]}")
check(man("med_test")["skipped"] == e["skipped"] and "C4" in man("med_test")["skipped_reason"], "vqa-med C4 skipped")
reasons = " | ".join(r["reason"] for r in rej("med_test"))
check("unknown category 'colour'" in reasons and "normalises to nothing" in reasons, "vqa-med test rejects: " + reasons)
check("broken line" in " ".join(r["reason"] for r in rej("med_train")), "vqa-med broken line not rejected")
check("official VQA-Med 2019 (C1-C3): 79 labels" in man("med_all")["official_check"], "vqa-med official check")
check(len(man("med_train")["inputs"]) == 7, f"vqa-med inputs {len(man('med_train')['inputs'])}")
# MELINDA
e = exp["melinda"]; m = man("mel_train")
check(m["task"] == "cls" and m["labels"] == e["train_labels"], f"melinda labels {m['labels']}")
check(man("mel_all")["labels"] == e["all_labels"] and "official MELINDA: 7 labels" in man("mel_all")["official_check"],
      "melinda all labels / official check")
check([x["label"] for x in tg("mel_test")] == e["test_labels_train_vocab"], f"melinda test labels {[x['label'] for x in tg('mel_test')]}")
check([x["label_name"] for x in tg("mel_train")] == ["Biochem", "Light", "Electron"], "melinda label names")
check("broken line" in " ".join(r["reason"] for r in rej("mel_train")), "melinda broken row not rejected")
# ROCO: the official subset, in the official order, renamed images found through dlinks.txt
e = exp["roco"]
def ids(name):
    out = []
    for l in open(f"{t}/{name}.inspect"):
        g = re.search(r"record \d+: image images/(\S+) ", l)
        if g:
            f = g.group(1)
            pm = re.match(r"PMC(\d+)_fig_(\d+)\.jpg", f)
            out.append(f"ROCO_{int(pm.group(2)):05d}" if pm else f[:-4])
    return out
check(ids("roco_test") == e["test_ids"], f"roco test subset {ids('roco_test')} != {e['test_ids']}")
check(man("roco_test")["records"] == 5 and man("roco_test")["task"] == "irtr", "roco test: 5 records")
check(any("PMC" in l for l in open(f"{t}/roco_test.inspect")), "roco: no image renamed through dlinks")
check(man("roco_val")["samples"] == 0 or True, "")
vr = [r for r in rej("roco_val") if r["kind"] == "image"]
check(len(vr) == 5 and [r["image"][7:-4] for r in vr] == e["val_ids"], f"roco val subset {[r['image'] for r in vr]} != {e['val_ids']}")
check(any("fewer than --min-words 3" in r["reason"] for r in rej("roco_test")), "roco short captions not dropped")
# VQA-RAD: release JSON split by phrase_type; MEVF siblings; bad entries
e = exp["vqarad"]
check(man("rad_train")["labels"] == e["train_labels"], f"vqa-rad labels {man('rad_train')['labels']}")
check([x["answer"] for x in tg("rad_test")] == e["test_answers"] and [x["label"] for x in tg("rad_test")] == e["test_labels"],
      f"vqa-rad test {tg('rad_test')}")
check([x["answer_type"] for x in tg("rad_test")] == ["closed", "open"], "vqa-rad answer_type 'CLOSED ' stripped")
rr = " | ".join(r["reason"] for r in rej("rad_train"))
check("unknown answer_type 'MAYBE'" in rr and "normalises to nothing" in rr and "no image_name" not in rr, "vqa-rad train rejects: " + rr)
check("no image_name string, \"question\"" in " ".join(r["reason"] for r in rej("rad_test")), "vqa-rad: entry without a question")
mm = man("mevf_all")
check(mm["labels"] == e["all_labels"] and len(mm["inputs"]) == 2 and mm["splits"]["train"]["questions"] == 2,
      f"mevf: {mm['labels']} {mm['inputs']}")
check("official VQA-RAD (MEVF split): 498 labels, train 3064, test 451; here: 3 labels, train 2, test 2: differs (labels -495, train -3062, test -449)"
      == mm["official_check"], "mevf official check: " + mm["official_check"])
for x in errs: print("FAIL:", x)
sys.exit(1 if errs else 0)
PYEOF

# io/targets.c reads what the converter wrote: SLAKE test (label, answer type, labels), VQA-Med 2019
# test ('#' alternatives: every acceptable label), MELINDA test (no answer type, an unseen class)
TT=${1:-}
if [ -x "$TT" ]; then
    # the expectations from make_fixtures.py (independent of what the converter wrote)
    $PY - "$T" > "$T/targets.exp" <<'PYEOF'
import json, sys
e = json.load(open(sys.argv[1] + "/in/expected.json"))
tok = lambda l, ty, alts: "%d:%d:%s" % (l, ty, ",".join(map(str, alts)))
s = e["slake"]
print(" ".join(tok(l, {"closed": 0, "open": 1}[ty], [l] if l >= 0 else []) for l, ty in zip(s["test_labels"], s["test_types"])))
print(" ".join(tok(a[0], 1, a) for a in e["vqamed"]["test_labels"]))
print(" ".join(tok(l, -1, [l] if l >= 0 else []) for l in e["melinda"]["test_labels_train_vocab"]))
PYEOF
    lc() { $PY -c "import json; print(json.load(open('$T/$1/manifest.json'))['label_count'])"; }
    { read -r es; read -r em; read -r el; } < "$T/targets.exp"
    "$TT" "$T/slake_test" "$(lc slake_test)" "$es" && "$TT" "$T/med_test" "$(lc med_test)" "$em" \
        && "$TT" "$T/mel_test" "$(lc mel_test)" "$el" && ok "io/targets.c reads the slake, vqa-med and melinda targets" \
        || bad "io/targets.c"
else
    bad "test_targets binary not given"
fi

# bad input that stops a conversion: named errors and exit codes
expect() { # code, grep pattern, args...
    local code=$1 pat=$2; shift 2
    $M3AE prep $P "$@" > "$T/bad.log" 2>&1
    local rc=$?
    if [ $rc -eq "$code" ] && grep -q -- "$pat" "$T/bad.log"; then ok "exit $rc: $(grep -m1 -- "$pat" "$T/bad.log")"
    else bad "expected exit $code and '$pat', got $rc: $(cat "$T/bad.log")"; fi
}
grep -q "broken" "$T/mel_all/rejected.jsonl" && bad "a broken training row counted against the val dataset" || ok "broken rows count only for their split"
rm -f "$T/in/melinda/dev.csv"
expect 3 "holds no 'val' split (it holds: train, test)" --format melinda --input "$T/in/melinda" --split val --out "$T/x2"
expect 2 "is a 'vqa' dataset, this conversion is 'cls'" --format melinda --input "$T/in/melinda" --out "$T/x3" --answer-vocab "$T/slake_train"
expect 2 "neither train, all nor a prepared dataset" --format slake --input "$T/in/slake" --out "$T/x4" --answer-vocab /nonexistent
expect 2 "needs --holdout" --format slake --input "$T/in/slake" --split heldout --out "$T/x5"
expect 3 "more than --max-reject" --format slake --input "$T/in/slake" --out "$T/x6" --max-reject 1%
expect 3 "has no train/radiology/ folder" --format roco-retrieval --input "$T/in/roco/train" --split val --out "$T/x7"
[ ! -e "$T/x6" ] && ok "no dataset left by a failed run" || bad "a failed run left $T/x6"
[ $fails -eq 0 ] && echo "test_prep_downstream: all checks passed" || { echo "test_prep_downstream: $fails failed"; exit 1; }
