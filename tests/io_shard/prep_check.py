"""Independent check of `m3ae prep --format jsonl` output (stdlib only, run by test_prep_medpix.sh).

Computes the expected records and samples from the jsonl itself (cleaning rule of spec 3.3,
grouping by image, min words, missing images), reads every shard with `mdb_dump` and decodes the
records per io/FORMAT.md, and compares: counts, image ids, captions (exactly, in order), image
sizes (shorter side = store size), the index and schema records and manifest.json.
usage: prep_check.py JSONL DATASET STORE_SIZE SHARDS MIN_WORDS"""
import json, os, re, struct, subprocess, sys

jsonl, ds, store, nshards, min_words = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
base = os.path.dirname(jsonl)

def clean(t):
    return re.sub(r"\s+", " ", t.strip())

items, order, texts = {}, [], 0
for line in open(jsonl, encoding="utf-8"):
    if not line.strip():
        continue
    d = json.loads(line)
    caps = [d["caption"]] if "caption" in d else d["captions"]
    img = d["image"]
    for c in caps:
        texts += 1
        if img not in items:
            items[img] = []
            order.append(img)
        c = clean(c)
        if len(c.split()) >= min_words:
            items[img].append(c)

n = len(order)
expected = []  # per shard: list of (image, captions)
for k in range(nshards):
    b, e = n * k // nshards, n * (k + 1) // nshards
    expected.append([(img, items[img]) for img in order[b:e]
                     if items[img] and os.path.exists(os.path.join(base, img))])
exp_records = sum(len(s) for s in expected)
exp_samples = sum(len(c) for s in expected for _, c in s)

man = json.load(open(os.path.join(ds, "manifest.json")))
fails = []
def check(cond, msg):
    if not cond:
        fails.append(msg)

check(man["format"] == "m3ae-dataset" and man["format_version"] == 1, "manifest format")
check(man["records"] == exp_records, f"records {man['records']} != expected {exp_records}")
check(man["samples"] == exp_samples, f"samples {man['samples']} != expected {exp_samples}")
check(man["rejected"] == texts - exp_samples, f"rejected {man['rejected']} != {texts - exp_samples}")
check(len(man["shards"]) == nshards, "shard count")

def dump(path):
    out = subprocess.run(["mdb_dump", path], check=True, capture_output=True).stdout.decode().split("\n")
    i = out.index("HEADER=END") + 1
    kv = []
    while out[i] != "DATA=END":
        kv.append((bytes.fromhex(out[i].strip()), bytes.fromhex(out[i + 1].strip())))
        i += 2
    return kv

nrec = 0
for k, sh in enumerate(man["shards"]):
    kv = dump(os.path.join(ds, sh["name"]))
    exp = expected[k]
    check(len(kv) == len(exp) + 2, f"{sh['name']}: {len(kv)} keys, expected {len(exp)} + 2")
    check(sh["records"] == len(exp) and sh["samples"] == sum(len(c) for _, c in exp), f"{sh['name']} counts")
    schema = json.loads(kv[-1][1])
    check(kv[-1][0] == b"\xff" * 8 and kv[-2][0] == b"\xff" * 7 + b"\xfe", "metadata keys")
    check(schema["records"] == len(exp) and schema["store_size"] == store and
          schema["checksum"] == sh["checksum"] and schema["format_version"] == 1, f"{sh['name']} schema {schema}")
    index = struct.unpack("<%dI" % len(exp), kv[-2][1])
    for r, ((key, val), (img, caps)) in enumerate(zip(kv[:-2], exp)):
        nrec += 1
        check(key == struct.pack(">Q", r), f"key {key.hex()} != {r}")
        (magic, ver, hsize, h, w, ch, pt, ncap, flags, label, idlen, textlen) = struct.unpack_from("<4sHHIIHHIIiII", val)
        check(magic == b"M3AR" and ver == 1 and hsize == 40 and ch == 3 and pt == 1, f"header of key {r}")
        check(min(h, w) == store, f"key {r}: image {w}x{h}, shorter side should be {store}")
        pos = 40
        image_id = val[pos:pos + idlen].decode()
        pos += idlen
        lens = struct.unpack_from("<%dI" % ncap, val, pos)
        pos += 4 * ncap
        got = []
        for L in lens:
            got.append(val[pos:pos + L].decode("utf-8"))
            pos += L
        check(image_id == img, f"key {r}: image {image_id} != {img}")
        check(got == caps, f"key {r} ({img}): captions {got!r} != {caps!r}")
        check(index[r] == ncap, f"index of key {r}")
        check(pos + h * w * 3 + 4 == len(val) and flags == 0, f"key {r}: record size")
check(nrec == exp_records, "records decoded")
for f in fails[:20]:
    print("FAIL", f)
print(f"prep_check {jsonl}: {exp_records} records, {exp_samples} samples, {texts} texts, {len(fails)} failures")
sys.exit(1 if fails else 0)
