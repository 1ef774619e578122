#!/bin/bash
# A full disk while writing a checkpoint: a run on a small tmpfs writes its first checkpoint, fails on
# the second with a clear error (exit 5) and leaves `latest` pointing at the whole first checkpoint,
# with no temporary file behind. Needs root (mount); skipped with the reason otherwise.
source "$(dirname "$0")/common.sh"
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-full-XXXXXX)
mkdir -p "$W/disk"
# one tiny checkpoint (weights + two moments) is about 46 MB: room for one and a half
if ! mount -t tmpfs -o size=70m tmpfs "$W/disk" 2>"$W/mount.err"; then
  rm -rf "$W"
  echo "SKIPPED: cannot mount a small tmpfs to fill ($(cat "$W/mount.err" 2>/dev/null)); needs root"
  exit 77
fi
trap 'umount "$W/disk" 2>/dev/null; rm -rf "$W"' EXIT
out=$(pretrain "$W/disk/run" max_steps=4 ckpt_every=1 keep_last=0 2>&1); rc=$?
echo "$out" | grep -E "checkpoint|error" | head -5
check '[ $rc -eq 5 ]' "exit code $rc, expected 5 (system: disk full)"
check 'grep -q "disk full" <<<"$out"' "the error does not say that the disk may be full"
check '[ "$(cat "$W/disk/run/checkpoints/latest" 2>/dev/null)" = "step_0000001.h5" ]' "latest does not point at step 1"
check '"$M3AE" ckpt verify "$W/disk/run/checkpoints/step_0000001.h5" >/dev/null 2>&1' "step 1 is not whole"
check '[ -z "$(ls "$W/disk/run/checkpoints" | grep -v -e latest -e step_0000001.h5)" ]' \
  "files left behind: $(ls "$W/disk/run/checkpoints")"
[ $fail -eq 0 ] && echo "full-disk test passed"
exit $fail
