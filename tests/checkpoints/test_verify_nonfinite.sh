#!/bin/bash
# `m3ae ckpt verify` reports tensors holding NaN or Inf (weights and AdamW moments) by name and exits
# 4; a finite checkpoint still verifies (exit 0). The checkpoint: one step of the tiny model, then
# one weight and one moment poisoned with h5py (all HDF5 checksums stay good).
source "${M3AE_SOURCE_DIR:?}/tests/pretrain/common.sh"
py=/usr/bin/python3
if ! $py -c "import h5py, numpy" 2>/dev/null; then
  [ -n "${CI:-}" ] && { echo "FAIL: Debian python3-h5py missing (tools/setup.sh --test)"; exit 1; }
  echo "SKIPPED: python3-h5py not installed"; exit 77
fi
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-nonfinite-XXXXXX); trap 'rm -rf "$W"' EXIT
pretrain "$W/run" max_steps=1 warmup_steps=0 >"$W/train.log" 2>&1 || { cat "$W/train.log"; echo "FAIL: training"; exit 1; }
ck=$W/run/checkpoints/step_0000001.h5
out=$("$M3AE" ckpt verify "$ck" 2>&1); rc=$?
check '[ $rc -eq 0 ] && grep -q "every value is finite" <<<"$out"' "a finite checkpoint: exit $rc: $out"
# edited in place with h5py: the whole-file checksum is written again over the edit, so that the
# check under test (not the whole-file one, tests/checkpoints/test_whole_file.sh) sees the change
reseal() { $py -c 'import sys; sys.path.insert(0, sys.argv[1]); import convert_checkpoint as c; c.write_whole_file_block(sys.argv[2])' "$SRC/tools" "$1"; }
cp "$ck" "$W/poisoned.h5"
$py - "$W/poisoned.h5" <<'PY' || { echo "FAIL: poisoning with h5py"; exit 1; }
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    w = f["model/mim_head.decoder_pred.bias"]
    a = w[...]; a.flat[3] = np.nan; a.flat[5] = np.inf; w[...] = a
    m = f["optimizer/exp_avg_sq/language_encoder.embeddings.word_embeddings.weight"]
    a = m[...]; a.flat[0] = -np.inf; m[...] = a
PY
reseal "$W/poisoned.h5" || { echo "FAIL: resealing"; exit 1; }
out=$("$M3AE" ckpt verify "$W/poisoned.h5" 2>&1); rc=$?
check '[ $rc -eq 4 ]' "a poisoned checkpoint: exit $rc, expected 4: $out"
check 'grep -q "/model/mim_head.decoder_pred.bias holds 1 NaN and 1 Inf" <<<"$out"' "the poisoned weight is not named: $out"
check 'grep -q "/optimizer/exp_avg_sq/language_encoder.embeddings.word_embeddings.weight holds 0 NaN and 1 Inf" <<<"$out"' \
  "the poisoned moment is not named: $out"
check '! grep -q "/model/language_encoder" <<<"$out"' "a finite tensor is reported: $out"
[ $fail -eq 0 ] && echo "non-finite checkpoint test passed"
exit $fail
