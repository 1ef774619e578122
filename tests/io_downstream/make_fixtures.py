#!/usr/bin/env python3
"""Writes small synthetic inputs in the official release layouts of SLAKE 1.0, ImageCLEF VQA-Med
2019, MELINDA and ROCO (with their quirks) under OUT, with real JPEGs from IMAGES linked in, and
OUT/expected.json: what the converters must produce, computed here independently (the ROCO subset
with Python's own random.shuffle, the vocabularies with tools/reference/normalize_word.py)."""
import json, os, random, sys

out, images, ref = sys.argv[1:4]
sys.path.insert(0, ref)
from normalize_word import normalize_answer as norm

jpgs = sorted(f for f in os.listdir(images) if f.endswith(".jpg"))[:12]
def link(i, dst):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    os.symlink(os.path.join(images, jpgs[i]), dst)
exp = {}

# ---- SLAKE: English and Chinese questions, a missing image (xmlab9), an unseen test answer
s = f"{out}/slake"
for k in range(4): link(k, f"{s}/imgs/xmlab{k}/source.jpg")
def q(qid, img, question, answer, at, lang="en"):
    return {"img_id": img, "img_name": f"xmlab{img}/source.jpg", "question": question, "answer": answer,
            "q_lang": lang, "location": "Lung", "modality": "CT", "answer_type": at, "base_type": "vqa",
            "content_type": "Organ", "triple": ["vhead", "_", "_"], "qid": qid}
train = [q(0, 0, "What modality is used?", "CT", "OPEN"), q(1, 0, "用的是什么成像方式？", "CT", "OPEN", "zh"),
         q(2, 1, "Is the lung healthy?", "Yes", "CLOSED"), q(3, 1, "Which organ is shown?", "The Lung", "OPEN"),
         q(4, 2, "肺健康吗？", "是", "CLOSED", "zh"), q(5, 2, "How many lungs are shown?", "two", "OPEN"),
         q(6, 9, "Is this missing?", "No", "CLOSED")]
val = [q(7, 3, "Is the heart enlarged?", "No", "CLOSED")]
test = [q(8, 3, "What modality is used?", "MRI", "OPEN"), q(9, 2, "Is the lung healthy?", "yes", "CLOSED")]
for name, d in (("train", train), ("validate", val), ("test", test)):
    json.dump(d, open(f"{s}/{name}.json", "w", encoding="utf-8"), ensure_ascii=False)
en = lambda d: [x for x in d if x["q_lang"] == "en"]
vt = []
for x in en(train):
    if norm(x["answer"]) not in vt: vt.append(norm(x["answer"]))
va = list(vt)
for x in en(val) + en(test):
    if norm(x["answer"]) not in va: va.append(norm(x["answer"]))
exp["slake"] = {"train_labels": vt, "all_labels": va, "train_written": 4, "train_rejected": 1, "skipped": 2,
                "test_labels": [vt.index(norm(x["answer"])) if norm(x["answer"]) in vt else -1 for x in en(test)],
                "test_types": [x["answer_type"].lower() for x in en(test)]}

# ---- VQA-Med 2019: the release folders; C4 and an unknown category in the test file, '#' alternatives,
# a broken line, an answer that normalises to nothing
v = f"{out}/vqamed"
tr, vl, te = (f"{v}/ImageClef-2019-VQA-Med-Training", f"{v}/ImageClef-2019-VQA-Med-Validation", f"{v}/VQAMed2019Test")
for k in range(3): link(k, f"{tr}/Train_images/synpic{k}.jpg")
link(3, f"{vl}/Val_images/synpic3.jpg")
for k in range(4, 7): link(k, f"{te}/VQAMed2019_Test_Images/synpic{k}.jpg")
cats = {"C1_Modality": ["synpic0|what modality is shown?|ct w/contrast (iv)", "synpic1|what kind of image is this?|mr - t2 weighted",
                        "broken line without fields"],
        "C2_Plane": ["synpic0|which plane is this?|axial", "synpic2|in what plane was the image taken?|sagittal"],
        "C3_Organ": ["synpic1|what organ system is shown?|skull and contents", "synpic2|which organ is this?|spine and contents"]}
os.makedirs(f"{tr}/QAPairsByCategory"); os.makedirs(f"{vl}/QAPairsByCategory")
for c, lines in cats.items():
    open(f"{tr}/QAPairsByCategory/{c}_train.txt", "w").write("\n".join(lines) + "\n")
    open(f"{vl}/QAPairsByCategory/{c}_val.txt", "w").write(f"synpic3|what is shown ({c})?|axial\n")
open(f"{te}/VQAMed2019_Test_Questions_w_Ref_Answers.txt", "w").write("\n".join([
    "synpic4|plane|which plane?|axial", "synpic4|abnormality|what is abnormal?|meningioma",
    "synpic5|modality|which modality?|ct w/contrast (iv)#mr - t2 weighted#xr - plain film",
    "synpic5|organ|which organ?|spine and contents", "synpic6|colour|what colour?|grey",
    "synpic6|modality|what kind?|the"]) + "\n")
order = [l for c in ("C1_Modality", "C3_Organ", "C2_Plane") for l in cats[c] if l.count("|") == 2]
vt = []
for l in order:
    a = norm(l.split("|")[2])
    if a not in vt: vt.append(a)
exp["vqamed"] = {"train_labels": vt, "train_images_order": [l.split("|")[0] + ".jpg" for l in order],
                 # test order: modality, organ, plane; the '#' line has labels for its first two alternatives
                 "test_answers": ["ct w contrast iv#mr t2 weighted#xr plain film", "spine and contents", "axial"],
                 "test_labels": [[vt.index("ct w contrast iv"), vt.index("mr t2 weighted")], [vt.index("spine and contents")],
                                 [vt.index("axial")]], "skipped": 1}

# ---- MELINDA: CSVs with quoted captions (commas, quotes, a newline), a broken row
m = f"{out}/melinda"
for k in range(5): link(k, f"{m}/melinda_images/fig{k}.jpg")
hdr = "figure_file,caption,i_meth,p_meth,i_meth_label,p_meth_label\n"
open(f"{m}/train.csv", "w").write(hdr +
    'fig0.jpg,"Western blot of lysates, with ""control"" lanes.",western blot,biochemistry,Molecular,Biochem\n'
    'fig1.jpg,"Confocal image\nof the cells.",confocal,light microscopy,Microscopy,Light\n'
    'fig2.jpg,Electron micrograph of a synapse.,tem,electron microscopy,Microscopy,Electron\n'
    'fig3.jpg,a broken row,with,too,many,fields,here\n')
open(f"{m}/dev.csv", "w").write(hdr + "fig3.jpg,Gel of PCR products.,pcr,molecular,Molecular,Molecular\n")
open(f"{m}/test.csv", "w").write(hdr + "fig4.jpg,Another western blot.,western blot,biochemistry,Molecular,Biochem\n"
                                 "fig3.jpg,A gel.,pcr,molecular,Molecular,Molecular\n")
exp["melinda"] = {"train_labels": sorted(["Biochem", "Light", "Electron"]),
                  "all_labels": sorted(["Biochem", "Light", "Electron", "Molecular"]),
                  "train_captions": ['Western blot of lysates, with "control" lanes.', "Confocal image of the cells.",
                                     "Electron micrograph of a synapse."],
                  "test_labels_train_vocab": [sorted(["Biochem", "Light", "Electron"]).index("Biochem"), -1]}

# ---- ROCO: three splits; the official shuffle; short captions; images named by PMC file through dlinks
r = f"{out}/roco"
rnd = random.Random(42)
ids = {"train": range(0, 30), "validation": range(100, 125), "test": range(200, 220)}
sel = {}
for split, rng in ids.items():
    d = f"{r}/{split}/radiology"
    os.makedirs(f"{d}/images")
    lines, dl = [], []
    for i in rng:
        cap = f" Caption {i} of an axial CT scan" if i % 4 else f" Short {i}"
        lines.append(f"ROCO_{i:05d}\t{cap}")
        dl.append(f"ROCO_{i:05d}\t wget ftp://ftp.ncbi.nlm.nih.gov/pub/pmc/aa/bb/PMC{7000 + i}.tar.gz\tfig_{i}.jpg")
    open(f"{d}/captions.txt", "w").write("\n".join(lines) + "\n")
    open(f"{d}/dlinks.txt", "w").write("\n".join(dl) + "\n")
    shuffled = open(f"{d}/captions.txt").read().strip().split("\n")
    rnd.shuffle(shuffled)
    kept = []
    for line in shuffled:
        f = line.strip().split("\t")
        if len(f) == 2 and len(f[1].split()) >= 3:
            kept.append(f[0])
            if split != "train" and len(kept) == 5: break
    sel[split] = kept
    if split == "test":
        for n, rid in enumerate(kept):
            i = int(rid[5:])
            if n % 2: link(n % 12, f"{d}/images/{rid}.jpg")           # named by ROCO id
            else: link(n % 12, f"{d}/images/PMC{7000 + i}_fig_{i}.jpg")  # named by its PMC file
exp["roco"] = {"test_ids": sel["test"], "val_ids": sel["validation"], "train_kept": len(sel["train"])}
# ---- VQA-RAD: the official release JSON (split by phrase_type, image folder with spaces), numeric
# answers, an entry without a question, an unknown answer_type, an answer that normalises to nothing;
# and the MEVF trainset.json/testset.json pair (read together)
vr = f"{out}/vqarad"
for k in range(3): link(k, f"{vr}/VQA_RAD Image Folder/synpic{k}.jpg")
def rq(qid, img, question, answer, at, pt):
    d = {"qid": qid, "image_name": f"synpic{img}.jpg", "question": question, "answer": answer, "answer_type": at,
         "phrase_type": pt, "question_type": "PRES", "image_organ": "HEAD"}
    if question is None: del d["question"]
    return d
rel = [rq(0, 0, "Is there a mass?", "Yes", "CLOSED", "freeform"), rq(1, 0, "How many masses?", 2, "OPEN", "para"),
       rq(2, 1, "What is abnormal?", "The", "OPEN", "freeform"), rq(3, 1, "Is it normal?", "no", "MAYBE", "freeform"),
       rq(4, 2, "Is there a mass?", "yes", "CLOSED ", "test_freeform"), rq(5, 2, None, "no", "CLOSED", "test_para"),
       rq(6, 2, "How many masses?", "three", "OPEN", "test_para")]
json.dump(rel, open(f"{vr}/VQA_RAD Dataset Public.json", "w"))
mv = f"{out}/mevf"
for k in range(3): link(k, f"{mv}/images/synpic{k}.jpg")
json.dump([x for x in rel if not x["phrase_type"].startswith("test") and x["qid"] in (0, 1)], open(f"{mv}/trainset.json", "w"))
json.dump([x for x in rel if x["qid"] in (4, 6)], open(f"{mv}/testset.json", "w"))
exp["vqarad"] = {"train_labels": ["yes", "2"], "test_answers": ["yes", "3"], "test_labels": [0, -1],
                 "all_labels": ["yes", "2", "3"]}
json.dump(exp, open(f"{out}/expected.json", "w"), indent=1)
