/* config.h: Noodle's configuration (nd_cfg); job specs are config/jobspec.h.
 *
 * Invariant: an nd_cfg always holds a valid value for every key, and per key where that
 * value came from (default, file:line:col, environment variable, command-line flag).
 * Sources override in order: defaults < file < environment < flags.  Every function is
 * Rank-local: rank 0 loads, then noodle-run broadcasts nd_cfg_pack's bytes.
 * Specified by docs/config.md (keys, search order, error format) and jobs/README.md.
 */
#ifndef ND_CONFIG_H
#define ND_CONFIG_H

#include "common/kv.h"
#include "common/nd.h"
#include "common/strbuf.h"

#include <stdio.h>

#include "config/keys.h"

typedef enum nd_cfg_log_level {
    ND_LOG_ERROR,
    ND_LOG_WARN,
    ND_LOG_INFO,
    ND_LOG_DEBUG
} nd_cfg_log_level;

typedef enum nd_cfg_gpu { ND_GPU_AUTO, ND_GPU_ON, ND_GPU_OFF } nd_cfg_gpu;

/* How GPU ranks exchange device data: NCCL (one device per rank), or MPI through host
 * memory (ranks may share a device; docs/gpu.md). */
typedef enum nd_cfg_gpu_comm { ND_GPU_COMM_NCCL, ND_GPU_COMM_MPI } nd_cfg_gpu_comm;

/* AUTO resolves to srun inside a Slurm allocation, mpirun elsewhere
 * (nd_cfg_launcher_resolve). */
typedef enum nd_cfg_launcher {
    ND_LAUNCHER_AUTO,
    ND_LAUNCHER_SRUN,
    ND_LAUNCHER_MPIRUN
} nd_cfg_launcher;

typedef enum nd_cfg_src {
    ND_CFG_SRC_DEFAULT,
    ND_CFG_SRC_FILE,  /* cfg->file at line:col */
    ND_CFG_SRC_ENV,   /* name = the variable */
    ND_CFG_SRC_FLAG   /* name = the flag */
} nd_cfg_src;

typedef struct nd_cfg_origin {
    nd_cfg_src src;
    int line, col; /* 1-based, for ND_CFG_SRC_FILE */
    char *name;    /* owned; NULL for DEFAULT and FILE */
} nd_cfg_origin;

/* The field types of keys.def's value types (GRID gives two fields). */
#define ND_CFG_FIELD_GRID(CTYPE, FIELD) int FIELD##_rows, FIELD##_cols; /* 0, 0 = auto */
#define ND_CFG_FIELD_INT(CTYPE, FIELD) int FIELD;
#define ND_CFG_FIELD_SECONDS(CTYPE, FIELD) double FIELD;
#define ND_CFG_FIELD_BYTES(CTYPE, FIELD) uint64_t FIELD; /* 0 = no limit */
#define ND_CFG_FIELD_STRING(CTYPE, FIELD) char *FIELD;   /* owned, non-empty */
#define ND_CFG_FIELD_ENUM(CTYPE, FIELD) CTYPE FIELD;
#define ND_CFG_FIELD_BOOL(CTYPE, FIELD) bool FIELD;
#define ND_CFG_FIELD_MAP(CTYPE, FIELD) nd_kv FIELD;

/* One field per key of keys.def, holding a value in its range (units: keys.def). */
typedef struct nd_cfg {
#define ND_CFG_KEY(ID, PATH, TYPE, CTYPE, FIELD, DFLT, MIN, MAX, NAMES, FLAG, META, HELP) \
    ND_CFG_FIELD_##TYPE(CTYPE, FIELD)
#include "config/keys.def"
#undef ND_CFG_KEY
    char *file; /* owned: the config file read, as found (NULL = none) */
    nd_cfg_origin origin[ND_CFG_NKEYS];
} nd_cfg;

/* Sets every key to its default.  Returns ND_ENOMEM only.  Free with nd_cfg_free. */
nd_status nd_cfg_init(nd_cfg *cfg);
void nd_cfg_free(nd_cfg *cfg);

/* Rank-local (rank 0).  Reads the first config file found of config_flag (the value of
 * --config, NULL when absent), $NOODLE_CONFIG, ./noodle.yaml,
 * $XDG_CONFIG_HOME/noodle/config.yaml (~/.config when unset), then applies the NOODLE_*
 * environment variables.  A named file (flag or variable) that cannot be read is an
 * error; none at all leaves the defaults.  Errors: ND_EUSAGE (message names
 * file:line:col and the key path, or the variable), ND_ENOMEM.  On error cfg holds
 * valid values but may be partly updated. */
nd_status nd_cfg_load(nd_cfg *cfg, const char *config_flag);
/* The two halves of nd_cfg_load. */
nd_status nd_cfg_load_file(nd_cfg *cfg, const char *path);
nd_status nd_cfg_load_env(nd_cfg *cfg);
/* nd_cfg_load_file on len bytes already in memory (need not end in NUL); name stands for
 * the file in messages, origins and cfg->file (tests/fuzz/fuzz_config.c). */
nd_status nd_cfg_load_text(nd_cfg *cfg, const char *name, const char *data, size_t len);

/* Sets key (a dotted path like "checkpoint.interval") from text, as a command-line flag
 * would: the origin becomes `flag` (e.g. "--checkpoint-interval"; NULL = "--set KEY").
 * A bad value or unknown key is ND_EUSAGE, "FLAG: expected ..., got '...'". */
nd_status nd_cfg_set(nd_cfg *cfg, const char *key, const char *value, const char *flag);

/* noodle-run's flags that set a key (keys.def).  nd_cfg_flag_find returns the key of
 * `flag`, or -1; *fixed is the value of a flag that takes none (BOOL), else NULL.
 * nd_cfg_flags_usage appends their usage lines ("  --block-size N   ... (block_size,
 * default 64)"), in key order. */
int nd_cfg_flag_find(const char *flag, const char **fixed);
nd_status nd_cfg_flags_usage(nd_strbuf *out);

/* Key table lookups.  nd_cfg_key_find returns -1 for an unknown path. */
int nd_cfg_key_find(const char *path);
const char *nd_cfg_key_path(nd_cfg_key key);
/* The environment variable of a key ("checkpoint.dir" -> "NOODLE_CHECKPOINT_DIR"). */
void nd_cfg_env_name(nd_cfg_key key, char *buf, size_t size);

/* Appends the canonical text of key's value (readable back by nd_cfg_set: "2x3", "64",
 * "30.0", "4294967296", "striping_factor=4,cb_nodes=2"). */
nd_status nd_cfg_value_str(const nd_cfg *cfg, nd_cfg_key key, nd_strbuf *out);
/* Appends where key's value came from: "default", "noodle.yaml:3:5", "NOODLE_GPU",
 * "--checkpoint-interval". */
nd_status nd_cfg_origin_str(const nd_cfg *cfg, nd_cfg_key key, nd_strbuf *out);

/* Every effective value and where it came from, one key a line (--print-config). */
nd_status nd_cfg_format(const nd_cfg *cfg, nd_strbuf *out);
nd_status nd_cfg_print(const nd_cfg *cfg, FILE *fp);
/* The effective config as a YAML document (checkpoint provenance); nd_cfg_load_file
 * reads it back to the same values. */
nd_status nd_cfg_emit_yaml(const nd_cfg *cfg, nd_strbuf *out);

/* Serializes values, origins and the file name (explicit little-endian) so that rank 0's
 * result can be broadcast.  nd_cfg_unpack replaces *cfg (which must be initialized);
 * malformed bytes are ND_EINVALID and leave cfg unchanged. */
nd_status nd_cfg_pack(const nd_cfg *cfg, nd_strbuf *out);
nd_status nd_cfg_unpack(nd_cfg *cfg, const void *data, size_t len);

/* srun inside a Slurm allocation ($SLURM_JOB_ID set), otherwise mpirun, for AUTO. */
nd_cfg_launcher nd_cfg_launcher_resolve(const nd_cfg *cfg);


#endif
