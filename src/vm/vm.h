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

#include <stddef.h>

#include <stdio.h>

typedef struct nd_vm nd_vm;
typedef struct nd_dm nd_dm; /* runtime/dm.h */

typedef struct nd_vm_hooks {
    void *ctx;
    /* checkpoint(): Collective. */
    nd_status (*checkpoint)(void *ctx, nd_vm *vm);
    /* param(name, default): Uniform; *out is a new reference or the default. */
    nd_status (*param)(void *ctx, nd_vm *vm, const char *name, nd_value dflt, nd_value *out);
    /* store/load/query: Collective. */
    nd_status (*store)(void *ctx, nd_vm *vm, const char *name, nd_value v, nd_value tags,
                       nd_value meta);
    nd_status (*load)(void *ctx, nd_vm *vm, const char *name, int64_t version, nd_value *out);
    nd_status (*query)(void *ctx, nd_vm *vm, const char *mql, nd_value *out);
    /* Called at safe points (loop back-edges and calls) every *period events; may
     * checkpoint.  On entry *period is the current period (the events since the last
     * call); the hook leaves there the events until the next call (0 counts as 1), the
     * same value on every rank.  Collective: the event count is equal on every rank. */
    nd_status (*safepoint)(void *ctx, nd_vm *vm, uint64_t *period);
    uint64_t safepoint_every; /* the first period (0: no safe-point hook calls) */
} nd_vm_hooks;

/* Matrix work counts as safe-point events: every ND_VM_FLOPS_PER_EVENT nominal flops of
 * a matrix builtin or operator (stats.h, from global shapes, so uniform) bring the next
 * hook call one event closer, so that a loop whose iterations are long matrix operations
 * still reaches its hook in time (docs/checkpoint.md "Safe points"). */
#define ND_VM_FLOPS_PER_EVENT 1000.0

typedef struct nd_roots nd_roots; /* common/roots.h */

typedef struct nd_vm_opts {
    uint32_t max_call_depth;   /* 0 = the default (limits.call_depth's, config/keys.def) */
    FILE *out;                 /* program output (stdout when NULL; only rank 0 writes) */
    FILE *err;                 /* diagnostics (stderr when NULL) */
    const nd_roots *roots;     /* io.roots, borrowed (outlives the VM); NULL or off: the
                                  file builtins may open any path */
} nd_vm_opts;

/* Creates a VM for a verified program; the VM borrows prog (it must outlive the VM). */
nd_status nd_vm_new(const nd_program *prog, const nd_vm_opts *opts, nd_vm **out);
void nd_vm_free(nd_vm *vm);
void nd_vm_set_hooks(nd_vm *vm, const nd_vm_hooks *hooks);
/* Collective.  Runs (or resumes) the program to the end.  Returns ND_OK, or the status
 * of the error that stopped it, after the message has been printed once. */
nd_status nd_vm_run(nd_vm *vm);
/* Uniform.  *out := a new string value (a new reference) holding len bytes of s; used by
 * hooks (param values, catalog results). */
nd_status nd_vm_new_string(nd_vm *vm, const char *s, size_t len, nd_value *out);

/* More value constructors for hooks (param, load, query), which live outside the VM.
 * Each returns a new reference in *out; Rank-local.  Lists and maps: nd_vm_list_push and
 * nd_vm_map_set take their own references to v (the caller keeps its own). */
nd_status nd_vm_new_list(nd_vm *vm, nd_value *out);
nd_status nd_vm_list_push(nd_vm *vm, nd_value list, nd_value v);
nd_status nd_vm_new_map(nd_vm *vm, nd_value *out);
nd_status nd_vm_map_set(nd_vm *vm, nd_value map, const char *key, nd_value v);
/* *out := a new matrix value holding A; takes A (freed on failure). */
nd_status nd_vm_new_matrix(nd_vm *vm, nd_dm *A, nd_value *out);
/* Releases a reference (any value). */
void nd_vm_release(nd_value v);

/* Read access to values for hooks (store, tags), so that they need not know the heap
 * objects (object.h).  Rank-local, no allocation.  Results are borrowed from v and stay
 * valid while the caller holds v.  Each asks for its own kind (nd_vm_kind first): another
 * kind is a broken invariant (ND_ASSERT), never a user error. */
nd_type nd_vm_kind(nd_value v);
/* The name of v's type as error messages say it ("int", "list", ...). */
const char *nd_val_typename(nd_value v);
bool nd_vm_bool(nd_value v);
int64_t nd_vm_int(nd_value v);
double nd_vm_float(nd_value v);
/* The bytes of a string (NUL-terminated; *len without the NUL). */
const char *nd_vm_str(nd_value v, size_t *len);
size_t nd_vm_list_len(nd_value list);
nd_value nd_vm_list_at(nd_value list, size_t i);
/* A map's entries in insertion order, i < nd_vm_map_len: the key's bytes and its value. */
size_t nd_vm_map_len(nd_value map);
const char *nd_vm_map_key(nd_value map, size_t i, size_t *len);
nd_value nd_vm_map_value(nd_value map, size_t i);
/* The distributed matrix a matrix value holds. */
nd_dm *nd_vm_matrix(nd_value v);

/* ---- saving and restoring the whole state (save.c; docs/checkpoint.md "State blob") ----
 * The VM writes its frames, registers, globals, the heap values they reach and its
 * counters as one byte blob; the checkpoint module owns the file around it.  Matrices are
 * not in the blob: each is handed to the sink, which returns the number (ref) the blob
 * stores for it, and on restore the source turns a ref back into the matrix. */

typedef struct nd_vm_sink {
    void *ctx;
    /* Appends len bytes of the blob (called in order, a few times per megabyte). */
    nd_status (*write)(void *ctx, const void *bytes, size_t len);
    /* Called once per live matrix, in the blob's order.  A is borrowed (the sink may
     * keep the pointer while the VM lives and does not run); names: the global variables
     * that hold it directly ("U", "U, V" or ""), valid during the call. */
    nd_status (*matrix)(void *ctx, nd_dm *A, const char *names, uint64_t *ref);
} nd_vm_sink;

typedef struct nd_vm_source {
    void *ctx;
    /* *A := the matrix the blob numbered ref, a new reference the VM takes over.  A ref
     * that is unknown or given twice is ND_EINVALID with a message. */
    nd_status (*matrix)(void *ctx, uint64_t ref, nd_dm **A);
} nd_vm_source;

/* Uniform (no communication: identical states give identical bytes).  Writes the state
 * of vm, which is not running (between instructions: a hook or before nd_vm_run). */
nd_status nd_vm_save(const nd_vm *vm, const nd_vm_sink *sink);
/* Uniform.  Rebuilds the state of vm (a fresh VM of the same program) from blob; a
 * checkpoint() call that was running completes with nil.  A malformed blob is
 * ND_EINVALID with a message, and vm is left empty (free it). */
nd_status nd_vm_restore(nd_vm *vm, const void *blob, size_t len, const nd_vm_source *src);
/* Uniform: the number of matrices a blob references (ND_EINVALID if malformed). */
nd_status nd_vm_state_nmats(const void *blob, size_t len, size_t *nmats);

/* Counters recorded with a checkpoint and shown in progress lines.  Rank-local;
 * ncollective and nsafepoints are uniform, the collector's counts are this process's. */
typedef struct nd_vm_counters {
    uint64_t ncollective;   /* collective operations checked so far */
    uint64_t nsafepoints;   /* safe-point events so far */
    uint64_t gc_runs, gc_live, gc_pending;
} nd_vm_counters;
void nd_vm_get_counters(const nd_vm *vm, nd_vm_counters *out);

#endif
