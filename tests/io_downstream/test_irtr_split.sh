#!/bin/bash
# Drives test_irtr_split (argv[1] its binary) on the MedPix-2.0 test split prepared here.
set -u
BIN=$1
M3AE=${M3AE_BIN:?}
SRC=${M3AE_SOURCE_DIR:?}
DATA=${M3AE_DATA:-$SRC/../shared/data}
IN=$DATA/medpix2/test.jsonl
[ -f "$IN" ] || { echo "SKIPPED: $IN missing"; [ -n "${CI:-}" ] && exit 1; exit 77; }
W=$(mktemp -d /tmp/m3ae-irtr-split-XXXXXX); trap 'rm -rf "$W"' EXIT
"$M3AE" prep --format jsonl --input "$IN" --out "$W/test" --store-size 32 --min-words 1 --threads 1 --quiet \
  >"$W/prep.log" 2>&1 || { echo "FAIL: prep: $(cat "$W/prep.log")"; exit 1; }
"$M3AE" prep --format jsonl --input "$IN" --out "$W/case" --store-size 32 --min-words 1 --threads 1 --quiet \
  --group-key case >"$W/prep_case.log" 2>&1 || { echo "FAIL: prep --group-key case: $(cat "$W/prep_case.log")"; exit 1; }
"$BIN" "$W/test" "$DATA/vocab/roberta-base" "$W/case"
