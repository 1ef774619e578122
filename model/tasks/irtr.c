#include "model/tasks/irtr.h"

static const m3ae_pass irtr_passes[] = {M3AE_PASS_IRTR};

m3ae_pass_list m3ae_irtr_passes(void) { return (m3ae_pass_list){irtr_passes, 1}; }
