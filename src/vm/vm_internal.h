/* vm_internal.h: the VM's state layout, private to src/vm (and the VM's unit tests):
 * save.c walks and rebuilds it for checkpoints (docs/vm.md "State").
 *
 * Invariants: the state holds no raw pointer that a checkpoint could not rebuild.
 * Frames are (function index, pc, base register index, return register index); the
 * registers of every frame live in one growable array `regs` indexed from `base`
 * (nothing keeps a pointer into it across a possible realloc); slots above the top
 * frame's window (base + nregs) hold no references (nil or a stale immediate).  Globals are one array; ND_T_UNDEF marks a never-assigned slot.
 */
#ifndef ND_VM_INTERNAL_H
#define ND_VM_INTERNAL_H

#include "vm/object.h"
#include "vm/vm.h"
#include "runtime/stats.h"

#include "common/strbuf.h"

typedef struct nd_frame {
    uint32_t func; /* index into prog->funcs */
    uint32_t pc;   /* index of the next instruction to run in this frame (for a caller:
                      the one after its CALL; while a builtin or hook runs: the one after
                      the CALLB or the safe point) */
    uint32_t base; /* R[0] of this frame is regs[base] */
    uint32_t ret;  /* absolute register index that receives the result in the caller
                      (ND_NO_RET for the main chunk) */
    bool local;    /* called from rank-dependent code (a CALL with ND_X_LOCAL, or any call
                      from a local frame): none of its safe points agrees.  Always false
                      in a checkpoint, which is written only at an agreed safe point. */
} nd_frame;

#define ND_NO_RET UINT32_MAX

typedef enum nd_vm_state { ND_VM_READY, ND_VM_DONE, ND_VM_FAILED } nd_vm_state;

struct nd_vm {
    const nd_program *prog; /* borrowed */
    nd_vm_opts opts;        /* out/err resolved to stdout/stderr */
    uint32_t max_depth;
    nd_vm_hooks hooks;
    bool has_hooks;

    nd_value *regs;         /* owned values */
    size_t nregs;           /* allocated slots */
    nd_frame *frames;
    uint32_t nframes, frames_cap;
    nd_value *globals;      /* prog->nglobals slots */
    nd_value *consts;       /* prog->nconsts values built once (strings interned) */

    uint64_t ncollective;   /* collective operations checked so far (same on all ranks) */
    uint64_t nsafepoints;   /* safe-point events so far, matrix work included (uniform) */
    double sp_flops;        /* nd_stats_flops_total() when matrix work was last counted */
    uint64_t sp_work;       /* events of matrix work not yet taken off the countdown */
    nd_vm_state state;
    nd_status status;       /* the status of a failed run */
    uint32_t err_colback;   /* a failed compare-and-branch on arrays: the error is this
                               many columns before the instruction's (the condition's
                               start); 0 otherwise */
};

/* The kinds of operations in a consistency-check tag (tag = kind << 56 | id << 40 |
 * count), so that opcodes and builtins never share a tag. */
#define ND_TAG_OPCODE 1u
#define ND_TAG_BUILTIN 2u

/* Collective: the SPMD consistency check before operation `id` of `kind`, at the
 * position of the instruction the top frame is running. */
nd_status nd_vm_coll_check(nd_vm *vm, unsigned kind, unsigned id, const char *what);
/* Rank-local: the source position of the instruction the top frame is running. */
void nd_vm_position(const nd_vm *vm, int *line, int *col);

/* Values (ops.c).  All Uniform (no communication) unless they say otherwise. */
/* Appends the printed form of v: strings quoted (with \" and \\ escaped) when quote. */
nd_status nd_val_repr(const nd_program *prog, nd_strbuf *sb, nd_value v, bool quote);
/* *out: a new reference to a string (str(x)). */
nd_status nd_val_tostr(const nd_program *prog, nd_value v, nd_value *out);
/* Equality per LANGUAGE.md; an error for matrices. */
nd_status nd_val_equal(nd_value a, nd_value b, bool *eq);
/* Ordering of numbers or of strings; op is ND_OP_LT, _LE, _GT or _GE. */
nd_status nd_val_compare(int op, nd_value a, nd_value b, bool *res);
/* Collective: a comparison (ND_OP_EQ .. ND_OP_GE) with an array operand, the other an
 * array or a number: an array of 0.0 and 1.0 (broadcasting).  *out a new reference. */
nd_status nd_val_compare_array(nd_vm *vm, int op, nd_value a, nd_value b, nd_value *out);
/* Arithmetic ND_OP_ADD .. ND_OP_MATMUL and NEG (b ignored) on any operands; matrix
 * operands are Collective (the check runs here).  *out is a new reference. */
nd_status nd_val_arith(nd_vm *vm, int op, nd_value a, nd_value b, nd_value *out);
/* The operator's symbol for messages and collective-check labels ("+", "@", ...). */
const char *nd_op_sym(int op);
/* The same with the instruction's temporaries (x: bit 0 a's register, bit 1 b's, dead
 * after the op).  *reused 1 or 2: *out is that operand's array, computed in place, and
 * its register's reference moved into *out (the caller clears the register without a
 * decref). */
nd_status nd_val_arith_tmp(nd_vm *vm, int op, nd_value a, nd_value b, unsigned tmp,
                           nd_value *out, unsigned *reused);
/* Indexing and slicing (index.c): lists, maps, matrices (Collective for matrices).
 * bounds[4] are the four slice operands; x the GETSLICE/SETSLICE flag bits. */
nd_status nd_val_getindex(nd_vm *vm, nd_value c, nd_value k, nd_value *out);
nd_status nd_val_setindex(nd_vm *vm, nd_value c, nd_value k, nd_value v);
nd_status nd_val_getindex2(nd_vm *vm, nd_value c, nd_value i, nd_value j, nd_value *out);
nd_status nd_val_setindex2(nd_vm *vm, nd_value c, nd_value i, nd_value j, nd_value v);
nd_status nd_val_getslice(nd_vm *vm, nd_value c, const nd_value *bounds, unsigned x,
                          nd_value *out);
nd_status nd_val_setslice(nd_vm *vm, nd_value c, const nd_value *bounds, unsigned x,
                          nd_value v);
/* Collective for arrays: the general subscripts of GETSUB/SETSUB (opcodes.def): n
 * subscripts in regs[3k .. 3k+2], the slice mask in regs[3n]; lists, maps (one int or
 * key) and arrays of any dimension. */
nd_status nd_val_getsub(nd_vm *vm, nd_value c, const nd_value *regs, unsigned n,
                        nd_value *out);
nd_status nd_val_setsub(nd_vm *vm, nd_value c, const nd_value *regs, unsigned n,
                        nd_value v);
/* GETSUB (n subscripts as above) or GETSLICE (n = 0, bounds in regs, x its flags) of c
 * fused with the next instruction, the elementwise op (ADD, SUB, MUL, DIV or their K
 * forms) of the selection and other, when the selection is a dead temporary there (vm.c):
 * the selection is not copied where this rank holds it (nd_arr_ew_subscript).  *out NULL: not done (the caller runs the
 * two instructions); else the result, written into other's array when other_dead and
 * nothing else holds it (*reused then). */
nd_status nd_val_sub_ew(nd_vm *vm, nd_value c, const nd_value *regs, unsigned n, unsigned x,
                        int op, nd_value other, bool sub_left, bool other_dead, nd_value *out,
                        bool *done, bool *reused);
/* Number helpers shared with builtins. */
nd_status nd_val_to_double(nd_value v, const char *what, double *out);
nd_status nd_val_float_to_int(double f, const char *what, int64_t *out);

/* State for save.c (vm.c).  Rank-local.
 * nd_vm_state_regs_used: register slots the active frames can use (the rest are nil).
 * nd_vm_state_reset: releases every register (all become nil), makes room for nregs
 * registers and nframes frames and sets nframes to 0; the caller fills them in. */
size_t nd_vm_state_regs_used(const nd_vm *vm);
nd_status nd_vm_state_reset(nd_vm *vm, size_t nregs, uint32_t nframes);

/* Builtins (builtins.c, builtins_mat.c).  args are borrowed, *out a new reference. */
typedef nd_status (*nd_builtin_fn)(nd_vm *vm, nd_value *args, int nargs, nd_value *out);
extern const nd_builtin_fn nd_builtin_fns[];
#define BUILTIN(id, ...)                                                                 \
    nd_status nd_bi_##id(nd_vm *vm, nd_value *args, int nargs, nd_value *out);
#include "nbc/builtins.def"
#undef BUILTIN

/* Argument helpers for builtins: errors name the builtin and the argument (1-based). */
nd_status nd_arg_int(const char *fn, int k, nd_value v, int64_t *out);
nd_status nd_arg_num(const char *fn, int k, nd_value v, double *out);
nd_status nd_arg_str(const char *fn, int k, nd_value v, nd_str **out);
nd_status nd_arg_matrix(const char *fn, int k, nd_value v, nd_dm **out);

/* Uniform: counts the matrix work done since the last call (stats.h flops) as safe-point
 * events (vm.h ND_VM_FLOPS_PER_EVENT), for the dispatch loop to take off its countdown.
 * Called after every collective builtin and matrix operator. */
void nd_vm_count_work(nd_vm *vm);

/* Runs one dm/arr/la call of a builtin as a timed region of kind K (runtime/stats.h);
 * on success adds FLOPS (evaluated from the global shapes, so equal on every rank).  The
 * call's status is returned on failure, after the region was closed.  ND_VM_LA: linear
 * algebra (and array work), ND_VM_IO: HDF5. */
#define ND_VM_TIMED(K, FLOPS, CALL)                                                      \
    do {                                                                                 \
        nd_stats_begin(K);                                                               \
        nd_status st_ = (CALL);                                                          \
        nd_stats_end(K);                                                                 \
        if (st_ != ND_OK) return st_;                                                    \
        nd_stats_add_flops(FLOPS);                                                       \
    } while (0)
#define ND_VM_LA(FLOPS, CALL) ND_VM_TIMED(ND_STATS_LA, FLOPS, CALL)
#define ND_VM_IO(CALL) ND_VM_TIMED(ND_STATS_IO, 0.0, CALL)

#endif
