/* m3ae prep: convert images + captions into LMDB shards (io/prep.h), and `m3ae prep inspect DIR`. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "io/prep.h"
#include "io/prep_inspect.h"
#include "launch/commands.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: m3ae prep --format jsonl|roco|medicat --input PATH --out DIR [options]\n"
            "       m3ae prep --format vqa-rad|slake|vqa-med-2019|melinda|roco-retrieval --input PATH\n"
            "                 --out DIR [--split S] [--images DIR] [--answer-vocab train|all|DATASET_DIR]\n"
            "       m3ae prep inspect DIR [--show N]\n\n"
            "Converts images and their captions into the m3ae shard format (io/FORMAT.md): one LMDB\n"
            "environment per shard (DIR/shard-NNNNN/data.mdb), one record per image holding the image\n"
            "resized so that its shorter side is --store-size (RGB8) and all its captions, and\n"
            "DIR/manifest.json. Texts are cleaned (whitespace runs -> one space) and dropped below\n"
            "--min-words; images that are missing or corrupt are skipped. Both are listed with their\n"
            "reasons in DIR/rejected.jsonl. The same input gives byte-identical shards.\n\n"
            "formats:\n"
            "  jsonl    one JSON object a line: \"image\" (path relative to the file), \"caption\" or\n"
            "           \"captions\"; optional \"question\", \"answer\", \"label\" (then not grouped)\n"
            "  roco     ROCO captions file (id<TAB>caption, or a folder with captions.txt), images in\n"
            "           images/<id>.jpg beside it\n"
            "  medicat  MedICaT release jsonl; radiology == true only; s2_caption + s2orc_references;\n"
            "           images in figures/<pdf_hash>_<fig_uri> beside it\n\n"
            "downstream formats (one record per question or row; io/FORMAT.md \"Downstream datasets\"):\n"
            "  vqa-rad         VQA_RAD Dataset Public.json (split by phrase_type) or the MEVF\n"
            "                  trainset.json/testset.json (siblings read too); images/ beside it\n"
            "  slake           the SLAKE 1.0 folder (train.json, validate.json, test.json, imgs/)\n"
            "  vqa-med-2019    the folder holding ImageClef-2019-VQA-Med-Training/, -Validation/,\n"
            "                  VQAMed2019Test/; categories C1-C3 as the official (C4 left out)\n"
            "  melinda         the MELINDA folder (train.csv, dev.csv, test.csv, melinda_images/)\n"
            "  roco-retrieval  the ROCO data folder (train/, validation/, test/ radiology/captions.txt);\n"
            "                  the official subsets (Python's random.seed(42) shuffle, reproduced)\n"
            "  --split S         train (default), val, test, or heldout (with --holdout)\n"
            "  --images DIR      the image folder (default: the format's folder beside the input)\n"
            "  --answer-vocab V  train (default: labels from the training split), all (the official:\n"
            "                    train+val+test answers, i.e. test answers included; checks the\n"
            "                    official counts), or a prepared DATASET_DIR (its labels, e.g. for test)\n"
            "  --holdout F       hold out this fraction of the training images (by image, so no image\n"
            "                    is in both) as split heldout; the same F gives the same partition\n"
            "  --lang L          SLAKE questions kept: en (default), zh, all\n"
            "  --label-field C   MELINDA label column: p_meth_label (default), i_meth_label, p_meth, i_meth\n"
            "  --subset N        ROCO retrieval val/test pairs kept (default 2000, 0 = all)\n"
            "  Answers are normalised as the official normalize_word; a test answer outside the\n"
            "  vocabulary gets label -1 (counted as wrong). DIR/targets.jsonl holds the answer type\n"
            "  and every acceptable label of each sample.\n\n"
            "options:\n"
            "  --shards N        number of shards (default 1)\n"
            "  --store-size S    shorter image side stored, in pixels (default 384)\n"
            "  --threads T       image decoding threads (default: the number of CPUs)\n"
            "  --group-key KEY   jsonl: keep field KEY (string or number) of every line as the record's\n"
            "                    group in groups.jsonl (MedPix-2.0: case); a line without it is rejected\n"
            "  --min-words W     drop texts with fewer whitespace-separated words (default 3)\n"
            "  --max-reject F    fail (exit 3) when more than F of the texts are rejected; a fraction\n"
            "                    (0.01) or a percentage (1%%); default 1%%\n"
            "  --quiet           no progress lines\n\n"
            "inspect prints the manifest and verifies every record's CRC32C; it exits 3 naming the shard\n"
            "and key of the first bad record. For a downstream dataset it also prints the task, the\n"
            "labels and the first --show N records (default 3) with question, answer and label name.\n\n"
            "exit codes: 0 done, 2 bad command line or DIR exists, 3 bad input data or too many\n"
            "rejected, 5 system failure (disk, memory, LMDB).\n");
}

static int parse_int(const char *opt, const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "m3ae: error: %s expects an integer in %d..%d, got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int cmd_inspect(int argc, char **argv) {
    int show = 3;
    if (argc == 4 && !strcmp(argv[2], "--show")) {
        if (parse_int("--show", argv[3], 0, 1000000, &show)) return M3AE_EXIT_USAGE;
    } else if (argc != 2) {
        fprintf(stderr, "m3ae: error: usage: m3ae prep inspect DIR [--show N]\n");
        return M3AE_EXIT_USAGE;
    }
    m3ae_inspect_summary sum;
    m3ae_error err;
    int rc = m3ae_prep_inspect_show(argv[1], stdout, show, &sum, &err);
    fflush(stdout);
    if (rc) fprintf(stderr, "m3ae: error: %s\n", err.msg);
    return rc;
}

int m3ae_cmd_prep(int argc, char **argv) {
    if (m3ae_cli_wants_help(argc, argv)) {
        usage(stdout);
        return M3AE_EXIT_OK;
    }
    if (argc >= 2 && !strcmp(argv[1], "inspect")) return cmd_inspect(argc - 1, argv + 1);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    m3ae_prep_options o = {.format = NULL,
                           .shards = 1,
                           .store_size = 384,
                           .threads = ncpu > 0 ? (int)(ncpu < 64 ? ncpu : 64) : 1,
                           .min_words = 3,
                           .max_reject = 0.01,
                           .progress = 1,
                           .subset = 2000};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--quiet")) {
            o.progress = 0;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "m3ae: error: unknown option or missing value: '%s' (m3ae prep --help)\n", a);
            return M3AE_EXIT_USAGE;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--format"))
            o.format = v;
        else if (!strcmp(a, "--input"))
            o.input = v;
        else if (!strcmp(a, "--out"))
            o.out = v;
        else if (!strcmp(a, "--split"))
            o.split = v;
        else if (!strcmp(a, "--images"))
            o.images = v;
        else if (!strcmp(a, "--answer-vocab"))
            o.answer_vocab = v;
        else if (!strcmp(a, "--lang"))
            o.lang = v;
        else if (!strcmp(a, "--label-field"))
            o.label_field = v;
        else if (!strcmp(a, "--group-key"))
            o.group_key = v;
        else if (!strcmp(a, "--subset")) {
            if (parse_int(a, v, 0, 100000000, &o.subset)) return M3AE_EXIT_USAGE;
        } else if (!strcmp(a, "--holdout")) {
            char *end;
            double f = strtod(v, &end);
            if (end != v && *end == '%' && end[1] == 0) f /= 100.0, end++;
            if (end == v || *end || !(f > 0 && f < 1)) {
                fprintf(stderr, "m3ae: error: --holdout expects a fraction in (0, 1) or a percentage (20%%), got "
                                "'%s'\n", v);
                return M3AE_EXIT_USAGE;
            }
            o.holdout = f;
        }
        else if (!strcmp(a, "--shards")) {
            if (parse_int(a, v, 1, 100000, &o.shards)) return M3AE_EXIT_USAGE;
        } else if (!strcmp(a, "--store-size")) {
            if (parse_int(a, v, 16, 8192, &o.store_size)) return M3AE_EXIT_USAGE;
        } else if (!strcmp(a, "--threads")) {
            if (parse_int(a, v, 1, 1024, &o.threads)) return M3AE_EXIT_USAGE;
        } else if (!strcmp(a, "--min-words")) {
            if (parse_int(a, v, 0, 1000, &o.min_words)) return M3AE_EXIT_USAGE;
        } else if (!strcmp(a, "--max-reject")) {
            char *end;
            double f = strtod(v, &end);
            if (end != v && *end == '%' && end[1] == 0) f /= 100.0, end++;
            if (end == v || *end || !(f >= 0 && f <= 1)) {
                fprintf(stderr, "m3ae: error: --max-reject expects a fraction 0..1 or a percentage (1%%), got '%s'\n",
                        v);
                return M3AE_EXIT_USAGE;
            }
            o.max_reject = f;
        } else {
            fprintf(stderr, "m3ae: error: unknown option '%s' (m3ae prep --help)\n", a);
            return M3AE_EXIT_USAGE;
        }
    }
    if (o.lang && strcmp(o.lang, "en") && strcmp(o.lang, "zh") && strcmp(o.lang, "all")) {
        fprintf(stderr, "m3ae: error: --lang expects en, zh or all, got '%s'\n", o.lang);
        return M3AE_EXIT_USAGE;
    }
    if (o.split && strcmp(o.split, "train") && strcmp(o.split, "val") && strcmp(o.split, "test") &&
        strcmp(o.split, "heldout")) {
        fprintf(stderr, "m3ae: error: --split expects train, val, test or heldout, got '%s'\n", o.split);
        return M3AE_EXIT_USAGE;
    }
    if (!o.format || !o.input || !o.out) {
        fprintf(stderr, "m3ae: error: m3ae prep needs --format, --input and --out (m3ae prep --help)\n");
        return M3AE_EXIT_USAGE;
    }
    m3ae_prep_summary s;
    m3ae_error err;
    int rc = m3ae_prep_run(&o, &s, &err);
    if (rc) {
        fprintf(stderr, "m3ae: error: %s\n", err.msg);
        if (s.tmp_dir[0])
            fprintf(stderr, "  the partial output is in '%s' (not a dataset: it has no manifest); remove it\n",
                    s.tmp_dir);
        return rc;
    }
    double rate = s.seconds > 0 ? (double)s.input_images / s.seconds : 0;
    printf("prep: %s -> %s: %" PRIu64 " records (images), %" PRIu64 " samples (image-caption pairs), %" PRIu64
           " rejected texts (%" PRIu64 " of %" PRIu64 " images), %" PRIu64 " bytes in %d shard%s, %.1f s, %.1f "
           "images/s with %d thread%s\n",
           o.input, o.out, s.records, s.samples, s.rejected_texts, s.rejected_images, s.input_images, s.bytes,
           o.shards, o.shards == 1 ? "" : "s", s.seconds, rate, o.threads, o.threads == 1 ? "" : "s");
    return M3AE_EXIT_OK;
}
