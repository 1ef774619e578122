#!/usr/bin/env python3
"""Writes the tokenizer test vectors of tests/io_tokenizer/ with Hugging Face `tokenizers`.

The reference tokenizer is built from vocab.json + merges.txt exactly as transformers'
RobertaTokenizerFast is: byte-level BPE, ByteLevel pre-tokenizer (add_prefix_space=False,
trim_offsets=True), RobertaProcessing post-processor (<s> ... </s>), the special tokens
<s> <pad> </s> <unk> <mask> (<mask> with lstrip=True), and for max_len N truncation to N with
padding by <pad> (id 1) to N (RobertaTokenizerFast(padding="max_length", truncation=True, max_length=N)).
Invalid UTF-8 is decoded with errors="replace" first (the Python API only takes str).

Outputs (in --out):
  hard_vectors.jsonl   one object a line: {"text": str} or {"hex": bytes}, "max_len", "n", "ids"
  caption_vectors.txt  for every caption of the shared data: "@ file" headers, then
                       "<line> <max_len> <n> <fnv64 of the ids> [id,id,...]" (full ids for a subset)
  char_classes.txt     how the GPT-2 regex classifies every non-ASCII code point: ranges
                       "<first hex> <last hex> L|N|W" (letters, numbers, whitespace; the rest is other)

usage: python3 tools/reference/make_tokenizer_vectors.py [--data ../shared/data] [--out tests/io_tokenizer]
"""
import argparse
import json
import os
import random

import tokenizers
from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers, processors
from tokenizers.models import BPE

FNV_OFFSET, FNV_PRIME, MASK64 = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1


def fnv64(ids):
    """FNV-1a over the ids as little-endian int32 (tests/io_tokenizer/test_tokenizer.c does the same)."""
    h = FNV_OFFSET
    for i in ids:
        for b in int(i).to_bytes(4, "little", signed=True):
            h = ((h ^ b) * FNV_PRIME) & MASK64
    return h


def make_tokenizer(vocab_dir, max_len=0):
    t = Tokenizer(BPE.from_file(os.path.join(vocab_dir, "vocab.json"), os.path.join(vocab_dir, "merges.txt")))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True)
    t.decoder = decoders.ByteLevel()
    t.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False)
    t.add_special_tokens([AddedToken("<s>"), AddedToken("<pad>"), AddedToken("</s>"), AddedToken("<unk>"),
                          AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False)])
    if max_len:
        t.enable_truncation(max_length=max_len)
        t.enable_padding(length=max_len, pad_id=1, pad_token="<pad>")
    return t


def hard_strings():
    """Strings that exercise every branch of the pre-tokenizer, BPE and special-token handling."""
    s = [
        "", " ", "  ", "\t", "\n", "a", "Hello, World!", "hello world", "Axial CT of the chest.",
        " Axial MRI (coronal view).",
        "don't can't I'm you're we've they'll he'd", "DON'T IT'S 'S 'Sa 'sa 're're 'LL 'll'm",
        "'''s", "x'", "'", "''", "' s", "It's 5'6\" tall", "rock 'n' roll", "dogs' toys'",
        "café naïve résumé Ångström Œuvre Straße", "cafe\u0301 e\u0301\u0301", "a\u0300\u0301\u0302b",
        "\u0301start", " \u0301", "x \u0301y",
        "医学影像学 胸部CT扫描 日本語のテキスト 한국어 텍스트", "中文，标点。「引号」",
        "I \u2764\ufe0f \U0001F3E5 \U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466 "
        "\U0001F469\U0001F3FD\u200d\u2695\ufe0f \U0001F1FA\U0001F1F8 x\U0001F9ECy",
        "\U0001F600\U0001F600\U0001F600", " \U0001F44D\U0001F3FB",
        "1234567890 3.14159 1,000,000 10mm x 5mm T2-weighted 2nd 3rd 12th",
        "\u0663\u0664\u0665 \u2460\u2461\u2462 \u00bd \u216b \u00b2\u00b3 \uff11\uff12",
        "a   b", "a \t\n b", "   leading", "trailing   ", "\n\n\nx\n\n", "x\r\ny", "x\r\n", " \u00a0 \u3000 x",
        "a\u2028b\u2029c\u0085d", "\u200b zero width\u200b", "a\x0b\x0cb", "\x1c\x1d\x1e\x1f", "a\x1cb",
        " \t \t x", "\t\ta", "  !", " \n!", "a\u00a0b", "a\u1680b\u2000c\u200ad\u202fe\u205ff\u3000g",
        "\u00a0\u00a0a", "   ", "\t\t\t", "x" + " " * 100 + "y", " " * 300, "\n" * 50 + "z",
        "a" * 64, "a" * 65, "ab" * 40, "a" * 1000, "Pneumonoultramicroscopicsilicovolcanoconiosis" * 20,
        "1" * 300, "!?" * 200, ".-" * 33, "\u00e9" * 100, "\u4e2d" * 70, "\U0001F600" * 40,
        "<s>", "</s>", "<pad>", "<unk>", "<mask>", "a <mask> b", "a<mask>b", "<mask><mask>", " \t<mask>",
        "<pad><unk></s>", "<<s>>", "< s>", "<mask", "mask>", "<s> <mask>", "\u00a0<mask>", "\u3000 <mask>x",
        "x\u200b<mask>", "\n<mask>\n", "<MASK> <Mask>", "<s><s></s></s>", "caption with <mask> in it </s>",
        "\x00", "a\x00b", "\x01\x7f\x1b[0m", "\u00ad soft\u00adhyphen",
        "Ελληνικά κείμενο", "Русский текст", "العربية نص", "עברית", "हिन्दी पाठ", "ภาษาไทย",
        "≤ ≥ ± × ÷ → ∼ μm °C ™ © ®", "\u2018quoted\u2019 \u201cdouble\u201d \u2013 \u2014 \u2026",
        "\ue000 private \uffff \U0010FFFF \U000E0001", "\ufeffBOM", "\ufffd replacement",
        "\u1c89 \u1c8a Unicode 16 letters", "\U00031350\U00031351 CJK ext H", "\U000105c0\U000105c1",
        "\U0001e5d0\U0001e5d1 123", "x\U000118e0",
        "ﬁ ligature ﬀ", "ｆｕｌｌｗｉｄｔｈ", "Ⅸ ⅸ", "ǅ titlecase", "ʰ modifier",
        "C4-C5 L5/S1 T1W1 FLAIR/DWI (arrow) [a] {b} #1 @x $5 %6 ^7 &8 *9 _10 +11 =12 |13 \\14 ~15 `16",
        "e.g., i.e., et al.; cf.: 2-3 cm—right-sided", "the the the  the   the",
    ]
    rng = random.Random(1234)
    alphabet = (list("abcXYZ019 '   \t\n.,!?-<>/sdmtrevl") + ["<s>", "</s>", "<mask>", "<pad>", "'s", "'ll", "'re"]
                + list("\u00e9\u0301\u00a0\u3000\u4e2d\u200d\u2028\u0663\u2460\ufe0f") + ["\U0001F600", "\U0001F3FD"])
    for _ in range(400):
        s.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))))
    return s


def hard_bytes():
    """Invalid (and some valid) UTF-8 byte strings."""
    return [b"\xff", b"a\x80b", b"\xc3", b"\xc3(", b"\xe2\x82", b"\xe2\x82(", b"\xf0\x9f\x98", b"\xf0\x9f\x98 x",
            b"\xf0\x80\x80\x80", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xc0\xaf", b"\xc1\xbf", b"\xf4\x90\x80\x80",
            b"\xf5\x80", b"\xf8\x88\x80\x80\x80", b"caf\xe9 au lait", b"\xe0\x80\x80", b"\xe0\xa0\x80",
            b"\xef\xbf\xbd", b"<mask\xff>", b"\xff<mask>", b"a \xff<mask>", b"\x80\x80\x80", b"\xc3\xa9\xa9",
            b"\xf0\x9f\x98\x80\x80", b"\xf1\x80\x80", b"\xf4\x8f\xbf\xbf", b"\xe1\x80", b"\xe1\x80\xc3\xa9",
            b"plain ascii", b"abc\xfe\xfedef", b" \xa0x", b"\xc2\xa0x", b"\xed\x9f\xbf", b"\xee\x80\x80"]


def caption_sources(data):
    yield "roco_text/test_radiology_captions.tsv"
    yield "roco_text/validation_radiology_captions.tsv"
    for split in ("train", "dev", "test"):
        yield "medpix2/%s.jsonl" % split


def read_captions(data, rel):
    """[(line number, caption)] as the C test reads them (TSV: second column; JSONL: "caption")."""
    out = []
    with open(os.path.join(data, rel), "rb") as f:
        for no, raw in enumerate(f.read().split(b"\n"), start=1):
            if not raw:
                continue
            line = raw.decode("utf-8", errors="replace")
            if rel.endswith(".tsv"):
                cols = line.split("\t")
                if len(cols) < 2:
                    continue
                out.append((no, cols[1]))
            else:
                out.append((no, json.loads(line)["caption"]))
    return out


def char_classes():
    """Classifies each non-ASCII code point as the HF pre-tokenizer does, by what it joins with."""
    pt = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    cps = [c for c in range(0x80, 0x110000) if not 0xD800 <= c <= 0xDFFF]
    cls = {}
    for probe, k in (("a", "L"), ("1", "N"), ("!", "O")):
        for b in range(0, len(cps), 4000):
            chunk = cps[b:b + 4000]
            s = "".join(probe + chr(c) + "\x01" for c in chunk) if probe != "!" else "".join(
                "a!" + chr(c) + "a" for c in chunk)
            starts = {o[0] for _, o in pt.pre_tokenize_str(s)}
            step, first = (3, 0) if probe != "!" else (4, 1)
            for i, c in enumerate(chunk):
                if c not in cls and (i * step + first + 1) not in starts:
                    cls[c] = k
    ranges = []
    for c in cps:
        k = cls.get(c, "W")
        if k == "O":
            continue
        if ranges and ranges[-1][1] == c - 1 and ranges[-1][2] == k:
            ranges[-1][1] = c
        else:
            ranges.append([c, c, k])
    return ranges


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(root, "..", "shared", "data"))
    ap.add_argument("--out", default=os.path.join(root, "tests", "io_tokenizer"))
    ap.add_argument("--full-every", type=int, default=10, help="write the full ids of every Nth caption")
    args = ap.parse_args()
    vocab = os.path.join(args.data, "vocab", "roberta-base")
    tok = make_tokenizer(vocab)
    toks = {n: make_tokenizer(vocab, n) for n in (2, 3, 8, 64)}
    header = "generated by tools/reference/make_tokenizer_vectors.py with tokenizers %s" % tokenizers.__version__

    with open(os.path.join(args.out, "hard_vectors.jsonl"), "w", encoding="utf-8") as f:
        cases = [("text", s, s) for s in hard_strings()] + [("hex", b.hex(), b.decode("utf-8", errors="replace"))
                                                            for b in hard_bytes()]
        for i, (kind, key, text) in enumerate(cases):
            lens = [0, 64] + ([2, 3, 8] if i % 3 == 0 else [])
            for n in lens:
                e = (toks[n] if n else tok).encode(text)
                real = sum(e.attention_mask)
                f.write(json.dumps({kind: key, "max_len": n, "n": real, "ids": e.ids}, ensure_ascii=True) + "\n")

    total = 0
    with open(os.path.join(args.out, "caption_vectors.txt"), "w", encoding="ascii") as f:
        f.write("# %s\n# <line> <max_len> <n> <fnv64 of the ids> [full ids]\n" % header)
        for rel in caption_sources(args.data):
            caps = read_captions(args.data, rel)
            f.write("@ %s\n" % rel)
            plain = tok.encode_batch([c for _, c in caps])
            padded = toks[64].encode_batch([c for _, c in caps])
            for j, ((no, _), e, p) in enumerate(zip(caps, plain, padded)):
                full = j % args.full_every == 0
                f.write("%d 0 %d %016x%s\n" % (no, len(e.ids), fnv64(e.ids), (" " + ",".join(map(str, e.ids))) if full else ""))
                if j % 4 == 0:
                    f.write("%d 64 %d %016x%s\n" % (no, sum(p.attention_mask), fnv64(p.ids),
                                                    (" " + ",".join(map(str, p.ids))) if j % 40 == 0 else ""))
                total += 1
    print("captions:", total)

    with open(os.path.join(args.out, "char_classes.txt"), "w", encoding="ascii") as f:
        f.write("# %s\n# non-ASCII code points the GPT-2 regex sees as letters (L), numbers (N) or whitespace (W):\n"
                "# <first> <last> <class>, hex; all others are 'other'\n" % header)
        for a, b, k in char_classes():
            f.write("%x %x %s\n" % (a, b, k))


if __name__ == "__main__":
    main()
