/* A forbidden door: checkpoints/ including the optimizer (must not build). */
#include "model/optimizer.h"

int m3ae_door_probe(void) { return 0; }
