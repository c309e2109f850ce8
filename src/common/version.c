/* version.c: the version string of the installed library (include/noodle/noodle.h). */
#include "common/nd.h"
#include "ac_config.h"
#include "noodle/noodle.h"

ND_API const char *nd_version(void) { return PACKAGE_VERSION; }
