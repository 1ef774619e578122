/* HDF5 tensor files: round trip, attributes, shape errors, checksums catching corruption, atomic
 * commit (abort and SIGKILL during a write leave the previous file whole).
 * With an argument, only writes a sample file there (for the h5py test) and exits. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoints/h5file.h"
#include "harness.h"

static float big[1 << 20]; /* 4 MiB: several 1 MiB chunks */

static int write_sample(const char *path, float tag) {
    m3ae_error err;
    m3ae_h5 *f = m3ae_h5_create(path, &err);
    if (!f) return fprintf(stderr, "%s\n", err.msg), -1;
    int64_t s1[2] = {1024, 1024}, s2[1] = {5}, s3[4] = {3, 3, 2, 2};
    float small[5] = {tag, -1.5f, 3.25f, 1e-8f, 65504.0f}, w[36];
    for (int i = 0; i < 36; i++) w[i] = 0.01f * (float)i - 0.1f;
    for (int i = 0; i < (1 << 20); i++) big[i] = (float)(i % 9973) * 0.5f + tag;
    int rc = m3ae_h5_write(f, "/model/vision_encoder.visual.conv1.weight", 2, s1, big, 0, &err);
    rc |= m3ae_h5_write(f, "/model/mim_head.decoder_pred.bias", 1, s2, small, 0, &err);
    rc |= m3ae_h5_write(f, "/optimizer/exp_avg/mim_head.decoder_pred.bias", 4, s3, w, 1, &err);
    rc |= m3ae_h5_attr_str(f, "config", "hidden_size = 768\nimage_size = 288\n", &err);
    rc |= m3ae_h5_attr_i64(f, "step", 1000 + (int64_t)tag, &err);
    rc |= m3ae_h5_attr_f64(f, "loss", 2.5, &err);
    if (rc) return fprintf(stderr, "%s\n", err.msg), m3ae_h5_abort(f), -1;
    if (m3ae_h5_commit(f, &err)) return fprintf(stderr, "%s\n", err.msg), -1;
    return 0;
}

static int count_names(const char *name, int ndim, const int64_t *shape, void *ctx) {
    (void)shape;
    int *n = ctx;
    if ((*n == 0 && !strcmp(name, "mim_head.decoder_pred.bias") && ndim == 1) ||
        (*n == 1 && !strcmp(name, "vision_encoder.visual.conv1.weight") && ndim == 2))
        (*n)++;
    else
        *n = -100;
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1) return write_sample(argv[1], 0.0f) ? 1 : 0;
    char dir[] = "/tmp/m3ae-h5-XXXXXX", path[256], cmd[512];
    T_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/ckpt.h5", dir);
    m3ae_error err = {{0}};

    /* round trip */
    T_CHECK(write_sample(path, 0.0f) == 0, "write");
    snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp >/dev/null", dir);
    T_CHECK(system(cmd) != 0, "a temporary file was left in %s", dir);
    m3ae_h5 *f = m3ae_h5_open(path, &err);
    T_CHECK(f != NULL, "open: %s", err.msg);
    if (f) {
        static float back[1 << 20];
        int64_t s1[2] = {1024, 1024}, bad[2] = {1024, 1023}, s3[4] = {3, 3, 2, 2}, shape[8];
        T_CHECK(m3ae_h5_read(f, "/model/vision_encoder.visual.conv1.weight", 2, s1, back, &err) == 0, "%s", err.msg);
        int diff = 0;
        for (int i = 0; i < (1 << 20); i++) diff += back[i] != (float)(i % 9973) * 0.5f;
        T_CHECK(diff == 0, "%d values differ after the round trip", diff);
        T_CHECK(m3ae_h5_read(f, "/model/vision_encoder.visual.conv1.weight", 2, bad, back, &err) != 0 &&
                    strstr(err.msg, "[1024,1024]") && strstr(err.msg, "[1024,1023]"),
                "shape mismatch message: %s", err.msg);
        T_CHECK(m3ae_h5_read(f, "/model/nope", 2, s1, back, &err) != 0 && strstr(err.msg, "/model/nope is missing"),
                "missing message: %s", err.msg);
        T_CHECK(m3ae_h5_shape(f, "/optimizer/exp_avg/mim_head.decoder_pred.bias", shape) == 4 && shape[3] == 2, "shape");
        T_CHECK(m3ae_h5_read(f, "/optimizer/exp_avg/mim_head.decoder_pred.bias", 4, s3, back, &err) == 0, "%s", err.msg);
        float maxd = 0;
        for (int i = 0; i < 36; i++) maxd = fmaxf(maxd, fabsf(back[i] - (0.01f * (float)i - 0.1f)));
        T_CHECK(maxd <= 0.1f / 128, "bfloat16 round trip error %g", maxd);
        char buf[256];
        int64_t step = 0;
        double loss = 0;
        T_CHECK(m3ae_h5_get_attr_str(f, "config", buf, sizeof buf) == 0 && strstr(buf, "image_size = 288"), "config attr");
        T_CHECK(m3ae_h5_get_attr_i64(f, "step", &step) == 0 && step == 1000, "step attr %lld", (long long)step);
        T_CHECK(m3ae_h5_get_attr_f64(f, "loss", &loss) == 0 && loss == 2.5, "loss attr");
        T_CHECK(m3ae_h5_get_attr_i64(f, "missing", &step) == -1, "missing attr");
        int n = 0;
        m3ae_h5_list(f, "/model", count_names, &n);
        T_CHECK(n == 2, "listing /model in name order (state %d)", n);
        m3ae_h5_close(f);
    }
    long nd = 0, nv = 0;
    T_CHECK(m3ae_h5_verify(path, &nd, &nv, &err) == 0 && nd == 3 && nv == (1 << 20) + 5 + 36,
            "verify a whole file: %ld datasets %ld values %s", nd, nv, err.msg);

    /* abort leaves nothing */
    char path2[300];
    snprintf(path2, sizeof path2, "%s/aborted.h5", dir);
    m3ae_h5 *g = m3ae_h5_create(path2, &err);
    int64_t s2[1] = {5};
    float five[5] = {1, 2, 3, 4, 5};
    T_CHECK(g && m3ae_h5_write(g, "/model/x", 1, s2, five, 0, &err) == 0, "write before abort");
    m3ae_h5_abort(g);
    T_CHECK(access(path2, F_OK) != 0, "aborted file exists");
    snprintf(cmd, sizeof cmd, "ls %s | grep -q tmp", dir);
    T_CHECK(system(cmd) != 0, "abort left a temporary file");

    /* SIGKILL while overwriting: the previous file stays whole */
    for (int trial = 0; trial < 3; trial++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (;;) write_sample(path, 7.0f); /* keeps rewriting until killed */
        }
        usleep(20000 + 15000 * trial);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        T_CHECK(m3ae_h5_verify(path, &nd, &nv, &err) == 0 && nd == 3, "after SIGKILL (trial %d) the file is not whole: %s",
                trial, err.msg);
    }
    snprintf(cmd, sizeof cmd, "rm -f %s/*.tmp-*", dir);
    T_CHECK(system(cmd) == 0, "cleanup");

    /* corruption inside a chunk: caught by the whole-file checksum, and by Fletcher32 */
    T_CHECK(write_sample(path, 0.0f) == 0, "rewrite");
    FILE *fp = fopen(path, "r+b");
    T_CHECK(fp != NULL, "open for corruption");
    if (fp) {
        fseek(fp, 0, SEEK_END);
        long size = ftell(fp);
        fseek(fp, size / 2, SEEK_SET);
        unsigned char junk[64];
        memset(junk, 0x5a, sizeof junk);
        fwrite(junk, 1, sizeof junk, fp);
        fclose(fp);
        /* the whole-file checksum refuses it before libhdf5 parses a byte */
        T_CHECK(m3ae_h5_verify(path, &nd, &nv, &err) != 0 && strstr(err.msg, "whole-file checksum mismatch"),
                "the whole-file checksum missed the damage: %s", err.msg);
        /* sealed again over the damage (what a bad disk under a correct block would give): Fletcher32 */
        T_CHECK(m3ae_h5_sum_write(path, &err) == 0, "re-sealing: %s", err.msg);
        int bad = m3ae_h5_verify(path, &nd, &nv, &err);
        T_CHECK(bad >= 1 && strstr(err.msg, "corrupt"), "corruption not detected: bad=%d msg=%s", bad, err.msg);
        printf("corruption reported as: %s\n", err.msg);
    }
    /* not an HDF5 file */
    snprintf(path2, sizeof path2, "%s/garbage.h5", dir);
    fp = fopen(path2, "w");
    if (fp) fputs("not hdf5", fp), fclose(fp);
    T_CHECK(m3ae_h5_open(path2, &err) == NULL && strstr(err.msg, "garbage.h5"), "garbage open: %s", err.msg);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    T_CHECK(system(cmd) == 0, "cleanup");
    return t_done("test_h5file");
}
