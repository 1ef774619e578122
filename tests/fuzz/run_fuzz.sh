#!/bin/bash
# Builds the libFuzzer targets of tests/fuzz/ with clang (address + undefined sanitizers) and runs
# each for SECONDS seconds: the record and schema parser, a shard's LMDB pages (patched bytes), the
# tokenizer, the JSON parser, the three image decoders. Fails on any crash, sanitizer report or
# leak. Seeds: committed fixtures.
#   run_fuzz.sh SECONDS GENERATED_INCLUDE_DIR
set -u
secs=$1 gen=$2
src=${M3AE_SOURCE_DIR:?}
data=${M3AE_DATA:-$src/../shared/data}
if ! command -v clang >/dev/null; then
  [ -n "${CI:-}" ] && { echo "FAIL: clang is missing (tools/setup.sh --test installs it)"; exit 1; }
  echo "SKIPPED: clang is not installed (tools/setup.sh --test)"; exit 77
fi
W=$(mktemp -d /tmp/m3ae-fuzz-XXXXXX); trap 'rm -rf "$W"' EXIT
cflags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c17
        -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I"$src" -I"$gen" -w)
build() { # build NAME SOURCES... -- LIBS...
  local name=$1; shift
  if ! clang "${cflags[@]}" "$@" -o "$W/$name" >"$W/$name.build.log" 2>&1; then
    echo "FAIL: building $name"; tail -20 "$W/$name.build.log"; return 1
  fi
}
common=("$src/common/error.c" "$src/common/rng.c" "$src/common/json.c")
img=("$src"/io/image_decode.c "$src"/io/image_tiff.c "$src"/io/image_png.c "$src"/io/image_jpeg.c
     "$src"/io/image_resize.c "$src"/io/image_transform.c)
fail=0
build record "$src/tests/fuzz/fuzz_record.c" "$src/io/shard.c" "$src/io/shard_check.c" "$src/io/crc32c.c" "${common[@]}" -llmdb -lm || fail=1
build shard "$src/tests/fuzz/fuzz_shard.c" "$src/io/shard.c" "$src/io/shard_check.c" "$src/io/crc32c.c" "${common[@]}" \
  -llmdb -lm || fail=1
build json "$src/tests/fuzz/fuzz_json.c" "${common[@]}" -lm || fail=1
build tokenizer "$src/tests/fuzz/fuzz_tokenizer.c" "$src/io/tokenizer.c" "${common[@]}" -lutf8proc -lpthread -lm || fail=1
build image "$src/tests/fuzz/fuzz_image.c" "${img[@]}" "${common[@]}" -ltiff -lpng -ljpeg -lz -lpthread -lm || fail=1
[ $fail -eq 0 ] || exit 1

mkdir -p "$W/seed-image" "$W/seed-text" "$W/seed-record"
cp "$src"/tests/io_image/fixtures/synth/* "$W/seed-image/" 2>/dev/null
for f in grey8.tif palette.tif color8-lzw.tif tile_rgb_deflate.tif; do cp "$data/tiff/$f" "$W/seed-image/" 2>/dev/null; done
printf 'Axial CT of the chest shows a large lesion.' >"$W/seed-text/a"
printf '{"image": "a.png", "captions": ["x", "y\\u00e9"], "n": [1, 2.5e3, true, null]}' >"$W/seed-text/b"
export M3AE_VOCAB=$data/vocab/roberta-base ASAN_OPTIONS=detect_leaks=1
run() { # run NAME CORPUS
  local log="$W/$1.log"
  "$W/$1" -max_total_time="$secs" -max_len=8192 -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 "$W/$2" >"$log" 2>&1
  local rc=$?
  local execs; execs=$(grep -o "stat::number_of_executed_units: *[0-9]*" "$log" | grep -o "[0-9]*$")
  if [ $rc -ne 0 ]; then echo "FAIL: fuzzing $1 (exit $rc)"; grep -E "ERROR|SUMMARY|==[0-9]+==" "$log" | head -20; fail=1
  else echo "fuzz $1: ${execs:-?} inputs in ${secs} s, no crash"; fi
}
run record seed-record
mkdir -p "$W/seed-shard"; printf '\x0c\x2f\x00\x00\xfe' >"$W/seed-shard/a"
run shard seed-shard
run json seed-text
[ -f "$M3AE_VOCAB/vocab.json" ] && run tokenizer seed-text
run image seed-image
[ $fail -eq 0 ] && echo "fuzzing passed"
exit $fail
