/* vm.h: the virtual machine's public face inside Noodle.  Runs a verified nd_program.
 *
 * All ranks run the same bytecode (SPMD).  The VM knows nothing of HDF5, checkpoints or
 * the catalog: `checkpoint()`, `store()`, `load()`, `query()` and `param()` reach them
 * through hooks that noodle-run registers (nd_vm_hooks); without a hook those builtins
 * are a clear run-time error (param returns its default).  Errors are reported once
 * (rank 0 prints `path:line:col: error: msg` and the trace) and every rank returns the
 * same status; rank-local failures take the fatal path (nd_spmd_fatal).
 */
#ifndef ND_VM_H
#define ND_VM_H

#include "common/nd.h"
#include "noodle/bytecode.h"
#include "vm/value.h"

#include <stdio.h>

typedef struct nd_vm nd_vm;

typedef struct nd_vm_hooks {
    void *ctx;
    /* checkpoint(): Collective. */
    nd_status (*checkpoint)(void *ctx, nd_vm *vm);
    /* param(name, default): Uniform; *out is a new reference or the default. */
    nd_status (*param)(void *ctx, nd_vm *vm, const char *name, nd_value dflt, nd_value *out);
    /* store/load/query: Collective. */
    nd_status (*store)(void *ctx, nd_vm *vm, const char *name, nd_value v, nd_value tags);
    nd_status (*load)(void *ctx, nd_vm *vm, const char *name, int64_t version, nd_value *out);
    nd_status (*query)(void *ctx, nd_vm *vm, const char *mql, nd_value *out);
    /* Called at safe points (loop back-edges and calls) every `safepoint_every` events;
     * may checkpoint.  Collective: the event count is equal on every rank. */
    nd_status (*safepoint)(void *ctx, nd_vm *vm);
    uint64_t safepoint_every;
} nd_vm_hooks;

typedef struct nd_vm_opts {
    uint32_t max_call_depth;   /* 0 = the default (ND_VM_DEFAULT_DEPTH) */
    FILE *out;                 /* program output (stdout when NULL; only rank 0 writes) */
    FILE *err;                 /* diagnostics (stderr when NULL) */
} nd_vm_opts;

#define ND_VM_DEFAULT_DEPTH 100000u

/* Creates a VM for a verified program; the VM borrows prog (it must outlive the VM). */
nd_status nd_vm_new(const nd_program *prog, const nd_vm_opts *opts, nd_vm **out);
void nd_vm_free(nd_vm *vm);
void nd_vm_set_hooks(nd_vm *vm, const nd_vm_hooks *hooks);
/* Collective.  Runs (or resumes) the program to the end.  Returns ND_OK, or the status
 * of the error that stopped it, after the message has been printed once. */
nd_status nd_vm_run(nd_vm *vm);

#endif
