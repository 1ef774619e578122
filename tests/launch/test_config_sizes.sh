#!/bin/bash
# Sizes are checked before allocation: absurd batch or image sizes stop `m3ae pretrain` at once with
# exit 2, the key named and the memory it would need (batch_size=1e9 once crashed in the loader's
# allocation); the usual configurations still pass validation (they go on to the data: exit 3 here).
source "$(dirname "$0")/../pretrain/common.sh" # M3AE, SRC, VOCAB, check, fail (skips without the vocabulary)
m3ae=$M3AE src=$SRC vocab=$VOCAB
W=$(mktemp -d /tmp/m3ae-sizes-XXXXXX); trap 'rm -rf "$W"' EXIT
tiny=$src/experiments/configs/pretrain_tiny.cfg
expect() { # expect CODE PATTERN ARGS...: the command exits CODE within 20 s, stderr matches PATTERN
  local code=$1 pat=$2; shift 2
  local t0=$SECONDS out rc
  out=$(timeout 60 "$m3ae" pretrain --data "$W/no-data" --out "$W/run" vocab="$vocab" max_steps=2 warmup_steps=0 "$@" 2>&1); rc=$?
  local mem=.; [ "$code" -eq 2 ] && mem="needs (at least )?[0-9.]+ (GiB|TiB|PiB)"
  check '[ $rc -eq $code ] && grep -Eq "$pat" <<<"$out" && grep -Eq "$mem" <<<"$out" && [ $((SECONDS - t0)) -le 20 ]' \
    "$* -> exit $rc in $((SECONDS - t0)) s (expected $code, /$pat/): $out"
}
expect 2 "batch_size = 1000000000" batch_size=1e9 per_gpu_batchsize=1
expect 2 "batch_size = 1000000000" --config "$tiny" batch_size=1e9 per_gpu_batchsize=1
expect 2 "per_gpu_batchsize = 1000000" --config "$tiny" batch_size=1e6 per_gpu_batchsize=1e6
expect 2 "per_gpu_batchsize = 4096" --config "$tiny" image_size=4096 patch_size=16 batch_size=4096 \
  per_gpu_batchsize=4096
for cfg in pretrain_tiny pretrain_small pretrain_base; do
  expect 3 "no-data" --config "$src/experiments/configs/$cfg.cfg"
done
[ $fail -eq 0 ] && echo "configuration size tests passed"
exit $fail
