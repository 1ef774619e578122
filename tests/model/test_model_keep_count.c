/* The MIM keep count of the model configuration (m3ae_cfg_mim_keep) at the ratios where float and
 * double arithmetic disagree (issue 8 section 4): Python's int(324 * (1 - 2/3)) = 108 at 288 px and
 * int(25 * (1 - 0.6)) = 10 at 80 px (float arithmetic: 107 and 9). The values go in as a config
 * file would give them (Python's repr of 2/3), and the count must be the loader's
 * (m3ae_mim_keep_count, common/facts.h; tests/io_loader/test_loader.c checks the loader's batch). */
#include <string.h>

#include "harness.h"
#include "model/config.h"

static void check(int image_size, const char *mim_prob, int patches, int keep) {
    m3ae_config c;
    m3ae_error err;
    char size[16];
    snprintf(size, sizeof size, "%d", image_size);
    T_CHECK(m3ae_config_preset(&c, "base", &err) == 0, "preset: %s", err.msg);
    T_CHECK(m3ae_config_set(&c, "image_size", size, &err) == 0, "image_size: %s", err.msg);
    T_CHECK(m3ae_config_set(&c, "mim_prob", mim_prob, &err) == 0, "mim_prob: %s", err.msg);
    T_CHECK(m3ae_config_validate(&c, &err) == 0, "validate: %s", err.msg);
    T_CHECK(m3ae_cfg_patches(&c) == patches, "%d px: %d patches, expected %d", image_size, m3ae_cfg_patches(&c), patches);
    T_CHECK(m3ae_cfg_mim_keep(&c) == keep, "%d px, mim_prob %s: keep %d, expected %d", image_size, mim_prob,
            m3ae_cfg_mim_keep(&c), keep);
    T_CHECK(m3ae_cfg_mim_keep(&c) == m3ae_mim_keep_count(patches, c.mim_prob), "model and loader counts differ");
}

int main(void) {
    check(288, "0.6666666666666666", 324, 108);
    check(80, "0.6", 25, 10);
    check(288, "0.75", 324, 81);
    return t_done("test_model_keep_count");
}
