/* job.h: the run driver behind noodle-run: configuration (file, environment, flags; read
 * by rank 0 and broadcast), loading or compiling the program on rank 0, broadcasting the
 * verified bytecode, running the VM with the job hooks (parameters, checkpoints, the
 * results catalog), and the exit status.  Every function is Collective unless marked. */
#ifndef ND_JOB_H
#define ND_JOB_H

#include "ckpt/ckpt.h"
#include "common/kv.h"
#include "common/nd.h"

/* A command-line flag that sets a configuration key (it overrides file and environment). */
typedef struct nd_job_override {
    const char *key;   /* dotted key path, e.g. "checkpoint.interval" */
    const char *value; /* text, parsed by the config module */
    const char *flag;  /* the flag as typed, for messages and --print-config */
} nd_job_override;

typedef struct nd_job_opts {
    const char *program;        /* .nbc or .noodle path, as given (NULL with print_config) */
    const nd_kv *params;        /* --param k=v (a later k wins); NULL = none */
    const char *config_file;    /* --config FILE (NULL: the search order of docs/config.md) */
    const nd_job_override *overrides;
    int noverrides;
    bool print_config;          /* --print-config: print the effective config and exit */
    const char *checkpoint_dir; /* --checkpoint-dir: the exact directory (else
                                   <checkpoint.dir>/<program name>) */
    nd_ckpt_opts ckpt;          /* restart, restart_from, force; the rest from config */
    /* Collective, after the grid is set: starts the CUDA matrix backend (src/la/cuda) when
     * every rank has a device (its own, unless mpi_comm: gpu_comm: mpi); required: gpu: on
     * (else auto); verbosity: 0 no info lines, 1 info (log_level info), 2 debug too.
     * *active: the matrices live on the devices.  NULL: no CUDA. */
    nd_status (*gpu_start)(bool required, bool mpi_comm, int verbosity, bool *active);
} nd_job_opts;

/* Runs the program to the end; returns the process exit code (the same on every rank). */
int nd_job_run(const nd_job_opts *opts);

#endif
