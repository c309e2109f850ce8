/* job.c: the noodle-run driver (job.h).  Rank 0 reads or compiles the program and
 * broadcasts the serialized bytecode; every rank reads and verifies its own copy before
 * the VM runs it, so no rank ever executes unverified code.  Errors met before the VM
 * starts are uniform: rank 0 prints once and every rank returns the same exit code. */
#include "job/job.h"

#include "ckpt/ckpt.h"
#include "common/alloc.h"
#include "common/strbuf.h"
#include "compiler/compiler.h"
#include "nbc/nbc.h"
#include "runtime/spmd.h"
#include "vm/vm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rank-local (rank 0): reads prog (a .nbc file, or source that it compiles) into its
 * serialized bytecode.  Compile diagnostics are printed here. */
static nd_status load_program(const char *path, nd_strbuf *bytes)
{
    FILE *f = fopen(path, "rb");
    if (!f) return nd_err_set(ND_EUSAGE, "cannot open '%s': %s", path, strerror(errno));
    unsigned char magic[8];
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    nd_program *prog = NULL;
    if (nd_nbc_is_nbc(magic, got)) {
        ND_TRY(nd_nbc_read_file(path, &prog));
    } else {
        nd_compile_opts copts = {.opt_level = 1, .diag = stderr};
        ND_TRY(nd_compile_file(path, &copts, &prog));
    }
    nd_status st = nd_nbc_write(prog, bytes);
    nd_program_free(prog);
    return st;
}

/* What the VM hooks see: the options and the checkpoint driver. */
typedef struct job_ctx {
    const nd_job_opts *o;
    nd_ckpt *ckpt;
} job_ctx;

static nd_status checkpoint_hook(void *ctx, nd_vm *vm)
{
    return nd_ckpt_checkpoint(((job_ctx *)ctx)->ckpt, vm);
}

static nd_status safepoint_hook(void *ctx, nd_vm *vm)
{
    return nd_ckpt_safepoint(((job_ctx *)ctx)->ckpt, vm);
}

/* Parses a --param value the way LANGUAGE.md says: int, else float, else string. */
static nd_status param_hook(void *ctx, nd_vm *vm, const char *name, nd_value dflt,
                            nd_value *out)
{
    const nd_job_opts *o = ((job_ctx *)ctx)->o;
    const char *v = NULL;
    for (int k = 0; k < o->nparams; k++)
        if (strcmp(o->params[k].key, name) == 0) v = o->params[k].value;
    if (!v) {
        *out = dflt;
        return ND_OK;
    }
    char *end;
    errno = 0;
    long long i = strtoll(v, &end, 10);
    if (*v && !*end && errno == 0) {
        *out = ND_INT(i);
        return ND_OK;
    }
    double d = strtod(v, &end);
    if (*v && !*end) {
        *out = ND_FLOAT(d);
        return ND_OK;
    }
    return nd_vm_new_string(vm, v, strlen(v), out);
}

static int fail_before_vm(nd_status st)
{
    if (nd_spmd_rank() == 0 && nd_last_error.msg[0]) {
        fprintf(stderr, "noodle-run: error: %s\n", nd_last_error.msg);
        fflush(stderr);
    }
    return nd_status_exit_code(st);
}

int nd_job_run(const nd_job_opts *o)
{
    nd_strbuf bytes;
    nd_sb_init(&bytes);
    nd_status st = ND_OK;
    if (nd_spmd_rank() == 0) {
        st = load_program(o->program, &bytes);
        /* Compile errors were printed with their positions; keep only the status. */
        if (st == ND_EPROG) nd_last_error.msg[0] = '\0';
    }
    int32_t code = (int32_t)st;
    if (nd_spmd_bcast(&code, sizeof code, 0) != ND_OK) return ND_EXIT_PROGRAM;
    if (code != ND_OK) {
        nd_sb_free(&bytes);
        return fail_before_vm((nd_status)code);
    }

    void *buf = bytes.data;
    size_t len = bytes.len;
    if (nd_spmd_bcast_alloc(&buf, &len, 0) != ND_OK) return fail_before_vm(ND_EMPI);
    nd_program *prog = NULL;
    st = nd_nbc_read(buf, len, &prog);
    if (st == ND_OK) st = nd_nbc_verify(prog);
    /* The checkpoint driver keeps a copy of the bytes (they go into every checkpoint). */
    nd_ckpt *ck = NULL;
    if (st == ND_OK) {
        nd_ckpt_kv *kv = o->nparams ? ND_ALLOC_N(nd_ckpt_kv, o->nparams) : NULL;
        if (o->nparams && !kv) st = ND_ENOMEM;
        for (int k = 0; st == ND_OK && k < o->nparams; k++)
            kv[k] = (nd_ckpt_kv){o->params[k].key, o->params[k].value};
        if (st == ND_OK)
            st = nd_ckpt_new(&o->ckpt, o->program, buf, len, kv, o->nparams, &ck);
        if (kv) ND_FREE_N(kv, o->nparams);
    }
    if (nd_spmd_rank() == 0)
        nd_sb_free(&bytes);
    else
        nd_free(buf, len);
    /* Every rank verified identical bytes, so the outcome is uniform. */
    if (st != ND_OK) {
        nd_ckpt_free(ck);
        nd_program_free(prog);
        return fail_before_vm(st);
    }

    nd_spmd_opts sopts = {.block_size = o->block_size,
                          .grid_rows = o->grid_rows,
                          .grid_cols = o->grid_cols,
                          .check_collectives = !o->no_check_collectives};
    st = nd_spmd_configure(&sopts);
    if (st != ND_OK) {
        nd_ckpt_free(ck);
        nd_program_free(prog);
        return fail_before_vm(st);
    }

    nd_vm_opts vopts = {.max_call_depth = o->call_depth};
    nd_vm *vm = NULL;
    const nd_program *run_prog = prog;
    bool restored = false;
    st = nd_ckpt_restore(ck, prog, &vopts, &run_prog, &vm, &restored);
    if (st == ND_OK && !restored) st = nd_vm_new(prog, &vopts, &vm);
    if (st != ND_OK) {
        nd_ckpt_free(ck);
        nd_program_free(prog);
        return fail_before_vm(st);
    }
    job_ctx ctx = {.o = o, .ckpt = ck};
    nd_vm_hooks hooks = {.ctx = &ctx,
                         .param = param_hook,
                         .checkpoint = checkpoint_hook,
                         .safepoint = safepoint_hook,
                         .safepoint_every = nd_ckpt_safepoint_every(ck)};
    nd_vm_set_hooks(vm, &hooks);
    st = nd_vm_run(vm);
    nd_vm_free(vm);
    nd_ckpt_free(ck); /* after the VM: it may own the program the VM ran */
    nd_program_free(prog);
    fflush(stdout);
    fflush(stderr);
    return nd_status_exit_code(st);
}
