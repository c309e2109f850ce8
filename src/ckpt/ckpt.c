/* ckpt.c: the checkpoint driver (ckpt.h): when to checkpoint, where, commit by rename,
 * rotation, signals, and restart selection (docs/checkpoint.md).
 *
 * Invariants: a checkpoint file is visible under its final name ckpt-<seq>.h5 only after
 * every rank finished writing and the file was flushed (rename by rank 0 after the
 * collective close); sequence numbers only grow within a directory; retention deletes
 * only checkpoints older than the keep-th newest valid one.  Decisions (when to
 * checkpoint, which file to restart from) are made by rank 0 or by an all-reduce, so
 * every rank takes the same path.
 */
#include "ckpt/ckpt_internal.h"
#include "ckpt/mark.h"

#include "common/alloc.h"
#include "common/hash.h"
#include "common/strbuf.h"
#include "config/keys.h"
#include "nbc/nbc.h"
#include "runtime/spmd.h"
#include "runtime/stats.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* What this run learnt of one checkpoint of its directory (retention, rank 0). */
typedef struct verdict {
    uint64_t seq;
    bool valid;
} verdict;

struct nd_ckpt {
    nd_ckpt_opts o;
    char *dir;              /* owned */
    char *program;          /* owned: the path as given */
    uint8_t *nbc;           /* owned copy of the serialized bytecode */
    size_t nbc_len;
    uint8_t sha256[32];
    nd_kv params;           /* sorted by key */
    uint64_t next_seq;      /* 0: not known yet (scan the directory first) */
    double last_time;       /* rank 0: MPI_Wtime of the start or the last checkpoint */
    uint64_t count;
    nd_program *own_prog;   /* the checkpoint's program after a forced restart */
    bool stats;             /* NOODLE_CKPT_STATS: a timing line per write and restore */
    bool sp_fixed;          /* NOODLE_CKPT_SAFEPOINT_EVERY: the period never adapts */
    double sp_time;         /* rank 0: MPI_Wtime of the last hook call */
    /* The first ND_CKPT_LOG checkpoints of this run: MPI_Wtime at their start, seconds
     * they took (the job report, docs/catalog.md "Job reports"). */
    double log_start[ND_CKPT_LOG], log_seconds[ND_CKPT_LOG];
    /* Rank 0: verdicts on checkpoints of dir (written here, read at the restart, or
     * looked at by retention), and the odd names already warned about (NUL-separated
     * paths: one warning per file per run). */
    verdict *judged;
    size_t njudged, judged_cap;
    nd_strbuf warned;
};

/* The largest sequence number a checkpoint name may carry.  The writer stops before
 * it would pass it, so every name it commits is read back, and the number after the
 * largest one in a directory never overflows. */
#define SEQ_MAX (UINT64_MAX - 1)

/* The safe-point period adapts (rank 0 measures, the agreement carries the result) so
 * that hook calls come about SP_TARGET seconds apart: never more events than
 * safepoint_every between two calls, never fewer than 1, growing at most SP_GROWTH-fold
 * per call.  A loop of long iterations then reaches a hook every iteration, a fast loop
 * every safepoint_every events (docs/checkpoint.md "Safe points"). */
#define SP_TARGET 0.1
#define SP_GROWTH 8.0

/* Rank-local: the size of a file in MiB (0 when it cannot be read). */
static double file_mib(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (double)sb.st_size / 1048576.0 : 0.0;
}

static volatile sig_atomic_t pending_signal;
static struct timespec signal_time; /* CLOCK_MONOTONIC when pending_signal was first set */

static void on_signal(int signo)
{
    if (!pending_signal) clock_gettime(CLOCK_MONOTONIC, &signal_time); /* signal-safe */
    pending_signal = signo;
}

/* Seconds since the pending signal arrived on this rank (0 when it came from elsewhere). */
static double since_signal(void)
{
    if (!pending_signal || !signal_time.tv_sec) return 0.0;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - signal_time.tv_sec) +
           1e-9 * (double)(now.tv_nsec - signal_time.tv_nsec);
}

void nd_ckpt_raise(int signo)
{
    pending_signal = signo;
}

int nd_ckpt_pending_signal(void)
{
    return pending_signal;
}

const char *nd_ckpt_signal_name(int signo)
{
    return signo == SIGTERM ? "SIGTERM" : signo == SIGUSR1 ? "SIGUSR1" : "a signal";
}

nd_status nd_ckpt_stop_if_signalled(void)
{
    int32_t sig = pending_signal;
    int rc = nd_spmd_size() == 1 ? MPI_SUCCESS
                                  : MPI_Allreduce(MPI_IN_PLACE, &sig, 1, MPI_INT32_T, MPI_MAX,
                                                  nd_spmd_comm());
    if (rc != MPI_SUCCESS) return nd_spmd_mpi_fail("MPI_Allreduce", rc);
    if (!sig) return ND_OK;
    return nd_err_set(ND_ESIGNAL,
                      "%s arrived while the job was starting; exiting with status 75 before "
                      "any work (requeue and run again with --restart)",
                      nd_ckpt_signal_name(sig));
}

void nd_ckpt_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* <parent>/<basename of program without its extension> */
static char *default_dir(const char *parent, const char *program)
{
    const char *base = strrchr(program, '/');
    base = base ? base + 1 : program;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    nd_strbuf sb;
    nd_sb_init(&sb);
    char *s = NULL;
    if (nd_sb_printf(&sb, "%s/%.*s", parent, (int)n, base) == ND_OK) s = nd_strdup(sb.data);
    nd_sb_free(&sb);
    return s;
}

const char *nd_ckpt_dir(const nd_ckpt *c) { return c->dir; }

nd_status nd_ckpt_new(const nd_ckpt_opts *opts, const char *program, const void *nbc,
                      size_t nbc_len, const nd_kv *params, nd_ckpt **out)
{
    *out = NULL;
    nd_ckpt *c = ND_ALLOC_N(nd_ckpt, 1);
    if (!c) return ND_ENOMEM;
    c->o = *opts;
    if (c->o.keep <= 0) c->o.keep = ND_CFG_DEFAULT_CHECKPOINT_KEEP;
    if (!c->o.safepoint_every) c->o.safepoint_every = ND_CKPT_SAFEPOINT_EVERY;
    /* For measurements (benchmarks/ckpt): events between safe-point hooks; 0 = never.
     * Checked strictly: garbage read as 0 would silently turn off the signal
     * checkpoints and the run-time limit. */
    const char *every = getenv("NOODLE_CKPT_SAFEPOINT_EVERY");
    nd_status env_st = ND_OK;
    if (every && *every) {
        uint64_t e = 0;
        if (!nd_parse_count(every, &e))
            env_st = nd_err_set(ND_EUSAGE,
                                "NOODLE_CKPT_SAFEPOINT_EVERY: expected an integer >= 0 (0 = "
                                "never), got '%s'",
                                every);
        c->o.safepoint_every = e ? e : UINT64_MAX;
        c->sp_fixed = true;
    }
    c->stats = getenv("NOODLE_CKPT_STATS") != NULL;
    nd_sb_init(&c->warned);
    ND_ASSERT((opts->dir && *opts->dir) || opts->parent);
    c->dir = opts->dir && *opts->dir ? nd_strdup(opts->dir) : default_dir(opts->parent, program);
    c->program = nd_strdup(program);
    c->nbc = nd_malloc(nbc_len ? nbc_len : 1);
    nd_status st = c->dir && c->program && c->nbc ? env_st : ND_ENOMEM;
    if (st == ND_OK) {
        memcpy(c->nbc, nbc, nbc_len);
        c->nbc_len = nbc_len;
        nd_sha256_buf(nbc, nbc_len, c->sha256);
    }
    /* Sorted, so that comparing with a checkpoint's (HDF5's name order) is simple. */
    if (st == ND_OK && params) st = nd_kv_copy_sorted(&c->params, params);
    if (st != ND_OK) {
        nd_ckpt_free(c);
        return st;
    }
    c->last_time = c->sp_time = MPI_Wtime();
    if (!c->o.no_signals) nd_ckpt_install_signals();
    *out = c;
    return ND_OK;
}

void nd_ckpt_free(nd_ckpt *c)
{
    if (!c) return;
    nd_strfree(c->dir);
    nd_strfree(c->program);
    if (c->nbc) nd_free(c->nbc, c->nbc_len ? c->nbc_len : 1);
    nd_kv_free(&c->params);
    nd_program_free(c->own_prog);
    if (c->judged) ND_FREE_N(c->judged, c->judged_cap);
    nd_sb_free(&c->warned);
    nd_free(c, sizeof *c);
}

uint64_t nd_ckpt_safepoint_every(const nd_ckpt *c)
{
    return c->o.safepoint_every;
}

uint64_t nd_ckpt_count(const nd_ckpt *c)
{
    return c->count;
}

size_t nd_ckpt_log(const nd_ckpt *c, const double **start, const double **seconds)
{
    *start = c->log_start;
    *seconds = c->log_seconds;
    return c->count < ND_CKPT_LOG ? (size_t)c->count : ND_CKPT_LOG;
}

/* ---- the directory ---- */

/* Rank-local: the sequence number of a committed checkpoint's file name, exactly what
 * ckpt_path writes: "ckpt-<N>.h5", N from 1 to SEQ_MAX in decimal without sign or
 * leading zero; else 0.  *odd: the name looks like one (ckpt-*.h5) but is not.
 * Temporaries (any name with ".tmp") are neither. */
static uint64_t seq_of(const char *name, bool *odd)
{
    size_t len = strlen(name);
    *odd = false;
    if (len < 8 || strncmp(name, "ckpt-", 5) != 0 || strcmp(name + len - 3, ".h5") != 0 ||
        strstr(name, ".tmp"))
        return 0;
    const char *p = name + 5, *end = name + len - 3;
    uint64_t s = 0;
    bool ok = *p != '0';
    for (; ok && p < end; p++) {
        if (*p < '0' || *p > '9') ok = false;
        else if (s > (SEQ_MAX - (uint64_t)(*p - '0')) / 10) ok = false; /* overflow */
        else s = s * 10 + (uint64_t)(*p - '0');
    }
    *odd = !ok || s == 0;
    return *odd ? 0 : s;
}

/* Rank-local (rank 0): the warning for an odd name (seq_of), once per path per run. */
static void warn_odd(nd_ckpt *c, const char *dir, const char *name)
{
    char path[4400]; /* dir (< 4096, mkdir_p) + '/' + a 255-byte name */
    snprintf(path, sizeof path, "%s/%s", dir, name);
    for (size_t off = 0; off < c->warned.len; off += strlen(c->warned.data + off) + 1)
        if (strcmp(c->warned.data + off, path) == 0) return;
    (void)nd_sb_append(&c->warned, path, strlen(path) + 1);
    fprintf(stderr,
            "noodle-run: warning: ignoring '%s': not a checkpoint name (ckpt-N.h5, N from 1 "
            "to %llu without sign or leading zeros)\n",
            path, (unsigned long long)SEQ_MAX);
}

static int u64_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Rank-local (rank 0): committed sequence numbers in dir, newest first; odd names are
 * left out with a warning (warn_odd). */
static nd_status scan_dir(nd_ckpt *c, const char *dir, uint64_t **seqs, size_t *n)
{
    *seqs = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return ND_OK;
    size_t cap = 0;
    struct dirent *e;
    nd_status st = ND_OK;
    while ((e = readdir(d)) != NULL) {
        bool odd;
        uint64_t s = seq_of(e->d_name, &odd);
        if (odd) warn_odd(c, dir, e->d_name);
        if (!s) continue;
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            uint64_t *p = ND_REALLOC_N(uint64_t, *seqs, cap, ncap);
            if (!p) {
                st = ND_ENOMEM;
                break;
            }
            *seqs = p;
            cap = ncap;
        }
        (*seqs)[(*n)++] = s;
    }
    closedir(d);
    if (*n) qsort(*seqs, *n, sizeof **seqs, u64_desc);
    if (st != ND_OK || *n == 0) {
        if (*seqs) ND_FREE_N(*seqs, cap);
        *seqs = NULL;
        *n = 0;
        return st;
    }
    /* Shrink to the exact count so that the caller frees with n. */
    uint64_t *p = ND_REALLOC_N(uint64_t, *seqs, cap, *n);
    if (p) *seqs = p;
    else {
        ND_FREE_N(*seqs, cap);
        *seqs = NULL;
        *n = 0;
        return ND_ENOMEM;
    }
    return ND_OK;
}

static nd_status mkdir_p(const char *dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return nd_err_set(ND_EUSAGE, "checkpoint directory name too long");
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return nd_err_set(ND_EIO, "cannot create directory '%s': %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return nd_err_set(ND_EIO, "cannot create directory '%s': %s", buf, strerror(errno));
    return ND_OK;
}

static void fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static void ckpt_path(char *buf, size_t n, const char *dir, uint64_t seq, bool tmp)
{
    snprintf(buf, n, "%s/ckpt-%llu.h5%s", dir, (unsigned long long)seq, tmp ? ".tmp" : "");
}

/* Collective: learns the next sequence number from the directory (rank 0). */
static nd_status learn_seq(nd_ckpt *c)
{
    uint64_t next = 1;
    if (nd_spmd_rank() == 0) {
        uint64_t *seqs;
        size_t n;
        if (scan_dir(c, c->dir, &seqs, &n) == ND_OK && n) {
            next = seqs[0] + 1;
            ND_FREE_N(seqs, n);
        }
    }
    ND_TRY(nd_spmd_bcast(&next, sizeof next, 0));
    c->next_seq = next;
    return ND_OK;
}

/* ---- completed runs ---- */

nd_status nd_ckpt_prepare(nd_ckpt *c, bool *complete)
{
    *complete = false;
    int32_t done = 0;
    nd_status st = ND_OK;
    if (nd_spmd_rank() == 0) {
        char when[64];
        if (c->o.fresh) {
            bool had;
            int n = nd_ckpt_dir_clear(c->dir, &had);
            if (had || n)
                fprintf(stderr, "noodle-run: info: --fresh: removed %d checkpoint%s%s in '%s'\n",
                        n, n == 1 ? "" : "s", had ? " and the completion mark" : "", c->dir);
            fsync_dir(c->dir);
        } else if (c->o.restart && !c->o.restart_from) {
            if (nd_ckpt_dir_complete(c->dir, when, sizeof when)) {
                done = 1;
                fprintf(stderr,
                        "noodle-run: info: the run in '%s' already completed%s%s; nothing to "
                        "do (--fresh runs it again)\n",
                        c->dir, when[0] ? " at " : "", when);
            }
        } else if (!nd_ckpt_dir_unmark(c->dir)) {
            /* a mark that stays would make a later --restart take this run for complete */
            st = nd_err_set(ND_EIO, "cannot remove the completion mark in '%s': %s", c->dir,
                            strerror(errno));
        }
        fflush(stderr);
    }
    ND_TRY(nd_spmd_agree(st));
    ND_TRY(nd_spmd_bcast(&done, sizeof done, 0));
    *complete = done != 0;
    if (c->o.fresh) {
        c->o.restart = false;
        c->o.restart_from = NULL;
    }
    return ND_OK;
}

void nd_ckpt_mark_complete(nd_ckpt *c)
{
    if (nd_spmd_rank() != 0) return;
    struct stat sb;
    bool in_use = c->o.restart || c->o.restart_from || c->o.interval > 0 || c->count > 0 ||
                  stat(c->dir, &sb) == 0;
    if (!in_use) return;
    char when[32], hex[65];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    nd_hex(c->sha256, 32, hex);
    nd_strbuf text;
    nd_sb_init(&text);
    bool ok = nd_sb_printf(&text, "noodle run complete\nprogram: %s\nsha256: %s\nfinished: %s\n"
                                  "checkpoints written: %llu\n",
                           c->program, hex, when, (unsigned long long)c->count) == ND_OK &&
              mkdir_p(c->dir) == ND_OK && nd_ckpt_dir_mark(c->dir, text.data);
    nd_sb_free(&text);
    if (!ok)
        fprintf(stderr, "noodle-run: warning: cannot mark '%s' complete (%s); a --restart "
                        "would run the program again\n", c->dir, strerror(errno));
}

/* Rank-local (rank 0): records whether checkpoint seq of the run's directory is valid
 * (the latest verdict wins).  Best effort: one not recorded gets a quick look later. */
static void judge(nd_ckpt *c, uint64_t seq, bool valid)
{
    for (size_t k = 0; k < c->njudged; k++)
        if (c->judged[k].seq == seq) {
            c->judged[k].valid = valid;
            return;
        }
    if (c->njudged == c->judged_cap) {
        size_t ncap = c->judged_cap ? 2 * c->judged_cap : 8;
        verdict *p = ND_REALLOC_N(verdict, c->judged, c->judged_cap, ncap);
        if (!p) return;
        c->judged = p;
        c->judged_cap = ncap;
    }
    c->judged[c->njudged++] = (verdict){seq, valid};
}

/* Rank-local (rank 0): whether checkpoint seq of the run's directory counts as valid for
 * retention: this run's verdict (it wrote the file, or read it in full at the restart),
 * else a quick look (nd_ckpt_file_plausible), remembered. */
static bool counts_valid(nd_ckpt *c, uint64_t seq)
{
    for (size_t k = 0; k < c->njudged; k++)
        if (c->judged[k].seq == seq) return c->judged[k].valid;
    char path[4200];
    ckpt_path(path, sizeof path, c->dir, seq, false);
    bool ok = nd_ckpt_file_plausible(path);
    judge(c, seq, ok);
    return ok;
}

/* Rank-local (rank 0): retention.  The cutoff is the keep-th newest valid checkpoint;
 * every committed name older than it is deleted, valid or not, and nothing newer (an
 * invalid file newer than the cutoff stays until `keep` valid ones are newer).  So
 * invalid files never push a valid checkpoint out.  Also deletes stale temporary
 * files older than the one just committed. */
static void rotate(nd_ckpt *c, uint64_t committed)
{
    uint64_t *seqs;
    size_t n;
    if (scan_dir(c, c->dir, &seqs, &n) != ND_OK) return;
    uint64_t cutoff = 0;
    size_t valid = 0;
    for (size_t k = 0; k < n && !cutoff; k++)
        if (counts_valid(c, seqs[k]) && ++valid == (size_t)c->o.keep) cutoff = seqs[k];
    char path[4200];
    for (size_t k = 0; k < n; k++) {
        if (seqs[k] >= cutoff) continue;
        ckpt_path(path, sizeof path, c->dir, seqs[k], false);
        (void)unlink(path);
    }
    if (n) ND_FREE_N(seqs, n);
    size_t m = 0; /* forget the deleted */
    for (size_t k = 0; k < c->njudged; k++)
        if (c->judged[k].seq >= cutoff) c->judged[m++] = c->judged[k];
    c->njudged = m;
    DIR *d = opendir(c->dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        unsigned long long s;
        int len = 0;
        if (sscanf(e->d_name, "ckpt-%llu.h5.tmp%n", &s, &len) == 1 && e->d_name[len] == '\0' &&
            s < committed) {
            snprintf(path, sizeof path, "%s/%s", c->dir, e->d_name);
            (void)unlink(path);
        }
    }
    closedir(d);
}

/* ---- writing ---- */

/* Collective: replaces the encoded VM state with rank 0's.  The matrices it refers to
 * are collective objects and must be the same list on every rank. */
static nd_status share_rank0_blob(nd_strbuf *blob, size_t nmats)
{
    if (nd_spmd_size() == 1) return ND_OK;
    uint64_t n[2] = {blob->len, nmats};
    ND_TRY(nd_spmd_bcast(n, sizeof n, 0));
    /* A rank that cannot take the bytes must not leave rank 0 alone in the broadcast. */
    nd_status st = ND_OK;
    if (n[1] != nmats) {
        st = nd_err_set(ND_EPROG, "checkpoint: the ranks hold different matrices (a matrix "
                                  "assigned under rank-dependent control)");
    } else if (nd_spmd_rank() != 0) {
        blob->len = 0;
        st = nd_sb_reserve(blob, (size_t)n[0] + 1);
        if (st == ND_OK) blob->len = (size_t)n[0];
    }
    ND_TRY(nd_spmd_agree(st));
    return nd_spmd_bcast(blob->data, (size_t)n[0], 0);
}

/* names: a strbuf on rank 0, an nd_spmd_bcast_alloc buffer elsewhere. */
static void free_names(nd_strbuf *names)
{
    if (nd_spmd_rank() == 0) nd_sb_free(names);
    else if (names->data) nd_free(names->data, names->len);
    names->data = NULL;
}

static nd_status write_checkpoint(nd_ckpt *c, nd_vm *vm, char *final, size_t final_len)
{
    fflush(stdout);
    fflush(stderr);
    nd_status st = ND_OK;
    if (nd_spmd_rank() == 0) st = mkdir_p(c->dir);
    ND_TRY(nd_spmd_agree(st));
    if (!c->next_seq) ND_TRY(learn_seq(c));
    /* Uniform: next_seq comes from rank 0 by broadcast, or from the restored file. */
    if (c->next_seq > SEQ_MAX)
        return nd_err_set(ND_EIO,
                          "checkpoint failed: no sequence number left after the largest "
                          "ckpt-N.h5 in '%s' (remove it, or start over with --fresh)",
                          c->dir);

    nd_strbuf blob, names;
    nd_sb_init(&blob);
    nd_sb_init(&names);
    nd_dm **mats = NULL;
    size_t nmats = 0;
    st = nd_ckpt_state_encode(vm, &blob, &mats, &nmats, &names);
    /* The variables' names for the matrices are rank 0's (HDF5 metadata is collective). */
    if (nd_spmd_rank() != 0) nd_sb_free(&names);
    /* Identical state on every rank gives identical bytes, but variables assigned under
     * rank-dependent control (docs/checkpoint.md) differ: rank 0's state is the one
     * written, so that the file is consistent, and every rank restores it. */
    if (st == ND_OK) st = share_rank0_blob(&blob, nmats);
    st = nd_spmd_agree(st);
    void *nbuf = names.data;
    size_t nlen = names.len;
    if (st == ND_OK) st = nd_spmd_bcast_alloc(&nbuf, &nlen, 0);
    if (nd_spmd_rank() != 0) {
        names.data = nbuf;
        names.len = names.cap = nlen;
    }
    double wtime = nd_spmd_wtime();
    nd_vm_counters n;
    nd_vm_get_counters(vm, &n);
    if (st != ND_OK) {
        nd_sb_free(&blob);
        free_names(&names);
        if (mats) ND_FREE_N(mats, nmats);
        return st;
    }
    uint64_t seq = c->next_seq++;
    double t0 = MPI_Wtime();
    char tmp[4200];
    ckpt_path(tmp, sizeof tmp, c->dir, seq, true);
    ckpt_path(final, final_len, c->dir, seq, false);
    nd_ckpt_meta meta = {.seq = seq,
                         .nbc = c->nbc,
                         .nbc_len = c->nbc_len,
                         .sha256 = c->sha256,
                         .program = c->program,
                         .signer = c->o.signer ? c->o.signer : "",
                         .params = &c->params,
                         .blob = blob.data ? blob.data : "",
                         .blob_len = blob.len,
                         .ncollective = n.ncollective,
                         .nsafepoints = n.nsafepoints,
                         .gc_runs = n.gc_runs,
                         .gc_live = n.gc_live,
                         .gc_pending = n.gc_pending,
                         .wtime = wtime,
                         .names = names.len ? names.data : NULL};
    nd_stats_begin(ND_STATS_IO);
    st = nd_ckpt_file_write(tmp, &meta, mats, nmats, c->o.hints);
    nd_stats_end(ND_STATS_IO);
    nd_sb_free(&blob);
    free_names(&names);
    if (mats) ND_FREE_N(mats, nmats);
    if (st != ND_OK) {
        if (nd_spmd_rank() == 0) (void)unlink(tmp);
        return nd_err_set(st, "checkpoint failed: %s (earlier checkpoints are kept)",
                          nd_err_msg());
    }
    /* Every rank has closed the file: commit it. */
    st = ND_OK;
    if (nd_spmd_rank() == 0) {
        if (rename(tmp, final) != 0) {
            st = nd_err_set(ND_EIO, "checkpoint failed: cannot rename '%s' to '%s': %s", tmp,
                            final, strerror(errno));
            (void)unlink(tmp);
        } else {
            fsync_dir(c->dir);
            judge(c, seq, true);
            rotate(c, seq);
        }
    }
    ND_TRY(nd_spmd_agree(st));
    if (c->count < ND_CKPT_LOG) {
        c->log_start[c->count] = t0;
        c->log_seconds[c->count] = MPI_Wtime() - t0;
    }
    c->count++;
    if (c->stats && nd_spmd_rank() == 0) {
        double dt = MPI_Wtime() - t0, mib = file_mib(final);
        fprintf(stderr, "noodle-run: stats: wrote '%s': %.1f MiB in %.3f s (%.0f MiB/s)\n",
                final, mib, dt, dt > 0 ? mib / dt : 0.0);
    }
    return ND_OK;
}

nd_status nd_ckpt_checkpoint(nd_ckpt *c, nd_vm *vm)
{
    char final[4200];
    ND_TRY(write_checkpoint(c, vm, final, sizeof final));
    c->last_time = MPI_Wtime();
    return ND_OK;
}

nd_status nd_ckpt_safepoint(nd_ckpt *c, nd_vm *vm, uint64_t *period)
{
    if (c->o.no_signals && c->o.interval <= 0) return ND_OK;
    /* {a signal arrived here, rank 0: the interval passed, rank 0: the next period}, all
     * taken with MAX (the others send 0 for rank 0's entries). */
    int64_t v[3] = {pending_signal ? 1 : 0, 0, 0};
    if (nd_spmd_rank() == 0) {
        double now = MPI_Wtime(), dt = now - c->sp_time;
        c->sp_time = now;
        v[1] = c->o.interval > 0 && now - c->last_time >= c->o.interval;
        double next = (double)*period;
        if (!c->sp_fixed) {
            next *= dt > SP_TARGET / SP_GROWTH ? SP_TARGET / dt : SP_GROWTH;
            if (next > (double)c->o.safepoint_every) next = (double)c->o.safepoint_every;
            if (next < 1.0) next = 1.0;
        }
        v[2] = next >= 9e18 ? INT64_MAX : (int64_t)next;
    }
    if (nd_spmd_size() > 1) {
        int rc = MPI_Allreduce(MPI_IN_PLACE, v, 3, MPI_INT64_T, MPI_MAX, nd_spmd_comm());
        if (rc != MPI_SUCCESS) return nd_spmd_mpi_fail("MPI_Allreduce", rc);
    }
    *period = (uint64_t)v[2];
    int flags = (v[0] ? 1 : 0) | (v[1] ? 2 : 0);
    if (!flags) return ND_OK;
    char final[4200];
    ND_TRY(write_checkpoint(c, vm, final, sizeof final));
    c->last_time = MPI_Wtime();
    if (flags & 1) {
        int sig = pending_signal;
        double dt = since_signal();
        char after[64] = "";
        if (dt > 0) snprintf(after, sizeof after, " (%.3f s after it arrived)", dt);
        return nd_err_set(ND_ESIGNAL,
                          "checkpointed to '%s' on %s%s; exiting with status 75 (requeue and "
                          "run again with --restart)",
                          final, nd_ckpt_signal_name(sig), after);
    }
    return ND_OK;
}

/* ---- restart ---- */

/* Only what changed between the checkpoint's parameters (old) and this run's (now):
 * "n: 100 -> 200, eps removed (was 1e-08), m=5 added". */
static void params_diff(nd_strbuf *sb, const nd_kv *old, const nd_kv *now)
{
    for (size_t k = 0; k < old->n; k++) {
        const char *v = nd_kv_get(now, old->keys[k]);
        if (v && strcmp(v, old->vals[k]) == 0) continue;
        (void)nd_sb_puts(sb, sb->len ? ", " : "");
        if (v) (void)nd_sb_printf(sb, "%s: %s -> %s", old->keys[k], old->vals[k], v);
        else (void)nd_sb_printf(sb, "%s removed (was %s)", old->keys[k], old->vals[k]);
    }
    for (size_t k = 0; k < now->n; k++)
        if (!nd_kv_get(old, now->keys[k]))
            (void)nd_sb_printf(sb, "%s%s=%s added", sb->len ? ", " : "", now->keys[k],
                               now->vals[k]);
}

/* Rank 0: the candidate files, newest first, as one NUL-separated buffer. */
static nd_status candidates(nd_ckpt *c, nd_strbuf *out, const char **where)
{
    const char *from = c->o.restart_from;
    const char *dir = c->dir;
    *where = dir;
    if (from) {
        struct stat sb;
        if (stat(from, &sb) != 0)
            return nd_err_set(ND_EUSAGE, "--restart-from '%s': %s", from, strerror(errno));
        *where = from;
        if (!S_ISDIR(sb.st_mode)) return nd_sb_append(out, from, strlen(from) + 1);
        dir = from;
    }
    uint64_t *seqs;
    size_t n;
    ND_TRY(scan_dir(c, dir, &seqs, &n));
    char path[4200];
    nd_status st = ND_OK;
    for (size_t k = 0; st == ND_OK && k < n; k++) {
        ckpt_path(path, sizeof path, dir, seqs[k], false);
        st = nd_sb_append(out, path, strlen(path) + 1);
    }
    if (n) ND_FREE_N(seqs, n);
    return st;
}

/* Rank-local (rank 0): keeps the verdict of a full read of path when path is a
 * checkpoint of the run's directory (--restart-from may name another). */
static void note_read(nd_ckpt *c, const char *path, bool valid)
{
    const char *base = strrchr(path, '/');
    bool odd;
    uint64_t s = seq_of(base ? base + 1 : path, &odd);
    if (!s) return;
    char mine[4200];
    ckpt_path(mine, sizeof mine, c->dir, s, false);
    struct stat a, b;
    if (strcmp(mine, path) == 0 || (stat(mine, &a) == 0 && stat(path, &b) == 0 &&
                                    a.st_dev == b.st_dev && a.st_ino == b.st_ino))
        judge(c, s, valid);
}

nd_status nd_ckpt_restore(nd_ckpt *c, const nd_program *prog, const nd_vm_opts *vopts,
                          const nd_program **prog_used, nd_vm **vm, bool *restored)
{
    *vm = NULL;
    *restored = false;
    *prog_used = prog;
    if (!c->o.restart && !c->o.restart_from) return ND_OK;
    bool rank0 = nd_spmd_rank() == 0;

    nd_strbuf list;
    nd_sb_init(&list);
    const char *where = c->dir;
    nd_status st = rank0 ? candidates(c, &list, &where) : ND_OK;
    int32_t code = (int32_t)st;
    ND_TRY(nd_spmd_bcast(&code, sizeof code, 0));
    if (code != ND_OK) {
        nd_sb_free(&list);
        if (!rank0) nd_err_set((nd_status)code, "cannot list checkpoints");
        return (nd_status)code;
    }
    void *buf = list.data;
    size_t len = list.len;
    ND_TRY(nd_spmd_bcast_alloc(&buf, &len, 0));
    if (len == 0) {
        if (rank0)
            fprintf(stderr, "noodle-run: info: no checkpoint in '%s'; starting fresh\n", where);
        if (rank0) nd_sb_free(&list);
        else if (buf) nd_free(buf, len);
        return learn_seq(c);
    }

    nd_ckpt_image img;
    double t0 = MPI_Wtime();
    const char *chosen = NULL;
    int skipped = 0;
    st = ND_EINVALID;
    for (size_t off = 0; off < len; off += strlen((const char *)buf + off) + 1) {
        const char *path = (const char *)buf + off;
        bool bad_version;
        nd_stats_begin(ND_STATS_IO);
        st = nd_ckpt_file_read(path, c->o.hints, &img, &bad_version);
        nd_stats_end(ND_STATS_IO);
        if (st == ND_OK) {
            if (rank0) note_read(c, path, true);
            chosen = path;
            break;
        }
        if (bad_version || st == ND_ENOMEM || st == ND_EMPI) break;
        if (rank0) note_read(c, path, false);
        if (rank0) fprintf(stderr, "noodle-run: warning: %s; trying an older one\n", nd_err_msg());
        skipped++;
    }
    if (!chosen) {
        if (st == ND_EINVALID && skipped)
            nd_err_set(ND_EINVALID, "no valid checkpoint in '%s' (%d invalid, skipped)", where,
                       skipped);
        goto out;
    }

    /* Bytecode of an older format (a Noodle before 2026-12-07's safe-point invariant)
     * cannot run here, forced or not: say so before calling it another program. */
    uint32_t ver = 0;
    if (nd_nbc_is_nbc(img.nbc, img.nbc_len) && img.nbc_len >= 12)
        for (int i = 0; i < 4; i++) ver |= (uint32_t)img.nbc[8 + i] << (8 * i);
    if (ver != ND_NBC_VERSION) {
        st = nd_err_set(ND_EINVALID,
                        "checkpoint '%s' holds bytecode of format version %u (this build "
                        "runs version %u); recompile the source and start again with --fresh",
                        chosen, (unsigned)ver, ND_NBC_VERSION);
        goto out;
    }
    /* Same program, same parameters, unless forced. */
    if (memcmp(img.sha256, c->sha256, 32) != 0) {
        if (!c->o.force) {
            st = nd_err_set(ND_EUSAGE,
                            "checkpoint '%s' belongs to a different program (bytecode "
                            "SHA-256 differs; it was written for '%s'); use --force to "
                            "resume its own bytecode anyway", chosen, img.program);
            goto out;
        }
        nd_program *p = NULL;
        st = nd_nbc_read(img.nbc, img.nbc_len, &p);
        if (st == ND_OK) st = nd_nbc_verify(p);
        if (st != ND_OK) {
            nd_program_free(p);
            goto out;
        }
        c->own_prog = p;
        *prog_used = p;
        if (rank0)
            fprintf(stderr, "noodle-run: warning: --force: resuming the bytecode stored in "
                            "'%s', not '%s'\n", chosen, c->program);
        /* Later checkpoints carry the program actually running. */
        uint8_t *nbc = nd_malloc(img.nbc_len ? img.nbc_len : 1);
        if (!nbc) {
            st = ND_ENOMEM;
            goto out;
        }
        memcpy(nbc, img.nbc, img.nbc_len);
        nd_free(c->nbc, c->nbc_len ? c->nbc_len : 1);
        c->nbc = nbc;
        c->nbc_len = img.nbc_len;
        memcpy(c->sha256, img.sha256, 32);
    }
    if (!nd_kv_equal(&c->params, &img.params) && !c->o.force) {
        nd_strbuf d;
        nd_sb_init(&d);
        params_diff(&d, &img.params, &c->params);
        st = nd_err_set(ND_EUSAGE,
                        "checkpoint '%s' was written with other parameters (%s); use --force "
                        "to restart with this run's, or --fresh to start over",
                        chosen, d.data ? d.data : "");
        nd_sb_free(&d);
        goto out;
    }

    st = nd_vm_new(*prog_used, vopts, vm);
    if (st == ND_OK) {
        st = nd_ckpt_state_decode(*vm, img.blob, img.blob_len, img.mats, img.nmats);
        /* decode took the matrices */
        for (size_t k = 0; k < img.nmats; k++) img.mats[k] = NULL;
    }
    st = nd_spmd_agree(st);
    if (st != ND_OK) {
        nd_vm_free(*vm);
        *vm = NULL;
        goto out;
    }
    *restored = true;
    if (img.has_wtime) nd_spmd_set_wtime(img.wtime);
    if (rank0 && c->stats) {
        double dt = MPI_Wtime() - t0, mib = file_mib(chosen);
        fprintf(stderr, "noodle-run: stats: read '%s': %.1f MiB in %.3f s (%.0f MiB/s)\n",
                chosen, mib, dt, dt > 0 ? mib / dt : 0.0);
    }
    if (rank0) {
        fprintf(stderr, "noodle-run: info: restarting from '%s'%s\n", chosen,
                skipped ? " (newer invalid checkpoints skipped)" : "");
        fflush(stderr);
    }
    /* New checkpoints go to the run's directory, numbered after everything in it. */
    st = learn_seq(c);
    if (st == ND_OK && img.seq >= c->next_seq && !c->o.restart_from)
        c->next_seq = img.seq < UINT64_MAX ? img.seq + 1 : UINT64_MAX; /* > SEQ_MAX: refused */
    c->last_time = MPI_Wtime();

out:
    nd_ckpt_image_free(&img);
    if (rank0) nd_sb_free(&list);
    else if (buf) nd_free(buf, len);
    if (st != ND_OK && *prog_used != prog) *prog_used = prog;
    return st;
}
