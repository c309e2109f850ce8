/* jobspec.h: YAML job specs (nd_cfg_jobspec), the input of noodle-submit: program,
 * resources, environment, config overrides, parameters and a parameter sweep.  Parsed by
 * config/jobspec.c (not to be confused with src/job, the run driver).  Every function is
 * Rank-local.  Specified by jobs/README.md.
 */
#ifndef ND_CFG_JOBSPEC_H
#define ND_CFG_JOBSPEC_H

#include "config/config.h"

typedef struct nd_cfg_jobspec_sweep {
    char *name;    /* owned */
    size_t n;      /* >= 1 */
    char **values; /* owned, scalar text */
} nd_cfg_jobspec_sweep;

typedef struct nd_cfg_jobspec {
    char *path;      /* the spec's path as given */
    char *name;      /* [A-Za-z0-9_.-]+; default: program's file name without extension */
    char *program;   /* required, .noodle or .nbc, as written in the spec */
    int ranks;       /* >= 1, default 1 */
    int nodes;       /* >= 1, 0 = not given */
    int gpus;        /* >= 0, default 0 (per node) */
    int64_t time;    /* seconds, 0 = not given (partition default) */
    char *partition; /* NULL = not given */
    char *account;   /* NULL = not given */
    size_t n_modules;
    char **modules;
    nd_kv environment; /* NAME -> value */
    nd_kv config;      /* dotted key -> canonical value (nd_cfg_value_str) */
    nd_kv params;      /* name -> scalar text */
    size_t n_sweep;
    nd_cfg_jobspec_sweep *sweep;    /* in file order */
    int throttle;           /* >= 1, 0 = not given */
} nd_cfg_jobspec;

/* Rank-local.  Parses and validates a job spec; on success *job is owned by the caller
 * (nd_cfg_jobspec_free).  Errors are ND_EUSAGE with file:line:col and the key path; on
 * error *job is empty. */
nd_status nd_cfg_jobspec_load(const char *path, nd_cfg_jobspec *job);
/* The same for len bytes already in memory (need not end in NUL), named path
 * (tests/fuzz/fuzz_jobspec.c). */
nd_status nd_cfg_jobspec_load_text(const char *path, const char *data, size_t len,
                                   nd_cfg_jobspec *job);
void nd_cfg_jobspec_free(nd_cfg_jobspec *job);
/* The number of sweep combinations (1 without a sweep); the product is checked. */
uint64_t nd_cfg_jobspec_count(const nd_cfg_jobspec *job);
/* The parameters of task `index` (0-based, < nd_cfg_jobspec_count): params first, then one
 * value per sweep entry, in file order; the LAST sweep entry varies fastest (row-major
 * order).  Writes at most cap borrowed (name, value) pairs and sets *n to the number of
 * pairs (job->params.n + job->n_sweep).  ND_EUSAGE for an index out of range. */
nd_status nd_cfg_jobspec_task(const nd_cfg_jobspec *job, uint64_t index, const char **names,
                          const char **values, size_t cap, size_t *n);
/* Formats job->time for Slurm as H:MM:SS (hours may exceed 24); "" when not given. */
void nd_cfg_jobspec_time_str(const nd_cfg_jobspec *job, char *buf, size_t size);

#endif
