#!/bin/bash
# The checkpoint's own attributes (step, epoch, position, seed, world_size, config, data, kind, ...)
# are covered by attr_sha256: one flipped bit in `step` (h5py, every dataset checksum still good) makes
# `m3ae ckpt verify` exit 4 naming the attribute checksum, and resume refuses (exit 4). A file without
# the checksum (an older m3ae) is accepted and said so. The `data` attribute names the data folder,
# its sample count and the SHA-256 of its manifest.
source "${M3AE_SOURCE_DIR:?}/tests/pretrain/common.sh"
py=/usr/bin/python3
if ! $py -c "import h5py, numpy" 2>/dev/null; then
  [ -n "${CI:-}" ] && { echo "FAIL: Debian python3-h5py missing (tools/setup.sh --test)"; exit 1; }
  echo "SKIPPED: python3-h5py not installed"; exit 77
fi
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-attrsum-XXXXXX); trap 'rm -rf "$W"' EXIT
pretrain "$W/run" max_steps=4 stop_after=2 >"$W/train.log" 2>&1 || { tail -5 "$W/train.log"; echo "FAIL: training"; exit 1; }
ck=$W/run/checkpoints/step_0000002.h5
out=$("$M3AE" ckpt verify "$ck" 2>&1); rc=$?
check '[ $rc -eq 0 ] && grep -q "attribute checksum good" <<<"$out"' "the good checkpoint: exit $rc: $out"
sha=$(sha256sum "$CACHE/phantom64/manifest.json" | cut -d" " -f1)
data=$($py -c 'import sys, h5py; print(h5py.File(sys.argv[1], "r").attrs["data"])' "$ck")
check 'grep -q "phantom64: 64 samples, manifest sha256 $sha" <<<"$data"' "the data attribute is '$data'"

# edited in place with h5py: the whole-file checksum is written again over the edit, so that the
# check under test (not the whole-file one, tests/checkpoints/test_whole_file.sh) sees the change
reseal() { $py -c 'import sys; sys.path.insert(0, sys.argv[1]); import convert_checkpoint as c; c.write_whole_file_block(sys.argv[2])' "$SRC/tools" "$1"; }
cp "$ck" "$W/flipped.h5"
$py - "$W/flipped.h5" <<'PY' || { echo "FAIL: flipping with h5py"; exit 1; }
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    f.attrs.modify("step", f.attrs["step"] ^ 1)
PY
reseal "$W/flipped.h5" || { echo "FAIL: resealing"; exit 1; }
out=$("$M3AE" ckpt verify "$W/flipped.h5" 2>&1); rc=$?
check '[ $rc -eq 4 ] && grep -q "attribute checksum" <<<"$out"' "a flipped step: exit $rc, expected 4: $out"
out=$("$M3AE" ckpt inspect "$W/flipped.h5" 2>&1); rc=$?
check '[ $rc -eq 4 ] && grep -q "attribute checksum" <<<"$out"' "inspect of a flipped step: exit $rc: $out"
cp "$W/flipped.h5" "$ck"
pretrain "$W/run" max_steps=4 >"$W/resume.log" 2>&1; rc=$?
check '[ $rc -eq 4 ] && grep -q "attribute checksum" "$W/resume.log"' "resume from a flipped step: exit $rc: $(tail -3 "$W/resume.log")"
check '! grep -q "resuming" "$W/resume.log"' "it resumed from a flipped step"

cp "$W/flipped.h5" "$W/old.h5"
$py - "$W/old.h5" <<'PY' || { echo "FAIL: h5py"; exit 1; }
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    f.attrs.modify("step", f.attrs["step"] ^ 1)
    del f.attrs["attr_sha256"]
PY
reseal "$W/old.h5" || { echo "FAIL: resealing"; exit 1; }
out=$("$M3AE" ckpt verify "$W/old.h5" 2>&1); rc=$?
check '[ $rc -eq 0 ] && grep -q "no attribute checksum (written by an older m3ae" <<<"$out"' "a file without the checksum: exit $rc: $out"
[ $fail -eq 0 ] && echo "attribute checksum test passed"
exit $fail
