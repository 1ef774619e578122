#include <cblas.h>

#include "model/backend_info.h"

const char *m3ae_blas_version(void) { return openblas_get_config(); }
