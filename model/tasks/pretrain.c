#include "model/tasks/pretrain.h"

static const m3ae_pass separate_passes[] = {M3AE_PASS_MLM, M3AE_PASS_MIM, M3AE_PASS_ITM};
static const m3ae_pass joint_passes[] = {M3AE_PASS_JOINT, M3AE_PASS_ITM};

m3ae_pass_list m3ae_pretrain_passes(int objective) {
    if (objective == M3AE_OBJECTIVE_JOINT) return (m3ae_pass_list){joint_passes, 2};
    return (m3ae_pass_list){separate_passes, 3};
}
