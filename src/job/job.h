/* job.h: the run driver behind noodle-run: MPI start-up, configuration, loading or
 * compiling the program on rank 0, broadcasting the verified bytecode, running the VM
 * with the job hooks (parameters, checkpoints, catalog), and the exit status.
 * Every function is Collective unless marked. */
#ifndef ND_JOB_H
#define ND_JOB_H

#include "ckpt/ckpt.h"
#include "common/nd.h"

typedef struct nd_job_param {
    char *key, *value;
} nd_job_param;

typedef struct nd_job_opts {
    const char *program;        /* .nbc or .noodle path, as given */
    nd_job_param *params;       /* --param k=v, in order (a later k wins) */
    int nparams;
    int block_size;             /* 0 = default */
    int grid_rows, grid_cols;   /* 0 = auto */
    bool no_check_collectives;
    uint32_t call_depth;        /* 0 = default */
    nd_ckpt_opts ckpt;          /* the checkpoint section (flags now, config later) */
} nd_job_opts;

/* Runs the program to the end; returns the process exit code (the same on every rank). */
int nd_job_run(const nd_job_opts *opts);

#endif
