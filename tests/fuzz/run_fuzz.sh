#!/bin/bash
# Builds the libFuzzer targets of tests/fuzz/ with clang (address + undefined sanitizers) and runs
# them for SECONDS seconds in all, shared equally (at least 2 s each): the record and schema parser,
# a shard's LMDB pages (patched bytes), the tokenizer, the JSON parser, the three image decoders, the
# HDF5 checkpoint reader (patched bytes of a real checkpoint: refused by its whole-file checksum; the
# target behind a valid checksum is described below), the configuration parser and the dataset
# manifest. Each first replays its committed regression inputs (tests/fuzz/regressions/
# NAME/: inputs that once crashed). Fails on any crash, sanitizer report or leak. Seeds: committed
# fixtures.
#   run_fuzz.sh SECONDS GENERATED_INCLUDE_DIR
set -u
total=$1 gen=$2
src=${M3AE_SOURCE_DIR:?}
data=${M3AE_DATA:-$src/../shared/data}
if ! command -v clang >/dev/null; then
  [ -n "${CI:-}" ] && { echo "FAIL: clang is missing (tools/setup.sh --test installs it)"; exit 1; }
  echo "SKIPPED: clang is not installed (tools/setup.sh --test)"; exit 77
fi
W=$(mktemp -d /tmp/m3ae-fuzz-XXXXXX); trap 'rm -rf "$W"' EXIT
cflags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c17
        -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I"$src" -I"$gen" -w)
# two compilers at a time (the suite's -j2), so that nine targets build in about the time of six
pids=()
wait_builds() { local p; for p in "${pids[@]}"; do wait "$p" || fail=1; done; pids=(); }
build() { # build NAME SOURCES... LIBS...
  local name=$1; shift
  ( clang "${cflags[@]}" "$@" -o "$W/$name" >"$W/$name.build.log" 2>&1 ||
      { echo "FAIL: building $name"; tail -20 "$W/$name.build.log"; exit 1; } ) &
  pids+=($!)
  [ ${#pids[@]} -lt 2 ] || wait_builds
}
common=("$src/common/error.c" "$src/common/rng.c" "$src/common/json.c")
img=("$src"/io/image_decode.c "$src"/io/image_tiff.c "$src"/io/image_png.c "$src"/io/image_jpeg.c
     "$src"/io/image_resize.c "$src"/io/image_transform.c)
h5flags=($(pkg-config --cflags --libs hdf5 2>/dev/null || echo -I/usr/include/hdf5/serial -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5))
fail=0
build record "$src/tests/fuzz/fuzz_record.c" "$src/io/shard.c" "$src/io/shard_check.c" "$src/io/crc32c.c" "${common[@]}" -llmdb -lm || fail=1
build shard "$src/tests/fuzz/fuzz_shard.c" "$src/io/shard.c" "$src/io/shard_check.c" "$src/io/crc32c.c" "${common[@]}" \
  -llmdb -lm || fail=1
build json "$src/tests/fuzz/fuzz_json.c" "${common[@]}" -lm || fail=1
build tokenizer "$src/tests/fuzz/fuzz_tokenizer.c" "$src/io/tokenizer.c" "${common[@]}" -lutf8proc -lpthread -lm || fail=1
build image "$src/tests/fuzz/fuzz_image.c" "${img[@]}" "${common[@]}" -ltiff -lpng -ljpeg -lz -lpthread -lm || fail=1
ckpt_src=("$src/tests/fuzz/fuzz_ckpt.c" "$src/checkpoints/ckpt.c" "$src/checkpoints/h5file.c" "$src/checkpoints/h5file_sum.c"
          "$src/model/registry.c" "$src/common/log.c" "$src/common/sys.c" "$src/common/sha256.c" "${common[@]}")
build ckpt "${ckpt_src[@]}" "${h5flags[@]}" -lm || fail=1
build ckpt_sealed -DFUZZ_CKPT_SEALED "${ckpt_src[@]}" "${h5flags[@]}" -lm || fail=1
build config "$src/tests/fuzz/fuzz_config.c" "$src/launch/train_config.c" "$src/model/config.c" "$src/common/text.c" \
  "${common[@]}" -lm || fail=1
build manifest "$src/tests/fuzz/fuzz_manifest.c" "$src/io/manifest.c" "$src/common/sys.c" "${common[@]}" -lm || fail=1
wait_builds
[ $fail -eq 0 ] || exit 1

mkdir -p "$W/seed-image" "$W/seed-text" "$W/seed-record"
cp "$src"/tests/io_image/fixtures/synth/* "$W/seed-image/" 2>/dev/null
for f in grey8.tif palette.tif color8-lzw.tif tile_rgb_deflate.tif; do cp "$data/tiff/$f" "$W/seed-image/" 2>/dev/null; done
printf 'Axial CT of the chest shows a large lesion.' >"$W/seed-text/a"
printf '{"image": "a.png", "captions": ["x", "y\\u00e9"], "n": [1, 2.5e3, true, null]}' >"$W/seed-text/b"
export M3AE_VOCAB=$data/vocab/roberta-base ASAN_OPTIONS=detect_leaks=1
# The checkpoint reader has two targets (tests/fuzz/fuzz_ckpt.c). `ckpt` is the real read path: a
# damaged file is refused by the whole-file checksum (checkpoints/h5file_sum.c) before libhdf5 parses
# it; it runs here, and replays regressions/ckpt/, the inputs that crashed libhdf5 1.10.8 before that
# check existed (SEGV in H5_checksum_fletcher32 while reading a chunk, a 4 GB allocation).
# `ckpt_sealed` re-seals the block over the damage so that libhdf5's parse of damaged content is
# fuzzed: libhdf5 1.10.8 still crashes there, on those same inputs (m3ae cannot prevent it without
# parsing HDF5 itself), so it stays out of the timed runs and deterministic; M3AE_FUZZ_CKPT=1 runs it
# (with a newer libhdf5, to see whether the library survives), and it is built either way so that it
# keeps compiling.
fuzz_sealed=${M3AE_FUZZ_CKPT:-0}
targets=$((8 + fuzz_sealed))
[ -f "$M3AE_VOCAB/vocab.json" ] || targets=$((targets - 1))
secs=$((total / targets)); [ $secs -ge 2 ] || secs=2
run() { # run NAME CORPUS
  local log="$W/$1.log" reg="$src/tests/fuzz/regressions/$1"
  # libhdf5's own error-path leaks are not m3ae's (see fuzz_ckpt.c); every other target: none at all
  if [ "$1" = ckpt ] || [ "$1" = ckpt_sealed ]; then export LSAN_OPTIONS=suppressions=$src/tests/fuzz/lsan_hdf5.supp; else unset LSAN_OPTIONS; fi
  if [ -d "$reg" ] && [ -n "$(ls -A "$reg")" ]; then # the inputs that once crashed, each once
    if ! "$W/$1" "$reg"/* >"$W/$1.reg.log" 2>&1; then
      echo "FAIL: $1 crashes again on a regression input of $reg"; grep -E "ERROR|SUMMARY|Running" "$W/$1.reg.log" | head -20
      fail=1; return
    fi
  fi
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
mkdir -p "$W/seed-ckpt" "$W/seed-config" "$W/seed-manifest"
printf '\x30\x00\x00\x00\x01' >"$W/seed-ckpt/a"
cp "$src"/experiments/configs/*.cfg "$W/seed-config/" 2>/dev/null
printf 'preset = tiny\nbatch_size=8\nper_gpu_batchsize = 4\n# c\nlearning_rate = 1e-3\n' >"$W/seed-config/a"
printf '{"format": "m3ae-dataset", "format_version": 1, "source": "jsonl", "input": "x.jsonl", "store_size": 32, "records": 3, "samples": 4, "rejected": 0, "shards": [{"name": "shard-00000", "records": 2, "samples": 3, "bytes": 16384, "checksum": "crc32c:0a1b2c3d"}, {"name": "shard-00001", "records": 1, "samples": 1, "bytes": 16384, "checksum": "crc32c:ffffffff"}]}' >"$W/seed-manifest/a"
run ckpt seed-ckpt
if [ "$fuzz_sealed" = 1 ]; then run ckpt_sealed seed-ckpt
else echo "fuzz ckpt_sealed: left out (libhdf5 1.10.8 crashes on damaged content behind a valid block; M3AE_FUZZ_CKPT=1 runs it)"; fi
run config seed-config
run manifest seed-manifest
[ $fail -eq 0 ] && echo "fuzzing passed"
exit $fail
