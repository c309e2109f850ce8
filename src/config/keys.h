/* keys.h: the configuration keys as constants, expanded from keys.def: the enum
 * nd_cfg_key and ND_CFG_DEFAULT_<ID> for every integer key.  Lower layers that must work
 * before (or without) a configuration, such as the runtime's block size, take their
 * default from here, never from a number of their own.  Includes nothing else.
 */
#ifndef ND_CFG_KEYS_H
#define ND_CFG_KEYS_H

/* Every key, in keys.def order (the order print, emit and pack use). */
typedef enum nd_cfg_key {
#define ND_CFG_KEY(ID, PATH, TYPE, CTYPE, FIELD, DFLT, MIN, MAX, NAMES, FLAG, META, HELP) \
    ND_CFG_##ID,
#include "config/keys.def"
#undef ND_CFG_KEY
    ND_CFG_NKEYS
} nd_cfg_key;

/* ND_CFG_DEFAULT_<ID> for INT keys (the other types have no constant). */
#define ND_CFG_DFLTCONST_INT(ID, DFLT) ND_CFG_DEFAULT_##ID = (DFLT),
#define ND_CFG_DFLTCONST_GRID(ID, DFLT)
#define ND_CFG_DFLTCONST_SECONDS(ID, DFLT)
#define ND_CFG_DFLTCONST_BYTES(ID, DFLT)
#define ND_CFG_DFLTCONST_STRING(ID, DFLT)
#define ND_CFG_DFLTCONST_ENUM(ID, DFLT)
#define ND_CFG_DFLTCONST_BOOL(ID, DFLT)
#define ND_CFG_DFLTCONST_MAP(ID, DFLT)
enum nd_cfg_int_default {
#define ND_CFG_KEY(ID, PATH, TYPE, CTYPE, FIELD, DFLT, MIN, MAX, NAMES, FLAG, META, HELP) \
    ND_CFG_DFLTCONST_##TYPE(ID, DFLT)
#include "config/keys.def"
#undef ND_CFG_KEY
    ND_CFG_DEFAULT_END_
};

#endif
