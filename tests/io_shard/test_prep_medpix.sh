#!/bin/bash
# m3ae prep on the real MedPix-2.0 splits: counts and captions checked against an independent
# parse (prep_check.py, stdlib python + mdb_dump), determinism (two runs, 1 vs 2 threads, cmp),
# inspect, a corrupted record (found by its caption) named by shard and key, truncated and
# missing shards, rejected.jsonl for a missing image, --max-reject, an existing --out.
set -u
M3AE=${M3AE_BIN:?}
DATA=${M3AE_DATA:-../shared/data}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
[ -f "$DATA/medpix2/dev.jsonl" ] || { echo "SKIPPED: $DATA/medpix2 not found"; [ -n "${CI:-}" ] && exit 1; exit 77; }
[ -x $PY ] || { echo "SKIPPED: no /usr/bin/python3"; exit 77; }
command -v mdb_dump >/dev/null || { echo "SKIPPED: mdb_dump (lmdb-utils) not installed"; exit 77; }
T=$(mktemp -d /tmp/m3ae_test_prep_XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# 1. the three splits, counts and captions against the independent parse
for split in dev:384:2 test:384:1 train:64:3; do
    IFS=: read -r name size shards <<< "$split"
    if $M3AE prep --format jsonl --input "$DATA/medpix2/$name.jsonl" --out "$T/$name" --store-size "$size" \
        --shards "$shards" --threads 2 --max-reject 10% --quiet > "$T/$name.log" 2>&1; then
        ok "prep $name: $(cat "$T/$name.log")"
    else
        bad "prep $name failed: $(cat "$T/$name.log")"; continue
    fi
    $PY "$HERE/prep_check.py" "$DATA/medpix2/$name.jsonl" "$T/$name" "$size" "$shards" 3 || bad "prep_check $name"
    $M3AE prep inspect "$T/$name" > "$T/inspect.log" 2>&1 && grep -q "verified" "$T/inspect.log" \
        && ok "inspect $name" || bad "inspect $name: $(cat "$T/inspect.log")"
done
grep -q '"reason"' "$T/dev/rejected.jsonl" && ok "rejected.jsonl lists short texts" || bad "dev rejected.jsonl empty"

# 2. determinism: same input -> byte-identical shards (other thread count, other run)
$M3AE prep --format jsonl --input "$DATA/medpix2/dev.jsonl" --out "$T/dev_b" --shards 2 --threads 1 \
    --max-reject 5% --quiet > /dev/null 2>&1 || bad "second dev prep"
for s in shard-00000 shard-00001; do
    cmp "$T/dev/$s/data.mdb" "$T/dev_b/$s/data.mdb" && ok "identical $s" || bad "$s differs between runs"
done
cmp "$T/dev/manifest.json" "$T/dev_b/manifest.json" > /dev/null || true # input path may differ: not required

# 3. mdb_stat reads a shard
if command -v mdb_stat > /dev/null; then
    mdb_stat "$T/test/shard-00000" | grep -q "Entries: $(( $($PY -c "import json;print(json.load(open('$T/test/manifest.json'))['records'])") + 2 ))" \
        && ok "mdb_stat" || bad "mdb_stat: $(mdb_stat "$T/test/shard-00000")"
fi

# 4. a corrupted record: flip a byte inside a known caption of shard-00001, key 3
cp -r "$T/dev" "$T/dev_bad"
info=$($PY - "$T/dev_bad" <<'PYEOF'
import subprocess, sys, struct
ds = sys.argv[1]
out = subprocess.run(["mdb_dump", ds + "/shard-00001"], check=True, capture_output=True).stdout.decode().split("\n")
i = out.index("HEADER=END") + 1 + 2 * 3        # key 3
val = bytes.fromhex(out[i + 1].strip())
idlen, = struct.unpack_from("<I", val, 32)
ncap, = struct.unpack_from("<I", val, 20)
L, = struct.unpack_from("<I", val, 40 + idlen)
cap = val[40 + idlen + 4 * ncap: 40 + idlen + 4 * ncap + L]
data = bytearray(open(ds + "/shard-00001/data.mdb", "rb").read())
assert data.count(cap) == 1, "caption not unique"
off = data.find(cap) + 2
data[off] ^= 0x20
open(ds + "/shard-00001/data.mdb", "wb").write(data)
print(off)
PYEOF
)
if $M3AE prep inspect "$T/dev_bad" > "$T/bad.log" 2>&1; then
    bad "inspect accepted a corrupted record"
else
    rc=$?
    grep -q "shard-00001" "$T/bad.log" && grep -q "key 3" "$T/bad.log" && grep -q CRC32C "$T/bad.log" && [ $rc = 3 ] \
        && ok "corruption at byte $info detected: $(grep error "$T/bad.log")" || bad "corruption message (rc $rc): $(cat "$T/bad.log")"
fi

# 5. truncated and missing shards
cp -r "$T/dev" "$T/dev_trunc"
sz=$(stat -c %s "$T/dev_trunc/shard-00001/data.mdb")
truncate -s $((sz / 2)) "$T/dev_trunc/shard-00001/data.mdb"
$M3AE prep inspect "$T/dev_trunc" > "$T/trunc.log" 2>&1
rc=$?
[ $rc = 3 ] && grep -q "shard-00001" "$T/trunc.log" && grep -q truncated "$T/trunc.log" \
    && ok "truncated shard: $(grep error "$T/trunc.log")" || bad "truncated shard (rc $rc): $(cat "$T/trunc.log")"
rm -rf "$T/dev_trunc/shard-00001"
$M3AE prep inspect "$T/dev_trunc" > "$T/miss.log" 2>&1
rc=$?
[ $rc = 3 ] && grep -q "shard-00001" "$T/miss.log" && grep -q missing "$T/miss.log" \
    && ok "missing shard: $(grep error "$T/miss.log")" || bad "missing shard (rc $rc): $(cat "$T/miss.log")"
$M3AE prep inspect "$T/nothing" > "$T/none.log" 2>&1
[ $? = 3 ] && grep -q manifest.json "$T/none.log" && ok "no dataset" || bad "no dataset: $(cat "$T/none.log")"

# 6. a missing image -> rejected.jsonl; --max-reject; an existing --out
img1=$(cd "$DATA/medpix2" && pwd)/$(head -1 "$DATA/medpix2/test.jsonl" | $PY -c "import json,sys;print(json.load(sys.stdin)['image'])")
img2=$(cd "$DATA/medpix2" && pwd)/$(sed -n 2p "$DATA/medpix2/test.jsonl" | $PY -c "import json,sys;print(json.load(sys.stdin)['image'])")
cat > "$T/mini.jsonl" <<JEOF
{"image": "$img1", "caption": "An axial CT image of the chest."}
{"image": "no_such_image.jpg", "caption": "This image does not exist at all."}
{"image": "$img2", "captions": ["First caption of image two.", "Second caption of image two."]}
{"image": "$img1", "caption": "Another   caption\tfor image one."}
JEOF
$M3AE prep --format jsonl --input "$T/mini.jsonl" --out "$T/mini" --max-reject 50% --quiet > "$T/mini.log" 2>&1 \
    && ok "mini prep: $(cat "$T/mini.log")" || bad "mini prep: $(cat "$T/mini.log")"
grep -q '"kind": "image", "line": 2, "image": "no_such_image.jpg"' "$T/mini/rejected.jsonl" \
    && ok "rejected.jsonl: $(cat "$T/mini/rejected.jsonl")" || bad "rejected.jsonl: $(cat "$T/mini/rejected.jsonl" 2>&1)"
$PY -c "
import json; m = json.load(open('$T/mini/manifest.json'))
assert (m['records'], m['samples'], m['rejected']) == (2, 4, 1), m" && ok "mini counts 2 records, 4 samples" || bad "mini counts"
$PY "$HERE/prep_check.py" "$T/mini.jsonl" "$T/mini" 384 1 3 > /dev/null || bad "prep_check mini"
$M3AE prep --format jsonl --input "$T/mini.jsonl" --out "$T/mini2" --quiet > "$T/mini2.log" 2>&1
rc=$?
[ $rc = 3 ] && [ ! -e "$T/mini2" ] && grep -q "max-reject" "$T/mini2.log" && ls -d "$T"/mini2.tmp-* > /dev/null 2>&1 \
    && ok "too many rejected: exit 3, no dataset" || bad "max-reject (rc $rc): $(cat "$T/mini2.log")"
$M3AE prep --format jsonl --input "$T/mini.jsonl" --out "$T/mini" --max-reject 50% --quiet > /dev/null 2>&1
[ $? = 2 ] && ok "existing --out refused" || bad "existing --out"
$M3AE prep --format nope --input "$T/mini.jsonl" --out "$T/x" > /dev/null 2>&1
[ $? = 2 ] && ok "unknown format" || bad "unknown format"

echo "test_prep_medpix: $fails failed"
[ $fails = 0 ]
