#!/bin/bash
# Validation runs the task's own passes: with objective = joint it runs JOINT + ITM (forward only),
# prints and writes MLM and MIM validation metrics from the JOINT pass. Both runs take one step at
# the warm-up's learning rate 0, so they validate the same weights: the ITM numbers agree, and the
# MLM loss differs (the JOINT pass sees a masked image; the separate MLM pass the whole image).
source "$(dirname "$0")/common.sh"
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-jointval-XXXXXX); trap 'rm -rf "$W"' EXIT
for o in joint separate; do
  pretrain "$W/$o" --val-data "$CACHE/phantom64" objective=$o max_steps=2 warmup_steps=2 stop_after=1 val_every=1 val_batches=2 \
    ckpt_every=0 >"$W/$o.log" 2>&1 || { echo "FAIL: the $o run"; tail -20 "$W/$o.log"; exit 1; }
done
check 'grep -q "^validation at step 1: mlm_acc [0-9.]*  itm_acc [0-9.]*  mim_loss [0-9.]*  (mlm_loss [0-9.]*, itm_loss [0-9.]*)$" "$W/joint.log"' \
  "no validation line in the joint run: $(grep validation "$W/joint.log")"
/usr/bin/python3 - "$W" <<'PY' || fail=1
import json, sys
w = sys.argv[1]
val = {}
for o in ("joint", "separate"):
    rows = [json.loads(l) for l in open(f"{w}/{o}/metrics.jsonl") if '"val"' in l]
    assert len(rows) == 1 and rows[0]["step"] == 1, f"{o}: validation rows {rows}"
    val[o] = rows[0]
    for k in ("val_mlm_acc", "val_itm_acc", "val_mim_loss", "val_mlm_loss", "val_itm_loss"):
        assert k in val[o], f"{o}: {k} missing in {val[o]}"
j, s = val["joint"], val["separate"]
assert j["val_mim_loss"] > 0 and j["val_mlm_loss"] > 0, f"joint validation without MLM / MIM losses: {j}"
assert j["val_itm_loss"] == s["val_itm_loss"], f"the ITM pass differs (different weights?): {j} vs {s}"
assert j["val_mlm_loss"] != s["val_mlm_loss"], f"joint validated with the separate MLM pass: {j} vs {s}"
print(f"joint validation: mlm_loss {j['val_mlm_loss']} (separate {s['val_mlm_loss']}), mim_loss {j['val_mim_loss']}")
PY
[ $fail -eq 0 ] && echo "joint-validation test passed"
exit $fail
