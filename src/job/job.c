/* job.c: the noodle-run driver (job.h).  Rank 0 reads or compiles the program and
 * broadcasts the serialized bytecode; every rank reads and verifies its own copy before
 * the VM runs it, so no rank ever executes unverified code.  Errors met before the VM
 * starts are uniform: rank 0 prints once and every rank returns the same exit code. */
#include "job/job_internal.h"

#include "common/alloc.h"
#include "common/hash.h"
#include "common/roots.h"
#include "common/strbuf.h"
#include "compiler/compiler.h"
#include "config/config.h"
#include "nbc/nbc.h"
#include "nbc/sign.h"
#include "runtime/spmd.h"
#include "runtime/stats.h"
#include "vm/vm.h"

#include <cblas.h>
#include <hdf5.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rank-local (rank 0): reads prog (a .nbc file, or source that it compiles) into its
 * serialized bytecode.  Compile diagnostics are printed here. */
/* Rank 0: the program's bytes, a .nbc file as it is (its signature included) or a
 * source compiled, checked against security.trust / require_signed (nbc/sign.h);
 * signer := the signer's id ("" unsigned). */
static nd_status load_program(const char *path, const nd_cfg *cfg, nd_strbuf *bytes,
                              char signer[ND_SIGN_ID_LEN + 1])
{
    signer[0] = '\0';
    nd_compile_opts copts = {.opt_level = 1, .diag = stderr};
    nd_program *prog = NULL;
    bool compiled = false;
    ND_TRY(nd_compile_or_load(path, &copts, &prog, &compiled));
    nd_status st = compiled ? nd_nbc_write(prog, bytes) : nd_nbc_read_bytes(path, bytes);
    nd_program_free(prog);
    if (st == ND_OK && compiled && cfg->require_signed)
        return nd_err_set(ND_EINVALID, "%s is source, which cannot be signed "
                          "(security.require_signed): compile and sign it with noodlec --sign KEY.key",
                          path);
    if (st == ND_OK)
        st = nd_sign_check(bytes->data, bytes->len, path, cfg->security_trust, cfg->require_signed,
                           signer);
    return st;
}

static nd_status checkpoint_hook(void *ctx, nd_vm *vm)
{
    return nd_ckpt_checkpoint(((nd_job_ctx *)ctx)->ckpt, vm);
}

/* Rank-local (rank 0 prints): one progress line; it changes no state, so ranks need not
 * agree on when it is printed. */
static void progress_line(nd_job_ctx *c, nd_vm *vm, const char *what)
{
    if (nd_spmd_rank() != 0) return;
    nd_vm_counters n;
    nd_vm_get_counters(vm, &n);
    fprintf(stderr,
            "noodle-run: %s: elapsed %.1f s, %llu safe points, %llu checkpoints, "
            "memory high-water %.1f MiB (rank 0)\n",
            what, MPI_Wtime() - c->t_start, (unsigned long long)n.nsafepoints,
            (unsigned long long)nd_ckpt_count(c->ckpt), (double)nd_alloc_peak() / 1048576.0);
    fflush(stderr);
}

/* Collective (each safe-point hook call, only when limits.run_time is set): rank 0's
 * clock decides and one small broadcast makes the decision uniform, the way the
 * checkpoint interval is agreed (never per back-edge).  At the limit the job
 * checkpoints and stops as on SIGUSR1: ND_ESIGNAL, exit 75, so that a batch script
 * requeues it and --restart resumes.  When that checkpoint fails, the run stops with the
 * checkpoint's error (exit 1).  docs/config.md "limits.run_time". */
static nd_status check_run_time(nd_job_ctx *c, nd_vm *vm)
{
    int32_t up = nd_spmd_rank() == 0 && MPI_Wtime() - c->t_job >= c->run_time;
    if (nd_spmd_size() > 1) ND_TRY(nd_spmd_bcast(&up, sizeof up, 0));
    if (!up) return ND_OK;
    nd_status st = nd_ckpt_checkpoint(c->ckpt, vm);
    if (st != ND_OK) {
        return nd_err_set(st, "run time limit of %g s reached (limits.run_time); %s",
                          c->run_time, nd_err_msg());
    }
    return nd_err_set(ND_ESIGNAL,
                      "run time limit of %g s reached (limits.run_time): checkpointed in "
                      "'%s'; exiting with status 75 (requeue and run again with --restart)",
                      c->run_time, nd_ckpt_dir(c->ckpt));
}

static nd_status safepoint_hook(void *ctx, nd_vm *vm, uint64_t *period)
{
    nd_job_ctx *c = ctx;
    if (c->progress_interval > 0 && nd_spmd_rank() == 0 &&
        MPI_Wtime() - c->t_progress >= c->progress_interval) {
        progress_line(c, vm, "progress");
        nd_job_metrics(c, vm, -1);
        c->t_progress = MPI_Wtime();
    }
    ND_TRY(nd_ckpt_safepoint(c->ckpt, vm, period));
    return c->run_time > 0 ? check_run_time(c, vm) : ND_OK;
}

/* The catalog hooks, timed as I/O for the summary. */
static nd_status store_hook(void *ctx, nd_vm *vm, const char *name, nd_value v,
                            nd_value tags, nd_value meta)
{
    nd_stats_begin(ND_STATS_IO);
    nd_status st = nd_job_store_hook(ctx, vm, name, v, tags, meta);
    nd_stats_end(ND_STATS_IO);
    return st;
}

static nd_status load_hook(void *ctx, nd_vm *vm, const char *name, int64_t version,
                           nd_value *out)
{
    nd_stats_begin(ND_STATS_IO);
    nd_status st = nd_job_load_hook(ctx, vm, name, version, out);
    nd_stats_end(ND_STATS_IO);
    return st;
}

static nd_status query_hook(void *ctx, nd_vm *vm, const char *mql, nd_value *out)
{
    nd_stats_begin(ND_STATS_IO);
    nd_status st = nd_job_query_hook(ctx, vm, mql, out);
    nd_stats_end(ND_STATS_IO);
    return st;
}

/* What each rank contributes to the summary. */
enum { SUM_WALL, SUM_VM, SUM_LA, SUM_COMM, SUM_IO, SUM_FLOPS, SUM_MEM, SUM_NCOMM, SUM_N };
/* Per-rank lines (log_level debug) are gathered into a stack buffer up to this size. */
#define SUMMARY_MAX_RANKS 256

static void summary_times(const double *v)
{
    fprintf(stderr, "wall %.3f s, vm %.3f s, linear algebra %.3f s, communication %.3f s, "
                    "I/O %.3f s",
            v[SUM_WALL], v[SUM_VM], v[SUM_LA], v[SUM_COMM], v[SUM_IO]);
}

/* The end-of-run summary on stderr (docs/config.md "Progress and summary").  Times and
 * memory are the maximum over ranks; flops come from global shapes (equal on every
 * rank), so GFLOP/s is the job's rate over its slowest rank's linear-algebra time.
 * Collective when `together` (one MPI_Reduce, or one MPI_Gather for the per-rank lines
 * of log_level debug); otherwise rank-local and rank 0 reports its own values. */
static void summary(const nd_job_ctx *c, double t_vm, uint64_t nckpt, bool together,
                    bool per_rank)
{
    nd_stats s;
    nd_stats_get(&s);
    double v[SUM_N] = {[SUM_WALL] = MPI_Wtime() - c->t_job,
                       [SUM_VM] = t_vm,
                       [SUM_LA] = s.seconds[ND_STATS_LA],
                       [SUM_COMM] = s.seconds[ND_STATS_COMM],
                       [SUM_IO] = s.seconds[ND_STATS_IO],
                       [SUM_FLOPS] = s.flops,
                       [SUM_MEM] = (double)nd_alloc_peak(),
                       [SUM_NCOMM] = (double)s.calls[ND_STATS_COMM]};
    int rank = nd_spmd_rank(), size = nd_spmd_size();
    together = together && size > 1;
    per_rank = per_rank && together && size <= SUMMARY_MAX_RANKS;
    double all[SUMMARY_MAX_RANKS][SUM_N];
    double max[SUM_N];
    memcpy(max, v, sizeof max);
    bool ok = true;
    if (per_rank) {
        ok = MPI_Gather(v, SUM_N, MPI_DOUBLE, all, SUM_N, MPI_DOUBLE, 0, nd_spmd_comm()) ==
             MPI_SUCCESS;
        for (int r = 1; ok && rank == 0 && r < size; r++)
            for (int k = 0; k < SUM_N; k++)
                if (all[r][k] > max[k]) max[k] = all[r][k];
    } else if (together) {
        ok = MPI_Reduce(rank == 0 ? MPI_IN_PLACE : v, rank == 0 ? max : NULL, SUM_N,
                        MPI_DOUBLE, MPI_MAX, 0, nd_spmd_comm()) == MPI_SUCCESS;
    }
    if (rank != 0) return;
    if (!ok) {
        memcpy(max, v, sizeof max);
        together = per_rank = false;
    }
    fprintf(stderr, "noodle-run: summary: ");
    summary_times(max);
    double gflops = max[SUM_LA] > 0 ? max[SUM_FLOPS] / max[SUM_LA] * 1e-9 : 0.0;
    fprintf(stderr, ", %.3f GFLOP/s (%.3g GFLOP of matrix work), memory high-water %.1f MiB, "
                    "%llu checkpoint%s",
            gflops, max[SUM_FLOPS] * 1e-9, max[SUM_MEM] / 1048576.0,
            (unsigned long long)nckpt, nckpt == 1 ? "" : "s");
    if (size > 1) {
        if (together) fprintf(stderr, " (max over %d ranks)", size);
        else fprintf(stderr, " (rank 0 only)");
    }
    fprintf(stderr, "; matrices in %s\n",
            c->on_gpu ? "GPU memory (cuBLAS, cuSOLVER)" : "host memory (ScaLAPACK)");
    if (s.gathered + s.gather_fallbacks > 0) /* uniform counts: rank 0's are the job's */
        fprintf(stderr,
                "noodle-run: summary: gpu: %llu factorization%s gathered onto rank 0's device, "
                "%llu on the host (no room there)\n",
                (unsigned long long)s.gathered, s.gathered == 1 ? "" : "s",
                (unsigned long long)s.gather_fallbacks);
    for (int r = 0; per_rank && r < size; r++) {
        fprintf(stderr, "noodle-run: summary: rank %d: ", r);
        summary_times(all[r]);
        fprintf(stderr, ", %.0f MPI calls, memory high-water %.1f MiB\n", all[r][SUM_NCOMM],
                all[r][SUM_MEM] / 1048576.0);
    }
    fflush(stderr);
}

/* Parses a --param value the way LANGUAGE.md says: int, else float, else string. */
static nd_status param_hook(void *ctx, nd_vm *vm, const char *name, nd_value dflt,
                            nd_value *out)
{
    const nd_job_opts *o = ((nd_job_ctx *)ctx)->o;
    const char *v = o->params ? nd_kv_get(o->params, name) : NULL;
    if (!v) {
        *out = dflt;
        return ND_OK;
    }
    /* Decimal only, the whole value: [+-]digits is an int (beyond int64: a float);
     * [+-]digits[.digits][e[+-]digits] (or .digits) a float, and inf, -inf, nan as the
     * language prints them; anything else (0x10, " 5", 1e, infinity) is a string. */
    const char *p = v + (*v == '-' || *v == '+');
    size_t nd = strspn(p, "0123456789");
    const char *q = p + nd;
    bool is_int = nd > 0 && !*q, is_float = false;
    if (!is_int) {
        size_t nf = 0;
        if (*q == '.') nf = strspn(q + 1, "0123456789"), q += 1 + nf;
        if (nd + nf > 0 && (*q == 'e' || *q == 'E')) {
            const char *x = q + 1 + (q[1] == '-' || q[1] == '+');
            size_t ne = strspn(x, "0123456789");
            q = ne ? x + ne : v; /* an exponent without digits: not a number */
        }
        is_float = nd + nf > 0 && q != v && !*q;
    }
    errno = 0;
    char *end;
    if (is_int) {
        long long i = strtoll(v, &end, 10);
        if (errno == 0) {
            *out = ND_INT(i);
            return ND_OK;
        }
        is_float = true;
    }
    if (is_float || strcmp(v, "inf") == 0 || strcmp(v, "-inf") == 0 || strcmp(v, "nan") == 0) {
        *out = ND_FLOAT(strtod(v, &end));
        return ND_OK;
    }
    return nd_vm_new_string(vm, v, strlen(v), out);
}

/* usage_hint: the error is about the command line or configuration (not, say, a
 * checkpoint whose parameters differ): add the usage line to a usage error. */
static int fail_before_vm(nd_status st, bool usage_hint)
{
    if (nd_spmd_rank() == 0 && nd_last_error.msg[0]) {
        /* Config file errors already read "file:line:col: error: ...". */
        if (st == ND_ESIGNAL) /* a requeue, not an error */
            fprintf(stderr, "noodle-run: info: %s\n", nd_last_error.msg);
        else if (strstr(nd_last_error.msg, ": error: "))
            fprintf(stderr, "%s\n", nd_last_error.msg);
        else
            fprintf(stderr, "noodle-run: error: %s\n", nd_last_error.msg);
        if (st == ND_EUSAGE && usage_hint)
            fprintf(stderr, "usage: mpirun -n N noodle-run [options] PROGRAM.nbc|PROGRAM.noodle"
                            " (noodle-run --help)\n");
        fflush(stderr);
    }
    return nd_status_exit_code(st);
}

/* Rank 0, after the program ended other than by an agreed stop: what was asked of the
 * safe points and never happened is said, not silently dropped (docs/checkpoint.md). */
static void end_notes(const nd_job_ctx *c, const nd_cfg *cfg, nd_status st)
{
    if (nd_spmd_rank() != 0 || st == ND_ESIGNAL || cfg->log_level < ND_LOG_WARN) return;
    double ran = MPI_Wtime() - c->t_job;
    int sig = nd_ckpt_pending_signal();
    if (sig)
        fprintf(stderr,
                "noodle-run: warning: %s arrived, but the program ended before a safe point "
                "that every rank passes: no checkpoint was written for it and the exit "
                "status is the program's\n",
                nd_ckpt_signal_name(sig));
    if (c->run_time > 0 && ran >= c->run_time)
        fprintf(stderr,
                "noodle-run: warning: limits.run_time (%g s) passed %.2f s before the end, "
                "but no safe point that every rank passes came after it\n",
                c->run_time, ran - c->run_time);
    if (cfg->log_level >= ND_LOG_INFO && cfg->checkpoint_interval > 0 &&
        nd_ckpt_count(c->ckpt) == 0)
        fprintf(stderr,
                "noodle-run: summary: checkpoint interval %g s set, but no checkpoint was "
                "written (%s)\n",
                cfg->checkpoint_interval,
                ran < cfg->checkpoint_interval
                    ? "the run was shorter than one interval"
                    : "no safe point that every rank passes came after the interval passed");
    fflush(stderr);
}

/* Rank 0 reads the configuration (file, environment, then the flags) and broadcasts
 * it, so every rank holds the same values (and the same error). */
static nd_status load_config(const nd_job_opts *o, nd_cfg *cfg)
{
    nd_strbuf bytes;
    nd_sb_init(&bytes);
    nd_status st = ND_OK;
    if (nd_spmd_rank() == 0) {
        st = nd_cfg_load(cfg, o->config_file);
        for (int k = 0; st == ND_OK && k < o->noverrides; k++)
            st = nd_cfg_set(cfg, o->overrides[k].key, o->overrides[k].value,
                            o->overrides[k].flag);
        if (st == ND_OK) st = nd_cfg_pack(cfg, &bytes);
    }
    int32_t code = (int32_t)st;
    nd_status bst = nd_spmd_bcast(&code, sizeof code, 0);
    if (bst == ND_OK && code == ND_OK) {
        void *buf = bytes.data;
        size_t len = bytes.len;
        bst = nd_spmd_bcast_alloc(&buf, &len, 0);
        if (bst == ND_OK && nd_spmd_rank() != 0) {
            bst = nd_cfg_unpack(cfg, buf, len);
            nd_free(buf, len);
        }
    }
    nd_sb_free(&bytes);
    if (bst != ND_OK) return bst;
    if (code != ND_OK && nd_spmd_rank() != 0) nd_last_error.msg[0] = '\0';
    return (nd_status)code;
}

/* Uniform: settings that act on the process rather than on a module. */
static nd_status apply_config(const nd_job_opts *o, const nd_cfg *cfg)
{
    openblas_set_num_threads(cfg->threads_per_rank);
    nd_alloc_set_limit((size_t)cfg->memory_per_rank);
    if (cfg->gpu == ND_GPU_ON && !o->gpu_start)
        return nd_err_set(ND_EUSAGE, "gpu: on, but this build has no CUDA support "
                                     "(configure --with-cuda); use gpu: auto or off");
    return ND_OK;
}

/* Collective: the roots of the program's file I/O (io.roots, else security.require_signed's
 * defaults; docs/security.md).  Whether confinement is on is uniform (one config); rank 0
 * resolves the roots, which it alone checks against, and the verdict is agreed: a
 * missing io.roots entry is a configuration error (exit 2) on every rank. */
static nd_status setup_roots(const nd_job_opts *o, const nd_cfg *cfg, nd_roots *r)
{
    const char *list = cfg->io_roots && *cfg->io_roots ? cfg->io_roots : NULL;
    if (!list && !cfg->require_signed) return ND_OK;
    r->on = true;
    nd_status st = ND_OK;
    if (nd_spmd_rank() == 0) {
        st = nd_roots_setup(r, list, cfg->require_signed,
                            o->checkpoint_dir ? o->checkpoint_dir : cfg->checkpoint_dir,
                            cfg->catalog_path);
        if (st == ND_EUSAGE && list) {
            nd_strbuf from;
            nd_sb_init(&from);
            if (nd_cfg_origin_str(cfg, ND_CFG_IO_ROOTS, &from) == ND_OK && from.data)
                st = nd_err_set(st, "%s (from %s)", nd_err_msg(), from.data);
            nd_sb_free(&from);
        }
    }
    return nd_spmd_agree(st);
}

/* Collective: the GPU backend, once the grid exists and before any matrix.  gpu: auto
 * without a device for every rank runs on the CPU (one info line, src/la/cuda). */
static nd_status start_gpu(const nd_job_opts *o, const nd_cfg *cfg, bool *active)
{
    *active = false;
    if (cfg->gpu == ND_GPU_OFF || !o->gpu_start) return ND_OK;
    int verbosity = cfg->log_level >= ND_LOG_DEBUG ? 2 : cfg->log_level >= ND_LOG_INFO;
    return o->gpu_start(cfg->gpu == ND_GPU_ON, cfg->gpu_comm == ND_GPU_COMM_MPI, verbosity,
                        active);
}

/* Rank-local: the job's provenance for the catalog (only rank 0's copy is used). */
static void init_provenance(nd_job_results *r, const void *nbc, size_t len, bool restored,
                            const nd_kv *params, const char *source_name, const char *path,
                            const char *signer)
{
    nd_cat_prov_init(&r->prov);
    uint8_t sha[32];
    nd_sha256_buf(nbc, len, sha);
    nd_hex(sha, sizeof sha, r->prov.program_hash);
    const char *base = source_name ? strrchr(source_name, '/') : NULL;
    snprintf(r->prov.program, sizeof r->prov.program, "%s",
             base ? base + 1 : source_name ? source_name : "");
    char abs[PATH_MAX];
    if (path && nd_spmd_rank() == 0 && realpath(path, abs))
        snprintf(r->prov.program_path, sizeof r->prov.program_path, "%s", abs);
    const char *rc = getenv("SLURM_RESTART_COUNT");
    r->prov.restarts = rc && *rc ? strtoll(rc, NULL, 10) : (restored ? 1 : 0);
    r->prov.params = params;
    r->prov.signer = signer;
}

/* Inside Slurm, a world of one rank in an allocation of several tasks means that the
 * launcher and MPI did not connect (e.g. srun without the right --mpi plugin): N
 * separate one-rank jobs would run.  Refused; another size mismatch is a warning (an
 * explicit mpirun -n may use fewer ranks on purpose).  Uniform: every rank reads the
 * same environment. */
static nd_status check_slurm_tasks(void)
{
    const char *job = getenv("SLURM_JOB_ID"), *nt = getenv("SLURM_NTASKS");
    if (!job || !nt || !*nt) return ND_OK;
    long ntasks = strtol(nt, NULL, 10);
    int size = nd_spmd_size();
    if (ntasks <= 0 || ntasks == size) return ND_OK;
    if (size == 1)
        return nd_err_set(ND_EUSAGE,
                          "MPI started 1 rank but Slurm allocated %ld tasks (SLURM_NTASKS): the "
                          "launcher and MPI are not connected, so %ld separate one-rank jobs "
                          "would run; use srun --mpi=pmix, or mpirun inside the allocation",
                          ntasks, ntasks);
    if (nd_spmd_rank() == 0)
        fprintf(stderr, "noodle-run: warning: %d MPI ranks, but Slurm allocated %ld tasks\n",
                size, ntasks);
    return ND_OK;
}

int nd_job_run(const nd_job_opts *o)
{
    double t_job = MPI_Wtime();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* HDF5-DIAG never reaches the user: our messages do */
    nd_status tst = check_slurm_tasks();
    if (tst != ND_OK) return fail_before_vm(tst, true);
    nd_cfg cfg;
    if (nd_cfg_init(&cfg) != ND_OK) return fail_before_vm(ND_ENOMEM, true);
    nd_status st = load_config(o, &cfg);
    if (st == ND_OK && o->print_config) {
        if (nd_spmd_rank() == 0) nd_cfg_print(&cfg, stdout);
        nd_cfg_free(&cfg);
        return ND_EXIT_OK;
    }
    if (st == ND_OK) st = apply_config(o, &cfg);
    nd_roots roots;
    nd_roots_init(&roots);
    if (st == ND_OK) st = setup_roots(o, &cfg, &roots);
    if (st != ND_OK) {
        nd_roots_free(&roots);
        nd_cfg_free(&cfg);
        return fail_before_vm(st, true);
    }

    /* Rank 0 reads or compiles the program; every rank verifies the broadcast bytes. */
    nd_strbuf bytes;
    nd_sb_init(&bytes);
    char signer[ND_SIGN_ID_LEN + 1] = "";
    if (nd_spmd_rank() == 0) {
        st = load_program(o->program, &cfg, &bytes, signer);
        /* Compile errors were printed with their positions; keep only the status. */
        if (st == ND_EPROG) nd_last_error.msg[0] = '\0';
    }
    int32_t code = (int32_t)st;
    if (nd_spmd_bcast(&code, sizeof code, 0) != ND_OK) return ND_EXIT_PROGRAM;
    if (code != ND_OK) {
        nd_sb_free(&bytes);
        nd_roots_free(&roots);
        nd_cfg_free(&cfg);
        if (nd_spmd_rank() != 0) nd_last_error.msg[0] = '\0';
        return fail_before_vm((nd_status)code, true);
    }
    void *buf = bytes.data;
    size_t len = bytes.len;
    if (nd_spmd_bcast_alloc(&buf, &len, 0) != ND_OK) return fail_before_vm(ND_EMPI, true);
    if (nd_spmd_bcast(signer, sizeof signer, 0) != ND_OK) return fail_before_vm(ND_EMPI, true);
    nd_program *prog = NULL;
    st = nd_nbc_read(buf, len, &prog);
    if (st == ND_OK) st = nd_nbc_verify(prog);

    /* The checkpoint driver keeps a copy of the bytes (they go into every checkpoint). */
    nd_ckpt_opts copts = o->ckpt;
    copts.dir = o->checkpoint_dir;
    copts.parent = cfg.checkpoint_dir;
    copts.interval = cfg.checkpoint_interval;
    copts.keep = cfg.checkpoint_keep;
    copts.hints = &cfg.mpiio_hints;
    copts.signer = signer;
    /* --force may resume a checkpoint's own bytecode, which was never checked here */
    if (st == ND_OK && cfg.require_signed && copts.force)
        st = nd_err_set(ND_EUSAGE, "--force cannot be used with security.require_signed (it may "
                        "resume bytecode whose signature was never checked)");
    nd_ckpt *ck = NULL;
    if (st == ND_OK) st = nd_ckpt_new(&copts, o->program, buf, len, o->params, &ck);
    /* nd_ckpt_new reads the environment and allocates on each rank: agree. */
    st = nd_spmd_agree(st);
    nd_job_results results = {.path = cfg.catalog_path, .roots = &roots};
    nd_spmd_opts sopts = {.block_size = cfg.block_size,
                          .grid_rows = cfg.grid_rows,
                          .grid_cols = cfg.grid_cols,
                          .check_collectives = cfg.check_collectives};
    /* Uniform from here: identical bytes, the same config, and the agreement above. */
    if (st == ND_OK) st = nd_spmd_configure(&sopts);
    bool on_gpu = false;
    if (st == ND_OK) st = start_gpu(o, &cfg, &on_gpu);

    nd_vm_opts vopts = {.max_call_depth = cfg.call_depth, .roots = &roots};
    nd_vm *vm = NULL;
    const nd_program *run_prog = prog;
    bool restored = false, complete = false;
    if (st == ND_OK) st = nd_ckpt_prepare(ck, &complete);
    if (st == ND_OK && !complete)
        st = nd_ckpt_restore(ck, prog, &vopts, &run_prog, &vm, &restored);
    if (st == ND_OK && !complete && !restored) st = nd_vm_new(prog, &vopts, &vm);
    if (st == ND_OK && !complete && !o->ckpt.no_signals) st = nd_ckpt_stop_if_signalled();
    if (st == ND_OK && !complete) {
        init_provenance(&results, buf, len, restored, o->params, run_prog->source_name,
                        o->program, signer);
        nd_job_ctx ctx = {.o = o,
                          .ckpt = ck,
                          .results = &results,
                          .progress_interval = cfg.progress_interval,
                          .t_start = MPI_Wtime(),
                          .run_time = cfg.run_time,
                          .t_job = t_job,
                          .on_gpu = on_gpu,
                          .program_name = results.prov.program,
                          .metrics_path = cfg.metrics_textfile};
        ctx.t_progress = ctx.t_start;
        nd_vm_hooks hooks = {.ctx = &ctx,
                             .param = param_hook,
                             .checkpoint = checkpoint_hook,
                             .safepoint = safepoint_hook,
                             .safepoint_every = nd_ckpt_safepoint_every(ck),
                             .store = store_hook,
                             .load = load_hook,
                             .query = query_hook};
        nd_vm_set_hooks(vm, &hooks);
        double t_vm = MPI_Wtime();
        st = nd_vm_run(vm);
        t_vm = MPI_Wtime() - t_vm;
        if (st == ND_OK) nd_ckpt_mark_complete(ck);
        /* With the collective check on, every rank returns from the VM together even
         * when only one failed (its exit check releases the others), but their statuses
         * may differ: the summary's collective must not depend on the local status.
         * Without the check only an agreed stop (ND_ESIGNAL) is known to be uniform. */
        bool together = nd_spmd_checks_enabled() || st == ND_ESIGNAL;
        if (cfg.log_level >= ND_LOG_INFO)
            summary(&ctx, t_vm, nd_ckpt_count(ck), together, cfg.log_level >= ND_LOG_DEBUG);
        /* Ranks that returned OK without the collective check cannot know that the others
         * did: a failed rank exits and mpirun ends them, so the report's collectives
         * cannot hang for long.  Whether the catalog was opened is uniform. */
        if (together || st == ND_OK) nd_job_report(&ctx, t_vm, st);
        nd_job_metrics(&ctx, vm, nd_status_exit_code(st));
        end_notes(&ctx, &cfg, st);
        nd_vm_free(vm);
    } else if (!complete) {
        nd_vm_free(vm);
        fail_before_vm(st, false);
    }
    if (results.cat) nd_cat_close(results.cat);
    nd_ckpt_free(ck); /* after the VM: it may own the program the VM ran */
    nd_program_free(prog);
    if (nd_spmd_rank() == 0)
        nd_sb_free(&bytes);
    else
        nd_free(buf, len);
    nd_roots_free(&roots);
    nd_cfg_free(&cfg);
    fflush(stdout);
    fflush(stderr);
    return nd_status_exit_code(st);
}
