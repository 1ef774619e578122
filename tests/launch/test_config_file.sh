#!/bin/bash
# `m3ae pretrain --config` naming a folder, an empty file, a file of only comments or a binary file
# stops with exit 2 and a message naming the file and what is wrong (it once trained the defaults);
# a valid file is still read (the run goes on to the data, here a missing folder: exit 3).
source "$(dirname "$0")/../pretrain/common.sh" # M3AE, SRC, VOCAB, check, fail (skips without the vocabulary)
m3ae=$M3AE src=$SRC vocab=$VOCAB
W=$(mktemp -d /tmp/m3ae-config-XXXXXX); trap 'rm -rf "$W"' EXIT
mkdir "$W/folder.cfg"
: >"$W/empty.cfg"
printf '# only a comment\n\n   \n' >"$W/comments.cfg"
head -c 4096 /dev/zero >"$W/zeros.cfg"
printf 'preset = tiny\n\x01\x02\x03 = 4\n' >"$W/control.cfg"
cp "$src/tests/io_image/fixtures/synth/$(ls "$src/tests/io_image/fixtures/synth" | grep -m1 '\.png$')" "$W/image.cfg"
run() { # run CONFIG: sets rc and out
  out=$(timeout 60 "$m3ae" pretrain --config "$1" --data "$W/no-data" --out "$W/run" vocab="$vocab" max_steps=1 warmup_steps=0 2>&1)
  rc=$?
}
for c in folder.cfg:folder empty.cfg:empty comments.cfg:empty zeros.cfg:binary control.cfg:binary image.cfg:binary; do
  f=${c%%:*} what=${c##*:}
  run "$W/$f"
  check '[ $rc -eq 2 ] && grep -q "$W/$f" <<<"$out" && grep -q "$what" <<<"$out"' \
    "--config $f: exit $rc (expected 2, naming the file and '$what'): $out"
  check '[ ! -e "$W/run" ]' "--config $f started a run"
done
run "$src/experiments/configs/pretrain_tiny.cfg"
check '[ $rc -eq 3 ] && grep -q "no-data" <<<"$out"' "a valid --config: exit $rc (expected 3 for the missing data): $out"
[ $fail -eq 0 ] && echo "config-file tests passed"
exit $fail
