#!/bin/bash
# m3ae prep --format roco and --format medicat on small inputs built from the shared data (ROCO
# captions with MedPix images linked in as the ROCO images; a MedICaT-style jsonl with radiology and
# non-radiology figures and inline references). Each output is checked by prep_check.py against
# the equivalent plain jsonl (what the format should mean), so captions, grouping and counts are
# compared exactly.
set -u
M3AE=${M3AE_BIN:?}
DATA=${M3AE_DATA:-../shared/data}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
[ -f "$DATA/roco_text/test_radiology_captions.tsv" ] && [ -d "$DATA/medpix2/images" ] \
    || { echo "SKIPPED: shared data not found"; [ -n "${CI:-}" ] && exit 1; exit 77; }
[ -x $PY ] || { echo "SKIPPED: no /usr/bin/python3"; exit 77; }
command -v mdb_dump >/dev/null || { echo "SKIPPED: mdb_dump (lmdb-utils) not installed"; exit 77; }
T=$(mktemp -d /tmp/m3ae_test_formats_XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
MP=$(cd "$DATA/medpix2/images" && pwd)

# ROCO: 12 captions; images for the first 10 ids (the 11th is missing); the 12th line repeats id 3
mkdir -p "$T/roco/images"
head -11 "$DATA/roco_text/test_radiology_captions.tsv" > "$T/roco/captions.txt"
sed -n 3p "$DATA/roco_text/test_radiology_captions.tsv" | sed 's/\t.*/\tA second caption for the third image./' >> "$T/roco/captions.txt"
i=0
for f in $(ls "$MP" | grep jpg | head -10); do
    i=$((i + 1))
    id=$(sed -n ${i}p "$T/roco/captions.txt" | cut -f1)
    ln -s "$MP/$f" "$T/roco/images/$id.jpg"
done
$PY - "$T/roco" <<'PYEOF'
import json, sys
d = sys.argv[1]
with open(d + "/equiv.jsonl", "w") as out:
    for line in open(d + "/captions.txt", encoding="utf-8"):
        rid, cap = line.rstrip("\n").split("\t", 1)
        out.write(json.dumps({"image": "images/%s.jpg" % rid, "caption": cap}) + "\n")
PYEOF
if $M3AE prep --format roco --input "$T/roco" --out "$T/roco_ds" --max-reject 20% --shards 2 --quiet > "$T/roco.log" 2>&1; then
    ok "roco: $(cat "$T/roco.log")"
    $PY "$HERE/prep_check.py" "$T/roco/equiv.jsonl" "$T/roco_ds" 384 2 3 || bad "prep_check roco"
    $PY -c "
import json; m = json.load(open('$T/roco_ds/manifest.json'))
assert (m['records'], m['samples'], m['source']) == (10, 11, 'roco'), m" && ok "roco counts" || bad "roco counts"
    grep -q '"kind": "image"' "$T/roco_ds/rejected.jsonl" && ok "roco missing image rejected" || bad "roco rejected.jsonl"
    $M3AE prep inspect "$T/roco_ds" > /dev/null 2>&1 && ok "roco inspect" || bad "roco inspect"
else
    bad "roco prep: $(cat "$T/roco.log")"
fi

# MedICaT: 6 figures, 4 radiology (one with a missing image), references as extra texts
mkdir -p "$T/medicat/figures"
imgs=($(ls "$MP" | grep jpg | head -6))
for k in 0 1 2 3 4; do ln -s "$MP/${imgs[$k]}" "$T/medicat/figures/hash${k}_Figure$k.jpg"; done
cat > "$T/medicat/release.jsonl" <<'JEOF'
{"pdf_hash": "hash0", "fig_uri": "Figure0.jpg", "s2_caption": "Axial CT   of the abdomen\nshowing a mass.", "s2orc_references": ["As shown in Figure 1, the mass is large.", "See fig"], "radiology": true}
{"pdf_hash": "hash1", "fig_uri": "Figure1.jpg", "s2_caption": "Histology slide of the tumour cells.", "s2orc_references": [], "radiology": false}
{"pdf_hash": "hash2", "fig_uri": "Figure2.jpg", "s2_caption": "MRI of the brain, T2 weighted.", "s2orc_references": ["The lesion (Figure 2) is hyperintense on T2."], "radiology": true}
{"pdf_hash": "hash9", "fig_uri": "Figure9.jpg", "s2_caption": "A figure whose image is missing.", "s2orc_references": [], "radiology": true}
{"pdf_hash": "hash3", "fig_uri": "Figure3.jpg", "s2_caption": "Chest radiograph, frontal view.", "radiology": true}
{"pdf_hash": "hash4", "fig_uri": "Figure4.jpg", "s2_caption": "Bar chart of the survival rates.", "s2orc_references": ["Figure 4 shows survival."], "radiology": false}
JEOF
$PY - "$T/medicat" <<'PYEOF'
import json, sys
d = sys.argv[1]
with open(d + "/equiv.jsonl", "w") as out:
    for line in open(d + "/release.jsonl"):
        o = json.loads(line)
        if o.get("radiology") is not True:
            continue
        out.write(json.dumps({"image": "figures/%s_%s" % (o["pdf_hash"], o["fig_uri"]),
                              "captions": [o["s2_caption"]] + o.get("s2orc_references", [])}) + "\n")
PYEOF
if $M3AE prep --format medicat --input "$T/medicat/release.jsonl" --out "$T/medicat_ds" --max-reject 50% --quiet > "$T/medicat.log" 2>&1; then
    ok "medicat: $(cat "$T/medicat.log")"
    $PY "$HERE/prep_check.py" "$T/medicat/equiv.jsonl" "$T/medicat_ds" 384 1 3 || bad "prep_check medicat"
    $PY -c "
import json; m = json.load(open('$T/medicat_ds/manifest.json'))
assert (m['records'], m['samples'], m['rejected']) == (3, 5, 2), m" && ok "medicat counts (3 records, 5 samples)" || bad "medicat counts: $(cat "$T/medicat_ds/manifest.json")"
    $M3AE prep inspect "$T/medicat_ds" > /dev/null 2>&1 && ok "medicat inspect" || bad "medicat inspect"
else
    bad "medicat prep: $(cat "$T/medicat.log")"
fi
# jsonl with task fields: each line is its own record (not grouped), question/answer/label stored
cat > "$T/vqa.jsonl" <<JEOF
{"image": "$MP/${imgs[0]}", "caption": "Axial CT of the abdomen.", "question": "Is there a mass?", "answer": "yes", "label": 1}
{"image": "$MP/${imgs[0]}", "caption": "Axial CT of the abdomen.", "question": "Which organ is shown?", "answer": "liver", "label": 7}
JEOF
if $M3AE prep --format jsonl --input "$T/vqa.jsonl" --out "$T/vqa_ds" --quiet > "$T/vqa.log" 2>&1; then
    $PY - "$T/vqa_ds/shard-00000" <<'PYEOF' && ok "task fields stored" || bad "task fields"
import struct, subprocess, sys
out = subprocess.run(["mdb_dump", sys.argv[1]], check=True, capture_output=True).stdout.decode().split("\n")
i = out.index("HEADER=END") + 1
want = [("Is there a mass?", "yes", 1), ("Which organ is shown?", "liver", 7)]
for r in range(2):
    val = bytes.fromhex(out[i + 2 * r + 1].strip())
    (magic, ver, hs, h, w, ch, pt, ncap, flags, label, idlen, textlen) = struct.unpack_from("<4sHHIIHHIIiII", val)
    pos = 40 + idlen + 4 * ncap + textlen
    ql, = struct.unpack_from("<I", val, pos); q = val[pos + 4:pos + 4 + ql].decode(); pos += 4 + ql
    al, = struct.unpack_from("<I", val, pos); a = val[pos + 4:pos + 4 + al].decode()
    assert (flags, ncap, (q, a, label)) == (7, 1, want[r]), (flags, ncap, q, a, label)
assert out[i + 4].strip() == "ffffffffffffffff" or out[i + 4].strip() == "fffffffffffffffe", out[i + 4]
PYEOF
else
    bad "vqa prep: $(cat "$T/vqa.log")"
fi
echo "test_prep_formats: $fails failed"
[ $fails = 0 ]
