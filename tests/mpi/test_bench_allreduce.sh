#!/bin/bash
# m3ae bench allreduce under mpirun at 2 ranks on small sizes: every algorithm passes its check
# against MPI_Allreduce, the table has a row per size with the ring/mpi column, and --json writes one
# row per size and algorithm with the nccl-tests fields (busbw = algbw at 2 ranks). Nothing is timed.
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
out=$(timeout 120 mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader -np 2 \
      "$M3AE_BIN" bench allreduce --min 4 --max 64K --step 4 --iters 2 --warmup 0 --chunk 100 --window 3 \
      --json "$tmp/ar.json" 2>&1); rc=$?
echo "$out"
[ $rc -eq 0 ] || { echo "FAIL: exit code $rc"; fail=1; }
rows=$(grep -cE '^\| [0-9]+ \|' <<<"$out")
[ "$rows" -eq 8 ] || { echo "FAIL: $rows table rows, expected 8 (4 B .. 64 KiB by 4)"; fail=1; }
grep -q 'ring / mpi busbw' <<<"$out" || { echo "FAIL: no ring / mpi column"; fail=1; }
/usr/bin/python3 - "$tmp/ar.json" <<'PY' || fail=1
import json, sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == 24, f"{len(rows)} JSON rows, expected 8 sizes x 3 algorithms"
for r in rows:
    assert set(r) == {"algo", "bytes", "ranks", "time_us", "algbw_gbs", "busbw_gbs"}, r
    assert r["algo"] in ("ring", "hier", "mpi") and r["ranks"] == 2 and r["time_us"] > 0, r
    assert abs(r["algbw_gbs"] - r["bytes"] / r["time_us"] / 1e3) <= 1e-3 * r["algbw_gbs"] + 1e-6, r
    assert abs(r["busbw_gbs"] - r["algbw_gbs"]) <= 1e-6 + 1e-6 * r["algbw_gbs"], r  # 2(n-1)/n = 1 at n = 2
print("json rows ok")
PY
out=$("$M3AE_BIN" bench allreduce --algo ring,bogus 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "bogus" <<<"$out" || { echo "FAIL: a bad --algo gave exit $rc: $out"; fail=1; }
[ $fail -eq 0 ] && echo "bench allreduce test passed"
exit $fail
