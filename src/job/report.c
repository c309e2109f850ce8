/* report.c: what a run tells about itself after the fact.  The job report: a run whose
 * program used the catalog stores its figures as the map result `_run` (scalars also as
 * tags, so that MQL can select and aggregate them; per-rank figures and the checkpoint
 * log as arrays).  The metrics textfile: rank 0 rewrites PATH in the Prometheus text
 * format at each progress line and at the end.  docs/catalog.md "Job reports",
 * docs/config.md "metrics.textfile".
 */
#include "job/job_internal.h"

#include "common/alloc.h"
#include "common/outfile.h"
#include "common/strbuf.h"
#include "runtime/arr.h"
#include "runtime/spmd.h"
#include "runtime/stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What each rank contributes to the report. */
enum { R_WALL, R_VM, R_LA, R_COMM, R_IO, R_FLOPS, R_MEM, R_N };
static const char *const rank_names[] = {"wall_rank", "vm_rank", "linear_algebra_rank",
                                         "communication_rank", "io_rank"};

static void local_figures(const nd_job_ctx *c, double t_vm, double v[R_N])
{
    nd_stats s;
    nd_stats_get(&s);
    v[R_WALL] = MPI_Wtime() - c->t_job;
    v[R_VM] = t_vm;
    v[R_LA] = s.seconds[ND_STATS_LA];
    v[R_COMM] = s.seconds[ND_STATS_COMM];
    v[R_IO] = s.seconds[ND_STATS_IO];
    v[R_FLOPS] = s.flops;
    v[R_MEM] = (double)nd_alloc_peak() / 1048576.0;
}

/* The report's members and tags, and what they own. */
#define MAX_MEMBERS 32
#define MAX_TAGS 24
typedef struct report {
    nd_cat_member m[MAX_MEMBERS];
    size_t nm;
    nd_cat_tag t[MAX_TAGS];
    size_t nt;
    nd_cat_tag attrs[MAX_MEMBERS][2]; /* units, description */
    const char *rank_dims[1], *ckpt_dims[1];
} report;

static nd_cat_member *add(report *r, const char *name, const char *units, const char *desc)
{
    nd_cat_member *m = &r->m[r->nm];
    nd_cat_tag *a = r->attrs[r->nm++];
    m->name = (char *)name;
    m->attrs = a;
    if (units) a[m->nattrs++] = (nd_cat_tag){"units", {.type = ND_CAT_CSTR, .s = units}};
    if (desc) a[m->nattrs++] = (nd_cat_tag){"description", {.type = ND_CAT_CSTR, .s = desc}};
    return m;
}

static void add_f(report *r, const char *name, double v, const char *units, const char *desc, bool tag)
{
    nd_cat_member *m = add(r, name, units, desc);
    m->item = (nd_cat_item){.kind = ND_CAT_FLOAT, .f = v};
    if (tag) r->t[r->nt++] = (nd_cat_tag){name, {.type = ND_CAT_CFLOAT, .f = v}};
}

static void add_i(report *r, const char *name, int64_t v, const char *desc, bool tag)
{
    nd_cat_member *m = add(r, name, NULL, desc);
    m->item = (nd_cat_item){.kind = ND_CAT_INT, .i = v};
    if (tag) r->t[r->nt++] = (nd_cat_tag){name, {.type = ND_CAT_CINT, .i = v}};
}

static void add_s(report *r, const char *name, const char *v, const char *desc, bool tag)
{
    nd_cat_member *m = add(r, name, NULL, desc);
    m->item = (nd_cat_item){.kind = ND_CAT_STRING, .s = (char *)v, .len = strlen(v)};
    if (tag) r->t[r->nt++] = (nd_cat_tag){name, {.type = ND_CAT_CSTR, .s = v}};
}

/* Collective: a 1-D array member from data every rank holds identically. */
static nd_status add_a(report *r, const char *name, const double *data, int64_t n,
                       const char **dims, const char *units, const char *desc)
{
    nd_cat_member *m = add(r, name, units, desc);
    m->item.kind = ND_CAT_MATRIX;
    m->dims = dims;
    m->ndims = 1;
    return nd_arr_from_rowmajor(1, &n, data, &m->item.m);
}

static const char *status_name(nd_status st)
{
    return st == ND_OK ? "ok" : st == ND_ESIGNAL ? "stopped" : "error";
}

/* Collective.  Gathers every rank's figures and rank 0's checkpoint log, and stores them
 * as `_run`.  A failure is a warning: the run's own status stands. */
static nd_status store_report(nd_job_ctx *c, double t_vm, nd_status run_st)
{
    int size = nd_spmd_size(), rank = nd_spmd_rank();
    double v[R_N];
    local_figures(c, t_vm, v);
    double *all = ND_SCRATCH_N(double, (size_t)size * R_N);
    double *col = ND_SCRATCH_N(double, (size_t)size);
    nd_status st = nd_spmd_agree(all && col ? ND_OK : ND_ENOMEM);
    if (st == ND_OK && MPI_Allgather(v, R_N, MPI_DOUBLE, all, R_N, MPI_DOUBLE, nd_spmd_comm()) != MPI_SUCCESS)
        st = nd_err_set(ND_EMPI, "the job report: MPI_Allgather failed");
    double max[R_N] = {0};
    for (int p = 0; st == ND_OK && p < size; p++)
        for (int k = 0; k < R_N; k++)
            if (p == 0 || all[p * R_N + k] > max[k]) max[k] = all[p * R_N + k];
    /* Rank 0's checkpoint log, relative to the start of the job. */
    const double *start, *secs;
    uint64_t nck = (uint64_t)nd_ckpt_log(c->ckpt, &start, &secs);
    double *log = NULL;
    if (st == ND_OK) st = nd_spmd_bcast(&nck, sizeof nck, 0);
    if (st == ND_OK && nck) {
        log = ND_SCRATCH_N(double, 2 * nck);
        st = nd_spmd_agree(log ? ND_OK : ND_ENOMEM);
        for (uint64_t i = 0; st == ND_OK && rank == 0 && i < nck; i++)
            log[i] = start[i] - c->t_job, log[nck + i] = secs[i];
        if (st == ND_OK) st = nd_spmd_bcast(log, 2 * nck * sizeof *log, 0);
    }
    report r;
    memset(&r, 0, sizeof r);
    r.rank_dims[0] = "rank";
    r.ckpt_dims[0] = "checkpoint";
    if (st == ND_OK) {
        double gflops = max[R_LA] > 0 ? max[R_FLOPS] / max[R_LA] * 1e-9 : 0.0, ck_total = 0;
        for (uint64_t i = 0; i < nck; i++) ck_total += log[nck + i];
        add_s(&r, "status", status_name(run_st), "ok, stopped (checkpointed for a requeue) or error", true);
        add_f(&r, "wall", max[R_WALL], "s", "wall time of the run (max over ranks)", true);
        add_f(&r, "vm", max[R_VM], "s", "time in the VM (max over ranks)", true);
        add_f(&r, "linear_algebra", max[R_LA], "s", "time in linear algebra (max over ranks)", true);
        add_f(&r, "communication", max[R_COMM], "s", "time in communication (max over ranks)", true);
        add_f(&r, "io", max[R_IO], "s", "time in I/O: catalog, HDF5, checkpoints (max over ranks)", true);
        add_f(&r, "gflops", gflops, "GFLOP/s", "matrix work over the slowest rank's linear algebra time", true);
        add_f(&r, "gflop", max[R_FLOPS] * 1e-9, "GFLOP", "nominal matrix work", false);
        add_f(&r, "memory_mib", max[R_MEM], "MiB", "memory high-water (max over ranks)", true);
        add_i(&r, "checkpoints", (int64_t)nd_ckpt_count(c->ckpt), "checkpoints written by this run", true);
        add_f(&r, "checkpoint_seconds", ck_total, "s", "time spent writing checkpoints", true);
        add_i(&r, "restarts", c->results->prov.restarts, "restarts before this run", true);
        add_i(&r, "ranks", size, NULL, false);
        add_s(&r, "program", c->program_name ? c->program_name : "", "the program's source file", false);
        const char *aj = getenv("SLURM_ARRAY_JOB_ID"), *at = getenv("SLURM_ARRAY_TASK_ID");
        if (aj && *aj) r.t[r.nt++] = (nd_cat_tag){"array_job", {.type = ND_CAT_CSTR, .s = aj}};
        if (at && *at) r.t[r.nt++] = (nd_cat_tag){"array_task", {.type = ND_CAT_CSTR, .s = at}};
        for (int k = 0; st == ND_OK && k <= R_IO; k++) {
            for (int p = 0; p < size; p++) col[p] = all[p * R_N + k];
            st = add_a(&r, rank_names[k], col, size, r.rank_dims, "s", NULL);
        }
        for (int p = 0; st == ND_OK && p < size; p++) col[p] = all[p * R_N + R_MEM];
        if (st == ND_OK) st = add_a(&r, "memory_mib_rank", col, size, r.rank_dims, "MiB", "memory high-water per rank");
        if (st == ND_OK && nck) {
            st = add_a(&r, "checkpoint_start", log, (int64_t)nck, r.ckpt_dims, "s",
                       "when each checkpoint began, from the start of the run");
            if (st == ND_OK)
                st = add_a(&r, "checkpoint_duration", log + nck, (int64_t)nck, r.ckpt_dims, "s",
                           "how long each checkpoint took");
        }
    }
    st = nd_spmd_agree(st);
    if (st == ND_OK) {
        nd_cat_item item = {.kind = ND_CAT_MAP, .members = r.m, .nmembers = r.nm};
        int64_t version;
        st = nd_cat_store(c->results->cat, "_run", &item, r.t, r.nt, &c->results->prov, &version);
    }
    for (size_t i = 0; i < r.nm; i++)
        if (r.m[i].item.m) nd_dm_free(r.m[i].item.m);
    if (log) ND_FREE_N(log, 2 * nck);
    if (all) ND_FREE_N(all, (size_t)size * R_N);
    if (col) ND_FREE_N(col, (size_t)size);
    return st;
}

void nd_job_report(nd_job_ctx *c, double t_vm, nd_status run_st)
{
    if (!c->results->cat) return; /* the program never used the catalog */
    nd_error saved = nd_last_error; /* the run's own error is reported after this */
    nd_status st = store_report(c, t_vm, nd_spmd_agree(run_st));
    if (st != ND_OK && nd_spmd_rank() == 0) {
        fprintf(stderr, "noodle-run: warning: the job report (_run) was not stored: %s\n", nd_err_msg());
        fflush(stderr);
    }
    nd_last_error = saved;
}

/* ---- metrics.textfile ---- */

/* A label value: backslash, double quote and newline escaped (the text format's rule). */
static nd_status label(nd_strbuf *sb, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\') ND_TRY(nd_sb_puts(sb, "\\\\"));
        else if (*s == '"') ND_TRY(nd_sb_puts(sb, "\\\""));
        else if (*s == '\n') ND_TRY(nd_sb_puts(sb, "\\n"));
        else ND_TRY(nd_sb_putc(sb, *s));
    }
    return ND_OK;
}

static nd_status metric(nd_strbuf *sb, const char *labels, const char *name, const char *type,
                        const char *help, double v)
{
    ND_TRY(nd_sb_printf(sb, "# HELP %s %s\n# TYPE %s %s\n%s{%s} %.17g\n", name, help, name, type,
                        name, labels, v));
    return ND_OK;
}

void nd_job_metrics(nd_job_ctx *c, nd_vm *vm, int exit_code)
{
    if (!c->metrics_path || !*c->metrics_path || nd_spmd_rank() != 0 || c->metrics_failed) return;
    nd_vm_counters n;
    nd_vm_get_counters(vm, &n);
    const double *start, *secs;
    size_t nck = nd_ckpt_log(c->ckpt, &start, &secs);
    nd_strbuf lb, sb;
    nd_sb_init(&lb);
    nd_sb_init(&sb);
    nd_status st = nd_sb_puts(&lb, "job=\"");
    if (st == ND_OK) st = label(&lb, c->results->prov.job);
    if (st == ND_OK) st = nd_sb_puts(&lb, "\",program=\"");
    if (st == ND_OK) st = label(&lb, c->program_name ? c->program_name : "");
    if (st == ND_OK) st = nd_sb_putc(&lb, '"');
    const char *l = lb.data;
#define M(name, type, help, v) \
    if (st == ND_OK) st = metric(&sb, l, name, type, help, (double)(v))
    M("noodle_up", "gauge", "1 while the run goes on, 0 once it ended", exit_code < 0);
    M("noodle_elapsed_seconds", "gauge", "seconds since noodle-run started", MPI_Wtime() - c->t_job);
    M("noodle_safepoints_total", "counter", "safe points passed", n.nsafepoints);
    M("noodle_checkpoints_total", "counter", "checkpoints written by this run", nd_ckpt_count(c->ckpt));
    M("noodle_checkpoint_last_seconds", "gauge", "how long the last checkpoint took", nck ? secs[nck - 1] : 0.0);
    M("noodle_memory_highwater_bytes", "gauge", "allocation high-water of rank 0", nd_alloc_peak());
    M("noodle_ranks", "gauge", "MPI ranks of the run", nd_spmd_size());
    M("noodle_restarts", "gauge", "restarts before this run", c->results->prov.restarts);
    if (exit_code >= 0) M("noodle_exit_status", "gauge", "the exit status of noodle-run", exit_code);
#undef M
    /* Written beside PATH and renamed over it: the collector never sees half a file. */
    nd_outfile o;
    if (st == ND_OK) st = nd_out_open(c->metrics_path, &o);
    if (st == ND_OK) {
        st = nd_out_write(&o, sb.data, sb.len);
        nd_status cst = nd_out_close(&o, st == ND_OK);
        if (st == ND_OK) st = cst;
    }
    if (st != ND_OK) {
        fprintf(stderr, "noodle-run: warning: metrics.textfile: %s (no more tries)\n", nd_err_msg());
        fflush(stderr);
        c->metrics_failed = true;
    }
    nd_sb_free(&lb);
    nd_sb_free(&sb);
}
