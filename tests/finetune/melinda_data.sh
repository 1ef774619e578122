# Sourced by the classification tests (after tests/pretrain/common.sh): melinda_data DIR SEED writes a
# synthetic MELINDA release of 60 phantom scans (make_melinda.py: 40 train, 16 dev, 4 test; class =
# body region) under DIR/mel, its class counts to DIR/counts.json, and converts it with m3ae prep:
# DIR/train (train.csv) and DIR/held (dev.csv, --split val, the training vocabulary).
melinda_data() {
  local w=$1 seed=$2
  "$M3AE" phantom --out "$w/ph" --count 60 --seed "$seed" --size 48 >/dev/null || { echo "FAIL: phantom"; exit 1; }
  /usr/bin/python3 "$SRC/tests/finetune/make_melinda.py" "$w/ph" "$w/mel" 40 16 >"$w/counts.json" ||
    { echo "FAIL: make_melinda.py"; exit 1; }
  local p=(--input "$w/mel" --store-size 48 --threads 1 --quiet)
  "$M3AE" prep --format melinda "${p[@]}" --out "$w/train" >"$w/prep.log" 2>&1 &&
  "$M3AE" prep --format melinda "${p[@]}" --split val --answer-vocab "$w/train" --out "$w/held" >>"$w/prep.log" 2>&1 ||
    { echo "FAIL: prep: $(cat "$w/prep.log")"; exit 1; }
}
