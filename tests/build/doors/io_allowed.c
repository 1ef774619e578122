/* The positive control: io/ including what its row allows builds with the same probe shape. */
#include "common/error.h"
#include "io/tokenizer.h"

int m3ae_door_probe(void) { return M3AE_EXIT_FAIL; }
