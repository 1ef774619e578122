#!/bin/bash
# m3ae prep --format jsonl --group-key KEY (issue 12, io/FORMAT.md "Group table"):
#  - MedPix-2.0 test with --group-key case: groups.jsonl has one line per record in manifest order,
#    {"record": r, "image": the record's image, "group": the line's case}, and the manifest names it
#    ("groups": "groups.jsonl", "group_key": "case");
#  - a small hand-made jsonl (MedPix images): a string key is kept as it is, a number as its decimal
#    text (12 -> "12", 3.5 -> "3.5"), a line without the key is a reject whose reason names it and
#    writes no record (so no group line), and the table still matches the records;
#  - two lines naming one image with different keys stop the conversion (exit 3) naming both lines;
#  - without --group-key: no table and no "groups" in the manifest.
set -u
M3AE=${M3AE_BIN:?}
SRC=${M3AE_SOURCE_DIR:?}
DATA=${M3AE_DATA:-$SRC/../shared/data}
IN=$DATA/medpix2/test.jsonl
PY=/usr/bin/python3
[ -f "$IN" ] || { echo "SKIPPED: $IN missing"; [ -n "${CI:-}" ] && exit 1; exit 77; }
W=$(mktemp -d /tmp/m3ae-prep-groups-XXXXXX); trap 'rm -rf "$W"' EXIT
fail=0
prep() { "$M3AE" prep --format jsonl --store-size 32 --min-words 1 --threads 1 --quiet "$@"; }
prep --input "$IN" --out "$W/medpix" --group-key case >"$W/medpix.log" 2>&1 ||
  { echo "FAIL: prep --group-key case: $(cat "$W/medpix.log")"; exit 1; }
prep --input "$IN" --out "$W/plain" >"$W/plain.log" 2>&1 || { echo "FAIL: prep: $(cat "$W/plain.log")"; exit 1; }
M=$DATA/medpix2
$PY - "$M" "$W/small.jsonl" "$W/clash.jsonl" <<'PY'
import json, sys
m, small, clash = sys.argv[1:]
rows = [json.loads(l) for l in open(f"{m}/test.jsonl") if l.strip()][:4]
img = [f"{m}/{r['image']}" for r in rows]
with open(small, "w") as f:
    f.write(json.dumps({"image": img[0], "caption": "first image caption", "case": "MPX1"}) + "\n")
    f.write(json.dumps({"image": img[1], "caption": "second image caption", "case": 12}) + "\n")
    f.write(json.dumps({"image": img[2], "caption": "third image, no case"}) + "\n")
    f.write(json.dumps({"image": img[3], "caption": "fourth image caption", "case": 3.5}) + "\n")
with open(clash, "w") as f:
    f.write(json.dumps({"image": img[0], "caption": "one caption", "case": "A"}) + "\n")
    f.write(json.dumps({"image": img[0], "caption": "another caption", "case": "B"}) + "\n")
PY
prep --input "$W/small.jsonl" --out "$W/small" --group-key case --max-reject 1 >"$W/small.log" 2>&1 ||
  { echo "FAIL: prep small: $(cat "$W/small.log")"; fail=1; }
prep --input "$W/clash.jsonl" --out "$W/clash" --group-key case >"$W/clash.log" 2>&1
rc=$?
[ $rc -eq 3 ] || { echo "FAIL: two groups for one image: exit $rc, expected 3"; fail=1; }
grep -q "line 2: image .* has case \"B\", but line 1 gave it \"A\"" "$W/clash.log" ||
  { echo "FAIL: the clash message does not name both lines: $(cat "$W/clash.log")"; fail=1; }
$PY - "$IN" "$W" <<'PY' || fail=1
import json, os, sys
src, w = sys.argv[1:]
bad = []
def lines(p): return [json.loads(l) for l in open(p) if l.strip()]
rows = lines(src)
man = json.load(open(f"{w}/medpix/manifest.json"))
if (man.get("groups"), man.get("group_key")) != ("groups.jsonl", "case"):
    bad.append(f"medpix manifest: groups/group_key = {man.get('groups')}/{man.get('group_key')}")
g = lines(f"{w}/medpix/groups.jsonl")
want = [{"record": i, "image": r["image"], "group": r["case"]} for i, r in enumerate(rows)]
if len(g) != man["records"] or g != want:
    diff = next((i for i, (a, b) in enumerate(zip(g, want)) if a != b), min(len(g), len(want)))
    bad.append(f"medpix groups.jsonl: {len(g)} lines for {man['records']} records; first difference at line {diff + 1}")
plain = json.load(open(f"{w}/plain/manifest.json"))
if "groups" in plain or os.path.exists(f"{w}/plain/groups.jsonl"): bad.append("without --group-key: a group table")
if os.path.exists(f"{w}/small/manifest.json"):
    sm = json.load(open(f"{w}/small/manifest.json"))
    sg = [(x["record"], x["group"]) for x in lines(f"{w}/small/groups.jsonl")]
    if sm["records"] != 3 or sg != [(0, "MPX1"), (1, "12"), (2, "3.5")]:
        bad.append(f"small: {sm['records']} records, groups {sg}; expected 3 and MPX1, 12, 3.5")
    rej = lines(f"{w}/small/rejected.jsonl")
    if not any(r.get("line") == 3 and '"case"' in r.get("reason", "") and "--group-key" in r.get("reason", "") for r in rej):
        bad.append(f"small: no reject naming the missing \"case\": {rej}")
for b in bad: print("FAIL:", b)
sys.exit(1 if bad else 0)
PY
[ $fail -eq 0 ] && echo "PASS: prep --group-key (MedPix cases, string/number keys, missing key rejected, clash)"
exit $fail
