#!/bin/bash
# `m3ae tokenize`: ids of stdin lines (expected ids from Hugging Face RobertaTokenizerFast), padding
# with --max-len, help and error exit codes.
set -u
BIN=${M3AE_BIN:?M3AE_BIN is not set}
DATA=${M3AE_DATA:-../shared/data}
VOCAB=$DATA/vocab/roberta-base
if [ ! -f "$VOCAB/vocab.json" ]; then
    [ -n "${CI:-}" ] && { echo "FAIL: $VOCAB missing"; exit 1; }
    echo "SKIPPED: $VOCAB missing (set M3AE_DATA)"; exit 77
fi
fail=0
check() { # name, got, want
    if [ "$2" != "$3" ]; then echo "FAIL $1: got '$2' want '$3'"; fail=1; else echo "ok   $1"; fi
}

got=$(printf "hello world\na <mask> b\n'S it's\n\n" | "$BIN" tokenize --vocab "$VOCAB")
want=$'0 42891 232 2\n0 102 50264 741 2\n0 108 104 24 18 2\n0 2'
check "ids" "$got" "$want"

got=$(printf "hello world\n" | "$BIN" tokenize --vocab "$VOCAB" --max-len 8)
check "padding" "$got" "0 42891 232 2 1 1 1 1"
got=$(printf "one two three four five six" | "$BIN" tokenize --vocab "$VOCAB" --max-len 5)
check "truncation (no final newline)" "$got" "0 1264 80 130 2"
got=$(printf 'caf\xe9\n' | "$BIN" tokenize --vocab "$VOCAB")
check "invalid UTF-8 as U+FFFD" "$got" "0 438 2001 21955 2"

"$BIN" tokenize --help | grep -q -- "--max-len" ; check "help" "$?" "0"
"$BIN" tokenize < /dev/null 2>/dev/null; check "no --vocab exits 2" "$?" "2"
"$BIN" tokenize --vocab "$VOCAB" --max-len 1 < /dev/null 2>/dev/null; check "--max-len 1 exits 2" "$?" "2"
err=$("$BIN" tokenize --vocab /nonexistent < /dev/null 2>&1); rc=$?
check "missing vocab exits 3" "$rc" "3"
case "$err" in *vocab.json*) check "error names the file" 1 1 ;; *) check "error names the file" "$err" "...vocab.json..." ;; esac
"$BIN" help 2>&1 | grep -q "tokenize"; check "listed in m3ae help" "$?" "0"
exit $fail
