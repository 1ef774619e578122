"""Flips one byte of a shard's data.mdb at many offsets (deterministic) and runs `m3ae prep inspect`
on each copy: the exit code must be 0 (the flip hit unused bytes) or 3 (bad data, with a message
naming the shard), never a signal or another code.
    flip_bytes.py M3AE DATASET_DIR WORK_DIR COUNT"""
import os, random, shutil, subprocess, sys

m3ae, dataset, work, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
copy = os.path.join(work, "copy")
shutil.copytree(dataset, copy)
target = os.path.join(copy, "shard-00000", "data.mdb")
original = open(target, "rb").read()
size, page = len(original), 4096
rng = random.Random(20261201)

def u16(o):
    return original[o] | original[o + 1] << 8


# The B-tree's own bytes first (LMDB 0.9 layout, io/shard_check.c): the page headers of the meta
# pages and of the first data pages, and in each node of the root leaf page (page 2) the low bytes
# of its size, flags and key size and of its overflow page number; then random offsets anywhere.
offsets = [p * page + o for p in range(min(size // page, 4)) for o in range(0, 24, 2)]
leaf = 2 * page
for i in range((u16(leaf + 12) - 16) // 2):
    node = leaf + u16(leaf + 16 + 2 * i)
    offsets += [node, node + 2, node + 4, node + 6, node + 16]
offsets = offsets[:count]
offsets += sorted(rng.randrange(size) for _ in range(count - len(offsets)))
masks = [0xFF, 0x80, 0x01]
codes, bad = {}, []
for i, off in enumerate(offsets):
    b = bytearray(original)
    b[off] ^= masks[i % 3] if i % 4 else rng.randrange(1, 256)
    with open(target, "wb") as f:
        f.write(b)
    r = subprocess.run([m3ae, "prep", "inspect", copy], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=60)
    codes[r.returncode] = codes.get(r.returncode, 0) + 1
    err = r.stderr.decode(errors="replace")
    if r.returncode not in (0, 3):
        bad.append("offset %d: exit %d %s" % (off, r.returncode, err.strip()[-300:]))
    elif r.returncode == 3 and ("shard-00000" not in err or "m3ae prep" not in err):
        bad.append("offset %d: the message names no shard or no remedy: %s" % (off, err.strip()))
print("%d flipped copies of %d bytes: exit codes %s" % (len(offsets), size, dict(sorted(codes.items()))))
for line in bad[:20]:
    print("FAIL:", line)
sys.exit(1 if bad else 0)
