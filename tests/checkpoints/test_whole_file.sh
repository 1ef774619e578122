#!/bin/bash
# The whole-file checksum (checkpoints/h5file.h): one byte flipped anywhere in a real checkpoint (the
# HDF5 superblock, a dataset's chunk, an attribute's heap, the user block that holds the checksum,
# its padding, the last byte) makes `m3ae ckpt verify` and `ckpt inspect` exit 4 naming the
# whole-file checksum, before libhdf5 parses the file (it crashed on such files: tests/fuzz), and
# never crash. Resume counts a damaged file as not whole: it falls back to the newest whole step
# file, whether `latest` names the damaged one or is missing. A file without the block (an older
# m3ae, h5py) is read as before, with one warning. tools/convert_checkpoint.py writes and checks the
# same block (that part needs torch in PATH python3).
source "${M3AE_SOURCE_DIR:?}/tests/pretrain/common.sh"
py=/usr/bin/python3
if ! $py -c "import h5py, numpy" 2>/dev/null; then
  [ -n "${CI:-}" ] && { echo "FAIL: Debian python3-h5py missing (tools/setup.sh --test)"; exit 1; }
  echo "SKIPPED: python3-h5py not installed"; exit 77
fi
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-wholefile-XXXXXX); trap 'rm -rf "$W"' EXIT
pretrain "$W/run" max_steps=4 ckpt_every=2 >"$W/train.log" 2>&1 || { tail -5 "$W/train.log"; echo "FAIL: training"; exit 1; }
C=$W/run/checkpoints
ck=$C/step_0000004.h5
out=$("$M3AE" ckpt verify "$ck" 2>&1); rc=$?
check '[ $rc -eq 0 ] && head -1 <<<"$out" | grep -q "whole-file checksum good"' \
  "the good checkpoint: exit $rc, the whole-file check not reported first: $out"

# offsets: NAME OFFSET (h5py finds the superblock, a chunk of a model tensor, the attribute heap)
$py - "$ck" >"$W/offsets" <<'PY' || { echo "FAIL: h5py could not read the checkpoint"; exit 1; }
import sys, h5py
path = sys.argv[1]
data = open(path, "rb").read()
sb = data.find(b"\x89HDF\r\n\x1a\n")
with h5py.File(path, "r") as f:
    ds = f["model/language_encoder.embeddings.word_embeddings.weight"]
    chunk = ds.id.get_chunk_info(0).byte_offset
    attr = data.find(b"preset")  # the configuration text attribute
print("superblock", sb + 9)
print("superblock-eof", sb + 40)
print("chunk", chunk + 1000)
print("attribute", attr)
print("block-magic", 3)
print("block-length", 40)
print("block-sha", 60)
print("block-padding", 300)
print("last-byte", len(data) - 1)
PY
flip() { # flip FILE OFFSET: inverts one byte in place
  $py -c 'import sys; f = open(sys.argv[1], "r+b"); o = int(sys.argv[2]); f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}
while read -r name off; do
  cp "$ck" "$W/bad.h5"; flip "$W/bad.h5" "$off"
  out=$("$M3AE" ckpt verify "$W/bad.h5" 2>&1); rc=$?
  check '[ $rc -eq 4 ] && grep -q "whole-file checksum mismatch" <<<"$out"' \
    "verify, byte $off ($name) flipped: exit $rc, expected 4 naming the whole-file checksum: $(tail -2 <<<"$out")"
  out=$("$M3AE" ckpt inspect "$W/bad.h5" 2>&1); rc=$?
  check '[ $rc -eq 4 ] && grep -q "whole-file checksum mismatch" <<<"$out"' \
    "inspect, byte $off ($name) flipped: exit $rc: $(tail -2 <<<"$out")"
done <"$W/offsets"
truncate -s -1 "$W/bad.h5"
out=$("$M3AE" ckpt verify "$W/bad.h5" 2>&1); rc=$?
check '[ $rc -eq 4 ] && grep -q "whole-file checksum mismatch.*truncated" <<<"$out"' "a truncated file: exit $rc: $out"

# resume: latest names step 4, damaged in its superblock (every dataset checksum of it still good)
cp "$ck" "$W/step4.good"
flip "$ck" "$(awk '$1 == "superblock-eof" {print $2}' "$W/offsets")"
pretrain "$W/run" max_steps=6 stop_after=3 >"$W/resume1.log" 2>&1; rc=$?
check '[ $rc -eq 0 ] && grep -q "latest names is not whole.*whole-file checksum mismatch" "$W/resume1.log" &&
       grep -q "resuming .*step_0000002.h5: step 2" "$W/resume1.log"' \
  "latest naming a damaged file: exit $rc: $(grep -i -e resum -e error -e whole "$W/resume1.log" | head -5)"
# latest missing, the newest step file damaged in a chunk: the search skips it by name
rm -f "$C/latest" "$C/step_0000003.h5"; cp "$W/step4.good" "$ck"
flip "$ck" "$(awk '$1 == "chunk" {print $2}' "$W/offsets")"
pretrain "$W/run" max_steps=6 stop_after=3 >"$W/resume2.log" 2>&1; rc=$?
check '[ $rc -eq 0 ] && grep -q "step_0000004.h5 is not whole.*whole-file checksum mismatch" "$W/resume2.log" &&
       grep -q "resuming .*step_0000002.h5: step 2" "$W/resume2.log"' \
  "latest missing, step 4 damaged: exit $rc: $(grep -i -e resum -e error -e whole "$W/resume2.log" | head -5)"

# a file without the block (as an older m3ae or plain h5py wrote it): read as before, one warning
$py - "$W/step4.good" "$W/old.h5" <<'PY' || { echo "FAIL: h5py copy"; exit 1; }
import sys, h5py
with h5py.File(sys.argv[1], "r") as src, h5py.File(sys.argv[2], "w") as dst:
    for k in src:
        src.copy(src[k], dst, name=k)
    for k, v in src.attrs.items():
        dst.attrs.create(k, v, dtype=src.attrs.get_id(k).dtype)
PY
out=$("$M3AE" ckpt verify "$W/old.h5" 2>&1); rc=$?
check '[ $rc -eq 0 ] && [ "$(grep -c "no whole-file checksum" <<<"$out")" -eq 1 ] && grep -q "attribute checksum good" <<<"$out"' \
  "a file without the block: exit $rc, expected 0 and one warning: $out"

# tools/convert_checkpoint.py writes the same block (to-h5) and checks it (to-pt); needs torch
if python3 -c "import torch" 2>/dev/null; then
  conv=$SRC/tools/convert_checkpoint.py
  python3 "$conv" to-pt "$W/step4.good" --out "$W/x.ckpt" >"$W/to-pt.log" 2>&1 || { cat "$W/to-pt.log"; echo "FAIL: to-pt"; exit 1; }
  python3 "$conv" to-h5 "$W/x.ckpt" --out "$W/back.h5" >"$W/to-h5.log" 2>&1 || { cat "$W/to-h5.log"; echo "FAIL: to-h5"; exit 1; }
  out=$("$M3AE" ckpt verify "$W/back.h5" 2>&1); rc=$?
  check '[ $rc -eq 0 ] && head -1 <<<"$out" | grep -q "whole-file checksum good"' "verify of a to-h5 file: exit $rc: $out"
  cp "$W/back.h5" "$W/back-bad.h5"; flip "$W/back-bad.h5" "$(($(stat -c%s "$W/back.h5") / 2))"
  out=$("$M3AE" ckpt verify "$W/back-bad.h5" 2>&1); rc=$?
  check '[ $rc -eq 4 ] && grep -q "whole-file checksum mismatch" <<<"$out"' "verify of a damaged to-h5 file: exit $rc: $out"
  out=$(python3 "$conv" to-pt "$W/back-bad.h5" --out "$W/y.ckpt" 2>&1); rc=$?
  check '[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "whole-file checksum mismatch" <<<"$out" && [ ! -e "$W/y.ckpt" ]' \
    "to-pt of a damaged file: exit $rc: $(tail -2 <<<"$out")"
  out=$(python3 "$conv" to-pt "$W/old.h5" --out "$W/z.ckpt" 2>&1); rc=$?
  check '[ $rc -eq 0 ] && grep -q "no whole-file checksum" <<<"$out"' "to-pt of a file without the block: exit $rc: $(tail -2 <<<"$out")"
else
  echo "note: python3 has no torch; the converter part is skipped"
fi
[ $fail -eq 0 ] && echo "whole-file checksum test passed"
exit $fail
