#include "model/tasks/vqa.h"

static const m3ae_pass vqa_passes[] = {M3AE_PASS_VQA};

m3ae_pass_list m3ae_vqa_passes(void) { return (m3ae_pass_list){vqa_passes, 1}; }
