/* A forbidden door: model/ including HDF5 (must not build). */
#include <hdf5.h>

int m3ae_door_probe(void) { return H5_VERS_MAJOR; }
