#!/bin/bash
# normalize_word: the C port (io/answers.c) against the Python reference written from the official
# code (tools/reference/normalize_word.py) on every answer of the real VQA-RAD training file (1,797).
set -u
DATA=${M3AE_DATA:-../shared/data}
SRC=${M3AE_SOURCE_DIR:?}
BIN=${1:?usage: test_normalize.sh TEST_ANSWERS_BINARY}
PY=/usr/bin/python3
[ -f "$DATA/vqa_rad/trainset.json" ] || { echo "SKIPPED: $DATA/vqa_rad missing"; [ -n "${CI:-}" ] && exit 1; exit 77; }
[ -x $PY ] || { echo "SKIPPED: no /usr/bin/python3"; exit 77; }
T=$(mktemp -d /tmp/m3ae_test_normalize_XXXXXX)
trap 'rm -rf "$T"' EXIT
$PY "$SRC/tools/reference/normalize_word.py" --vqa-rad "$DATA/vqa_rad/trainset.json" > "$T/ref.jsonl" || exit 1
# the reference itself on the official quirks (so a broken reference cannot pass)
$PY - "$SRC/tools/reference" <<'PYEOF' || exit 1
import sys; sys.path.insert(0, sys.argv[1]); from normalize_word import normalize_answer as n
cases = {"Yes": "yes", "The left lung.": "left lung", "1,000 x-ray": "1000 xray", "2.5 cm.": "2.5 cm",
         "left-sided": "left sided", "left - sided": "left sided", "none": "0", "." * 40 + "a": "." * 8 + "a"}
bad = [(k, n(k), v) for k, v in cases.items() if n(k) != v]
assert not bad, bad
PYEOF
"$BIN" "$T/ref.jsonl" 1797
