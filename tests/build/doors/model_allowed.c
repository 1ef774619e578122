/* The positive control: model/ including its own room and its CPU backend's BLAS builds. */
#include <cblas.h>

#include "common/rng.h"
#include "model/m3ae.h"

int m3ae_door_probe(void) { return (int)CblasRowMajor; }
