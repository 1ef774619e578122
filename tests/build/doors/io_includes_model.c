/* A forbidden door: io/ including model code (must not build). */
#include "model/m3ae.h"

int m3ae_door_probe(void) { return 0; }
