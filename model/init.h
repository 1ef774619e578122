/* Parameter initialisation by the registry's rules (spec 1.7), keyed by tensor name (model/init.c).
 * m3ae_model_init_params (model/m3ae.h) initialises a model's arena on its backend; this fills a
 * host arena laid out by any registry, so tests can compare registries that differ. */
#ifndef M3AE_MODEL_INIT_H
#define M3AE_MODEL_INIT_H

#include <stdint.h>

#include "model/config.h"
#include "model/registry.h"

/* arena[0..r->arena_floats) = the initial values of every tensor of r (padding left untouched). */
void m3ae_init_arena(const m3ae_registry *r, const m3ae_config *cfg, uint64_t seed, float *arena);

#endif
