#!/bin/bash
# `m3ae bench step` on the tiny model: runs, prints the result table row with positive numbers and
# the exact base-independent pieces (registry summary, memory plan); bad options exit 2.
set -u
fail=0
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=1; fi; }
m3ae="$M3AE_BIN"

out=$(OMP_WAIT_POLICY=passive "$m3ae" bench step --config tiny --batch 2 --threads 1 --steps 2 --warmup 1 2>&1); rc=$?
echo "$out"
check '[ $rc -eq 0 ]' "bench step exits $rc"
row=$(grep -E '^\| tiny \| 2 \| 1 \| 2 \|' <<<"$out")
check '[ -n "$row" ]' "no result row for tiny/2/1/2"
ms=$(awk -F'|' '{gsub(/ /,"",$6); print $6}' <<<"$row")
check 'awk -v x="$ms" "BEGIN{exit !(x > 0)}"' "ms/step '$ms' is not positive"
check 'grep -q "total incl. text pooler" <<<"$out"' "no registry summary"
check 'grep -q "activations" <<<"$out"' "no memory report"
check 'grep -Eq "losses of the last step: mlm [0-9.]+ mim [0-9.]+ itm [0-9.]+" <<<"$out"' "no finite losses"

"$m3ae" bench step --config huge >/dev/null 2>&1; rc=$?
check '[ $rc -eq 2 ]' "unknown config exits $rc, expected 2"
"$m3ae" bench step --batch 0 >/dev/null 2>&1; rc=$?
check '[ $rc -eq 2 ]' "--batch 0 exits $rc, expected 2"
"$m3ae" bench step --steps >/dev/null 2>&1; rc=$?
check '[ $rc -eq 2 ]' "--steps without a value exits $rc, expected 2"
h=$("$m3ae" bench step --help); rc=$?
check '[ $rc -eq 0 ] && grep -q "usage: m3ae bench step" <<<"$h"' "--help exits $rc"
exit $fail
