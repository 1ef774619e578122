/* The retrieval split reader and the training sampler's negatives (io/samplers/irtr.h) on a
 * prepared dataset (argv[1]: MedPix-2.0 test, m3ae prep --format jsonl --min-words 1, driven by
 * test_irtr_split.sh; argv[2]: the vocabulary folder):
 *  - pair groups: one text per sample, each text hits its own image only, an image its own texts;
 *  - caption groups: one text per distinct caption, hits both ways consistent (image i hits text t
 *    iff text t hits image i), every image and text has a hit, fewer texts than pairs;
 *  - case groups (argv[3]: the same split with --group-key case): the caption texts, hits both
 *    ways consistent, a superset of the caption hits with more hits for some image (a case with
 *    two captions), fewer groups than images; without a group table the read fails naming
 *    --group-key;
 *  - the negatives: candidate 0 is the sample itself; candidates 1.. are texts of OTHER images, a
 *    pure function of (seed, epoch, sample, k) (the same when asked again, another draw in another
 *    epoch or seed), and over many draws every other text is drawn (uniform over them). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "io/samplers/irtr.h"
#include "io/tokenizer.h"

static int has(const int *first, const int *items, int q, int v) {
    for (int h = first[q]; h < first[q + 1]; h++)
        if (items[h] == v) return 1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) return fprintf(stderr, "usage: test_irtr_split DATASET_DIR VOCAB_DIR\n"), 2;
    m3ae_error err;
    m3ae_tokenizer *tok = m3ae_tokenizer_load(argv[2], &err);
    T_CHECK(tok != NULL, "tokenizer: %s", err.msg);
    if (!tok) return t_done("test_irtr_split");
    m3ae_irtr_split sp, sc;
    m3ae_irtr_split_config c = {.tokenizer = tok, .image_size = 32, .max_text_len = 16, .grouping = M3AE_IRTR_GROUP_PAIR};
    T_CHECK(m3ae_irtr_split_read(argv[1], &c, NULL, NULL, &sp, &err) == 0, "pair split: %s", err.msg);
    c.grouping = M3AE_IRTR_GROUP_CAPTION;
    T_CHECK(m3ae_irtr_split_read(argv[1], &c, NULL, NULL, &sc, &err) == 0, "caption split: %s", err.msg);
    if (t_failures) return t_done("test_irtr_split");
    T_CHECK(sp.n_texts == (int)sp.n_pairs && sp.n_images == sc.n_images, "pair split: %d texts, %llu pairs, %d / %d images",
            sp.n_texts, (unsigned long long)sp.n_pairs, sp.n_images, sc.n_images);
    for (int t = 0; t < sp.n_texts; t++) {
        T_CHECK(sp.txt_first[t + 1] - sp.txt_first[t] == 1, "pair text %d hits %d images", t,
                sp.txt_first[t + 1] - sp.txt_first[t]);
        const int i = sp.txt_images[sp.txt_first[t]];
        T_CHECK(has(sp.img_first, sp.img_texts, i, t), "pair text %d -> image %d, but not back", t, i);
    }
    T_CHECK(sc.n_texts < sp.n_texts, "caption groups merge shared captions: %d texts of %d pairs", sc.n_texts, sp.n_texts);
    for (int i = 0; i < sc.n_images; i++) {
        T_CHECK(sc.img_first[i + 1] > sc.img_first[i], "image %d has no text", i);
        for (int h = sc.img_first[i]; h < sc.img_first[i + 1]; h++)
            T_CHECK(has(sc.txt_first, sc.txt_images, sc.img_texts[h], i), "image %d hits text %d, not back", i,
                    sc.img_texts[h]);
    }
    int shared = 0;
    for (int t = 0; t < sc.n_texts; t++) {
        T_CHECK(sc.txt_first[t + 1] > sc.txt_first[t], "text %d has no image", t);
        shared += sc.txt_first[t + 1] - sc.txt_first[t] > 1;
    }
    T_CHECK(shared > 0, "no caption is shared by two images: the caption groups are not exercised");
    printf("pair: %d images x %d texts; caption: %d texts, %d shared by several images\n", sp.n_images, sp.n_texts,
           sc.n_texts, shared);

    if (argc > 3) { /* case groups */
        m3ae_irtr_split sk;
        c.grouping = M3AE_IRTR_GROUP_CASE;
        T_CHECK(m3ae_irtr_split_read(argv[1], &c, NULL, NULL, &sk, &err) != 0 && strstr(err.msg, "--group-key"),
                "case groups on a folder without a group table: %s", err.msg);
        T_CHECK(m3ae_irtr_split_read(argv[3], &c, NULL, NULL, &sk, &err) == 0, "case split: %s", err.msg);
        if (t_failures) return t_done("test_irtr_split");
        T_CHECK(sk.n_texts == sc.n_texts && sk.n_images == sc.n_images, "case split: %d x %d, caption %d x %d",
                sk.n_images, sk.n_texts, sc.n_images, sc.n_texts);
        T_CHECK(sk.n_groups > 0 && sk.n_groups < sk.n_images, "case split: %d groups of %d images", sk.n_groups,
                sk.n_images);
        int more = 0;
        for (int i = 0; i < sk.n_images && i < sc.n_images; i++) {
            for (int h = sc.img_first[i]; h < sc.img_first[i + 1]; h++)
                T_CHECK(has(sk.img_first, sk.img_texts, i, sc.img_texts[h]), "case: image %d lost its caption %d", i,
                        sc.img_texts[h]);
            for (int h = sk.img_first[i]; h < sk.img_first[i + 1]; h++)
                T_CHECK(has(sk.txt_first, sk.txt_images, sk.img_texts[h], i), "case: image %d hits text %d, not back",
                        i, sk.img_texts[h]);
            more += sk.img_first[i + 1] - sk.img_first[i] > sc.img_first[i + 1] - sc.img_first[i];
        }
        T_CHECK(more > 0, "case groups give no image more hits than caption groups: no case with two captions?");
        printf("case: %d groups, %d images with more hits than by caption\n", sk.n_groups, more);
        m3ae_irtr_split_free(&sk);
    }

    /* negatives */
    m3ae_irtr_sampler s, s2;
    m3ae_irtr_sampler_config scfg = {.tokenizer = tok, .image_size = 32, .max_text_len = 16, .candidates = 16, .seed = 5};
    T_CHECK(m3ae_irtr_sampler_init(&s, argv[1], &scfg, &err) == 0, "sampler: %s", err.msg);
    scfg.seed = 6;
    T_CHECK(m3ae_irtr_sampler_init(&s2, argv[1], &scfg, &err) == 0, "sampler: %s", err.msg);
    if (t_failures) return t_done("test_irtr_split");
    const int NT = s.texts.n_texts;
    int *seen = calloc((size_t)NT, sizeof *seen);
    long diff_epoch = 0, diff_seed = 0, draws = 0;
    for (uint64_t e = 0; e < 40; e++)
        for (int g = 0; g < NT; g++) {
            T_CHECK(m3ae_irtr_candidate(&s, e, (uint64_t)g, 0) == g, "candidate 0 of sample %d is not itself", g);
            for (int k = 1; k < 16; k++) {
                const int t = m3ae_irtr_candidate(&s, e, (uint64_t)g, k);
                if (t < 0 || t >= NT || s.image_of[t] == s.image_of[g]) {
                    T_CHECK(0, "epoch %llu sample %d candidate %d: text %d (of image %d, the sample's image %d)",
                            (unsigned long long)e, g, k, t, t >= 0 && t < NT ? s.image_of[t] : -1, s.image_of[g]);
                    continue;
                }
                T_CHECK(t == m3ae_irtr_candidate(&s, e, (uint64_t)g, k), "candidate (%llu, %d, %d) not reproducible",
                        (unsigned long long)e, g, k);
                diff_epoch += t != m3ae_irtr_candidate(&s, e + 1, (uint64_t)g, k);
                diff_seed += t != m3ae_irtr_candidate(&s2, e, (uint64_t)g, k);
                seen[t]++, draws++;
            }
        }
    int never = 0;
    for (int t = 0; t < NT; t++) never += seen[t] == 0;
    T_CHECK(never == 0, "%d of %d texts were never drawn as a negative in %ld draws", never, NT, draws);
    T_CHECK(diff_epoch > draws / 2 && diff_seed > draws / 2, "draws do not change with the epoch (%ld) or seed (%ld) of %ld",
            diff_epoch, diff_seed, draws);
    printf("negatives: %ld draws, every text drawn, %ld differ in the next epoch, %ld with another seed\n", draws,
           diff_epoch, diff_seed);
    free(seen);
    m3ae_irtr_sampler_free(&s);
    m3ae_irtr_sampler_free(&s2);
    m3ae_irtr_split_free(&sp);
    m3ae_irtr_split_free(&sc);
    m3ae_tokenizer_free(tok);
    return t_done("test_irtr_split");
}
