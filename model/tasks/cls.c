#include "model/tasks/cls.h"

static const m3ae_pass cls_passes[] = {M3AE_PASS_CLS};

m3ae_pass_list m3ae_cls_passes(void) { return (m3ae_pass_list){cls_passes, 1}; }
