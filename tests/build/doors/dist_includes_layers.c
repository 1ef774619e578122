/* A forbidden door: dist/ including layer code; it sees only the registry (must not build). */
#include "model/layers.h"

int m3ae_door_probe(void) { return 0; }
