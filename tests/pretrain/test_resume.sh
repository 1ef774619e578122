#!/bin/bash
# Exact resume: 6 steps in one go, and 3 steps + stop + 3 more from the checkpoint, end with
# bitwise-identical weights and AdamW moments (h5diff). Also: h5py lists the official names, and
# `m3ae ckpt inspect/verify/release` work on the result.
source "$(dirname "$0")/common.sh"
phantom_data phantom64 64 11
W=$(mktemp -d /tmp/m3ae-resume-XXXXXX); trap 'rm -rf "$W"' EXIT
pretrain "$W/a" max_steps=6 ckpt_every=3 >"$W/a.log" 2>&1 || { echo "FAIL: run a"; tail -20 "$W/a.log"; exit 1; }
pretrain "$W/b" max_steps=6 ckpt_every=3 stop_after=3 >"$W/b1.log" 2>&1 || { echo "FAIL: run b, part 1"; tail -20 "$W/b1.log"; exit 1; }
check 'grep -q "stopped after step 3" "$W/b1.log"' "run b did not stop after step 3"
check '[ ! -e "$W/b/checkpoints/step_0000006.h5" ]' "run b went past its stop"
pretrain "$W/b" max_steps=6 ckpt_every=3 >"$W/b2.log" 2>&1 || { echo "FAIL: run b, part 2"; tail -20 "$W/b2.log"; exit 1; }
check 'grep -q "resuming .* step 3" "$W/b2.log"' "run b did not resume from step 3"
A=$W/a/checkpoints/step_0000006.h5 B=$W/b/checkpoints/step_0000006.h5
for g in /model /optimizer/exp_avg /optimizer/exp_avg_sq; do
  out=$(h5diff "$A" "$B" "$g" "$g" 2>&1); rc=$?
  check '[ $rc -eq 0 ]' "resumed run differs from the straight run in $g: $(head -5 <<<"$out")"
done
la=$(grep '"step": 6,' "$W/a/metrics.jsonl" | grep -o '"loss": [^,]*')
lb=$(grep '"step": 6,' "$W/b/metrics.jsonl" | tail -1 | grep -o '"loss": [^,]*')
check '[ -n "$la" ] && [ "$la" = "$lb" ]' "the step-6 losses differ: $la vs $lb"
# checkpoint tools on a real run
"$M3AE" ckpt inspect "$A" >"$W/inspect.txt" 2>&1; check '[ $? -eq 0 ] && grep -q "step 6" "$W/inspect.txt" && grep -q "vocab_size = 50265" "$W/inspect.txt"' "ckpt inspect: $(head -5 "$W/inspect.txt")"
"$M3AE" ckpt verify "$A" >"$W/verify.txt" 2>&1; check '[ $? -eq 0 ]' "ckpt verify: $(cat "$W/verify.txt")"
"$M3AE" ckpt release "$A" --out "$W/rel.h5" --bf16 >"$W/rel.txt" 2>&1; check '[ $? -eq 0 ] && [ -s "$W/rel.md" ]' "ckpt release: $(cat "$W/rel.txt")"
check '(cd "$W" && sha256sum -c rel.sha256 >/dev/null)' "release checksum does not verify"
pretrain "$W/c" max_steps=1 warmup_steps=0 --init-from "$W/rel.h5" >"$W/c.log" 2>&1 || true
check 'grep -q "initialised the weights from" "$W/c.log"' "--init-from the release failed: $(tail -3 "$W/c.log")"
if /usr/bin/python3 -c "import h5py" 2>/dev/null; then
  /usr/bin/python3 - "$A" <<'PY' || fail=1
import sys, h5py
f = h5py.File(sys.argv[1], "r")
names = set(f["model"].keys())
for k in ["vision_encoder.visual.transformer.resblocks.1.attn.in_proj_weight",
          "language_encoder.encoder.layer.0.attention.self.query.weight",
          "multi_modal_vision_layers.1.crossattention.self.key.bias", "mim_head.decoder_pred.weight",
          "itm_head.fc.weight", "mlm_head.decoder.weight"]:
    assert k in names, "missing " + k
assert "vision_encoder.visual.conv1.weight" in f["optimizer/exp_avg"]
print("h5py lists", len(names), "official tensor names")
PY
elif [ -n "${CI:-}" ]; then echo "FAIL: python3-h5py missing"; fail=1; fi
[ $fail -eq 0 ] && echo "exact-resume test passed"
exit $fail
