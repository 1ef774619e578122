#!/bin/bash
# Any configuration the trainer accepts round-trips through tools/convert_checkpoint.py and `m3ae
# ckpt verify`: a tiny run with hidden_size = 48 (sizes of no preset) is exported to PyTorch (to-pt)
# and converted back (to-h5), which writes `preset = custom`; verify and inspect accept the result
# (exit 0; they once rejected it with exit 4 although every checksum was good) and the trainer starts
# from it with --init-from. Needs torch in PATH python3 (skipped otherwise: the parsing of
# `preset = custom` itself is in test_train_config).
source "${M3AE_SOURCE_DIR:?}/tests/pretrain/common.sh"
if ! python3 -c "import torch" 2>/dev/null; then echo "SKIPPED: python3 has no torch"; exit 77; fi
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-custom-XXXXXX); trap 'rm -rf "$W"' EXIT
pretrain "$W/run" max_steps=1 warmup_steps=0 hidden_size=48 >"$W/train.log" 2>&1 || { tail -5 "$W/train.log"; echo "FAIL: training"; exit 1; }
ck=$W/run/checkpoints/step_0000001.h5
out=$("$M3AE" ckpt verify "$ck" 2>&1); check '[ $? -eq 0 ]' "verify of the trained checkpoint: $out"
conv=$SRC/tools/convert_checkpoint.py
python3 "$conv" to-pt "$ck" --out "$W/x.ckpt" >"$W/to-pt.log" 2>&1 || { cat "$W/to-pt.log"; echo "FAIL: to-pt"; exit 1; }
python3 "$conv" to-h5 "$W/x.ckpt" --out "$W/back.h5" >"$W/to-h5.log" 2>&1 || { cat "$W/to-h5.log"; echo "FAIL: to-h5"; exit 1; }
check 'h5dump -a config "$W/back.h5" | grep -q "preset *= custom"' "the converter no longer writes preset = custom (the test needs it)"
out=$("$M3AE" ckpt verify "$W/back.h5" 2>&1); rc=$?
check '[ $rc -eq 0 ] && grep -q "custom model is present" <<<"$out"' "verify of the converted checkpoint: exit $rc: $out"
out=$("$M3AE" ckpt inspect "$W/back.h5" 2>&1); rc=$?
check '[ $rc -eq 0 ] && grep -q "hidden_size *= 48" <<<"$out"' "inspect of the converted checkpoint: exit $rc: $(head -5 <<<"$out")"
pretrain "$W/init" max_steps=1 warmup_steps=0 hidden_size=48 --init-from "$W/back.h5" >"$W/init.log" 2>&1; rc=$?
check '[ $rc -eq 0 ] && grep -q "initialised the weights from" "$W/init.log"' "--init-from the converted file: exit $rc: $(tail -3 "$W/init.log")"
[ $fail -eq 0 ] && echo "custom preset round-trip test passed"
exit $fail
