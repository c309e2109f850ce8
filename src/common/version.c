/* version.c: the version string of the installed library (the embedding API). */
#include "common/nd.h"
#include "config.h"

ND_API const char *nd_version(void);
const char *nd_version(void) { return PACKAGE_VERSION; }
