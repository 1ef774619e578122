#!/usr/bin/env python3
"""Single-thread speed of the Hugging Face tokenizer on the text `m3ae bench tokenizer` uses.

Same tokenizer as tools/reference/make_tokenizer_vectors.py (RobertaTokenizerFast equivalent, built
from vocab.json + merges.txt). Measures a Python loop of encode() and encode_batch() with
RAYON_NUM_THREADS=1 (set before tokenizers is imported), each repeated for about --seconds.

usage: python3 experiments/bench/hf_tokenizer_speed.py [--data ../shared/data] [--input FILE] [--seconds 3] [--max-len N]
"""
import os

os.environ["RAYON_NUM_THREADS"] = "1"  # noqa: E402  (must precede the import of tokenizers)
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import tokenizers  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "reference"))
from make_tokenizer_vectors import make_tokenizer  # noqa: E402


def captions(path):
    out = []
    with open(path, "rb") as f:
        for raw in f.read().split(b"\n"):
            line = raw.decode("utf-8", errors="replace")
            if path.endswith(".tsv"):
                cols = line.split("\t")
                if len(cols) < 2:
                    continue
                line = cols[1]
            elif not raw:
                continue
            out.append(line)
    return out


def timed(fn, seconds):
    passes, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        fn()
        passes += 1
        el = time.perf_counter() - t0
        if el >= seconds:
            return passes, el, time.process_time() - c0


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join(root, "..", "shared", "data"))
    ap.add_argument("--input", default=None)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--max-len", type=int, default=0)
    a = ap.parse_args()
    files = [a.input] if a.input else [os.path.join(a.data, "roco_text", f) for f in
                                       ("test_radiology_captions.tsv", "validation_radiology_captions.tsv")]
    text = [c for f in files for c in captions(f)]
    mb = sum(len(c.encode("utf-8")) for c in text) / 1e6
    tok = make_tokenizer(os.path.join(a.data, "vocab", "roberta-base"), a.max_len)
    print("Hugging Face tokenizers %s, 1 thread (RAYON_NUM_THREADS=1), %d captions, %.2f MB, max_len %d"
          % (tokenizers.__version__, len(text), mb, a.max_len))
    print("| method | passes | seconds | MB/s | MB/s per CPU s | captions/s |\n|---|---:|---:|---:|---:|---:|")
    for name, fn in (("encode() loop", lambda: [tok.encode(c) for c in text]),
                     ("encode_batch()", lambda: tok.encode_batch(text))):
        passes, el, cpu = timed(fn, a.seconds)
        print("| %s | %d | %.2f | %.2f | %.2f | %.0f |" % (name, passes, el, passes * mb / el, passes * mb / cpu,
                                                      passes * len(text) / el))


if __name__ == "__main__":
    main()
