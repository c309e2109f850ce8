/* job_internal.h: what the run driver's files share: the context the VM hooks receive
 * and the catalog hooks (results.c). */
#ifndef ND_JOB_INTERNAL_H
#define ND_JOB_INTERNAL_H

#include "catalog/catalog.h"
#include "ckpt/ckpt.h"
#include "job/job.h"
#include "vm/vm.h"

/* The catalog side of a run: opened on the first store/load/query. */
typedef struct nd_job_results {
    const char *path; /* catalog.path (borrowed from the config) */
    const nd_roots *roots; /* io.roots (borrowed): checked before the catalog opens */
    nd_cat *cat;
    nd_cat_prov prov; /* params borrowed from the job */
} nd_job_results;

typedef struct nd_job_ctx {
    const nd_job_opts *o;
    nd_ckpt *ckpt;
    nd_job_results *results;
    double progress_interval;  /* seconds between progress lines (0 = off) */
    double t_start, t_progress; /* MPI_Wtime of the start and of the last progress line */
    double run_time;           /* limits.run_time in seconds (0 = no limit) */
    double t_job;              /* MPI_Wtime when nd_job_run began (run time, wall time) */
    bool on_gpu;               /* the matrices live in GPU memory (src/la/cuda) */
    const char *program_name;  /* the program's source file name (results->prov.program) */
    const char *metrics_path;  /* metrics.textfile (NULL or empty: off) */
    bool metrics_failed;       /* rank 0: a write failed; warned once, no more tries */
} nd_job_ctx;

/* Collective: the VM hooks of store(), load() and query(). */
nd_status nd_job_store_hook(void *ctx, nd_vm *vm, const char *name, nd_value v,
                            nd_value tags, nd_value meta);
nd_status nd_job_load_hook(void *ctx, nd_vm *vm, const char *name, int64_t version,
                           nd_value *out);
nd_status nd_job_query_hook(void *ctx, nd_vm *vm, const char *mql, nd_value *out);

/* report.c.  Collective, at the end of a run whose ranks agree that it ended (any
 * status): stores the job report `_run` when the program used the catalog; a failure
 * is a warning on rank 0. */
void nd_job_report(nd_job_ctx *c, double t_vm, nd_status run_st);
/* Rank-local (rank 0 writes): rewrites metrics.textfile; exit_code < 0 while running. */
void nd_job_metrics(nd_job_ctx *c, nd_vm *vm, int exit_code);

#endif
