/* vm.c: VM creation, the dispatch loop and run-time error reporting (docs/vm.md).
 *
 * The loop keeps pc, the register window and the current function in locals and
 * writes pc back to the top frame only before anything that may look at the state
 * (slow paths, builtins, hooks, errors).  Calls push a frame in the same loop (no C
 * recursion).  Dispatch is by computed goto when ND_COMPUTED_GOTO is defined, else by
 * a switch; both are expanded from opcodes.def.
 */
#include "ac_config.h"

#include "vm/vm_internal.h"

#include "common/alloc.h"
#include "config/keys.h"
#include "nbc/builtin_ids.h"
#include "runtime/arr.h"
#include "runtime/dm.h"
#include "runtime/spmd.h"
#include "runtime/stats.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- state ---- */

/* Grows the register array to at least `need` slots (new slots are nil). */
static nd_status grow_regs(nd_vm *vm, size_t need)
{
    if (need <= vm->nregs) return ND_OK;
    size_t ncap = vm->nregs * 2;
    if (ncap < need) ncap = need;
    if (ncap < 256) ncap = 256;
    nd_value *r = ND_REALLOC_N(nd_value, vm->regs, vm->nregs, ncap);
    if (!r) return ND_ENOMEM;
    for (size_t k = vm->nregs; k < ncap; k++) r[k] = ND_NIL;
    vm->regs = r;
    vm->nregs = ncap;
    return ND_OK;
}

static nd_status grow_frames(nd_vm *vm)
{
    uint32_t ncap = vm->frames_cap ? vm->frames_cap * 2 : 64;
    nd_frame *f = ND_REALLOC_N(nd_frame, vm->frames, vm->frames_cap, ncap);
    if (!f) return ND_ENOMEM;
    vm->frames = f;
    vm->frames_cap = ncap;
    return ND_OK;
}

nd_status nd_vm_new(const nd_program *prog, const nd_vm_opts *opts, nd_vm **out)
{
    *out = NULL;
    ND_CHECK(prog && prog->nfuncs > 0, ND_EINTERNAL, "nd_vm_new: empty program");
    nd_vm *vm = ND_ALLOC_N(nd_vm, 1);
    if (!vm) return ND_ENOMEM;
    vm->prog = prog;
    if (opts) vm->opts = *opts;
    if (!vm->opts.out) vm->opts.out = stdout;
    if (!vm->opts.err) vm->opts.err = stderr;
    vm->max_depth = vm->opts.max_call_depth ? vm->opts.max_call_depth : ND_CFG_DEFAULT_LIMITS_CALL_DEPTH;
    vm->state = ND_VM_READY;
    nd_status st = ND_OK;
    if (prog->nglobals) {
        vm->globals = ND_ALLOC_N(nd_value, prog->nglobals);
        if (!vm->globals) st = ND_ENOMEM;
        for (uint32_t g = 0; st == ND_OK && g < prog->nglobals; g++)
            vm->globals[g] = (nd_value){.type = ND_T_UNDEF};
    }
    if (st == ND_OK && prog->nconsts) {
        vm->consts = ND_ALLOC_N(nd_value, prog->nconsts);
        if (!vm->consts) st = ND_ENOMEM;
        for (uint32_t k = 0; st == ND_OK && k < prog->nconsts; k++) {
            const nd_const *c = &prog->consts[k];
            if (c->kind == ND_K_INT) vm->consts[k] = ND_INT(c->i);
            else if (c->kind == ND_K_FLOAT) vm->consts[k] = ND_FLOAT(c->f);
            else st = nd_str_value(c->s ? c->s : "", c->s ? c->slen : 0, &vm->consts[k]);
        }
    }
    if (st == ND_OK) st = grow_regs(vm, prog->funcs[0].nregs + 1u);
    if (st == ND_OK) st = grow_frames(vm);
    if (st != ND_OK) {
        nd_vm_free(vm);
        return st;
    }
    vm->frames[0] = (nd_frame){.func = 0, .pc = 0, .base = 0, .ret = ND_NO_RET};
    vm->nframes = 1;
    *out = vm;
    return ND_OK;
}

void nd_vm_free(nd_vm *vm)
{
    if (!vm) return;
    for (size_t k = 0; k < vm->nregs; k++) nd_val_decref(vm->regs[k]);
    if (vm->regs) ND_FREE_N(vm->regs, vm->nregs);
    if (vm->globals) {
        for (uint32_t g = 0; g < vm->prog->nglobals; g++) nd_val_decref(vm->globals[g]);
        ND_FREE_N(vm->globals, vm->prog->nglobals);
    }
    if (vm->consts) {
        for (uint32_t k = 0; k < vm->prog->nconsts; k++) nd_val_decref(vm->consts[k]);
        ND_FREE_N(vm->consts, vm->prog->nconsts);
    }
    if (vm->frames) ND_FREE_N(vm->frames, vm->frames_cap);
    nd_free(vm, sizeof(nd_vm));
    /* Whatever is left is unreachable: collect cycles now rather than leak them. */
    nd_gc_collect();
}

void nd_vm_set_hooks(nd_vm *vm, const nd_vm_hooks *hooks)
{
    if (hooks) {
        vm->hooks = *hooks;
        vm->has_hooks = true;
    } else {
        memset(&vm->hooks, 0, sizeof vm->hooks);
        vm->has_hooks = false;
    }
}

/* ---- values for hooks; state for checkpoints ---- */

nd_status nd_vm_new_string(nd_vm *vm, const char *s, size_t len, nd_value *out)
{
    ND_UNUSED(vm);
    return nd_str_value(s, len, out);
}

nd_status nd_vm_new_list(nd_vm *vm, nd_value *out)
{
    ND_UNUSED(vm);
    nd_list *l = nd_list_new(0);
    if (!l) return ND_ENOMEM;
    *out = ND_OBJ(ND_T_LIST, l);
    return ND_OK;
}

nd_status nd_vm_list_push(nd_vm *vm, nd_value list, nd_value v)
{
    ND_UNUSED(vm);
    ND_CHECK(list.type == ND_T_LIST, ND_EINTERNAL, "nd_vm_list_push: not a list");
    return nd_list_push(ND_AS_LIST(list), v);
}

nd_status nd_vm_new_map(nd_vm *vm, nd_value *out)
{
    ND_UNUSED(vm);
    nd_map *m = nd_map_new(0);
    if (!m) return ND_ENOMEM;
    *out = ND_OBJ(ND_T_MAP, m);
    return ND_OK;
}

nd_status nd_vm_map_set(nd_vm *vm, nd_value map, const char *key, nd_value v)
{
    ND_UNUSED(vm);
    ND_CHECK(map.type == ND_T_MAP, ND_EINTERNAL, "nd_vm_map_set: not a map");
    nd_str *k = nd_str_new(key, strlen(key));
    if (!k) return nd_last_error.status;
    nd_status st = nd_map_set(ND_AS_MAP(map), k, v);
    nd_val_decref(ND_OBJ(ND_T_STR, k));
    return st;
}

void nd_vm_release(nd_value v)
{
    nd_val_decref(v);
}

nd_status nd_vm_new_matrix(nd_vm *vm, nd_dm *A, nd_value *out)
{
    ND_UNUSED(vm);
    return nd_matrix_value(A, out);
}

nd_type nd_vm_kind(nd_value v)
{
    return (nd_type)v.type;
}

bool nd_vm_bool(nd_value v)
{
    ND_ASSERT(v.type == ND_T_BOOL);
    return v.as.b;
}

int64_t nd_vm_int(nd_value v)
{
    ND_ASSERT(v.type == ND_T_INT);
    return v.as.i;
}

double nd_vm_float(nd_value v)
{
    ND_ASSERT(v.type == ND_T_FLOAT);
    return v.as.f;
}

const char *nd_vm_str(nd_value v, size_t *len)
{
    ND_ASSERT(v.type == ND_T_STR);
    *len = ND_AS_STR(v)->len;
    return ND_AS_STR(v)->data;
}

size_t nd_vm_list_len(nd_value list)
{
    ND_ASSERT(list.type == ND_T_LIST);
    return ND_AS_LIST(list)->len;
}

nd_value nd_vm_list_at(nd_value list, size_t i)
{
    ND_ASSERT(list.type == ND_T_LIST && i < ND_AS_LIST(list)->len);
    return ND_AS_LIST(list)->items[i];
}

size_t nd_vm_map_len(nd_value map)
{
    ND_ASSERT(map.type == ND_T_MAP);
    return ND_AS_MAP(map)->len;
}

const char *nd_vm_map_key(nd_value map, size_t i, size_t *len)
{
    ND_ASSERT(map.type == ND_T_MAP && i < ND_AS_MAP(map)->len);
    const nd_str *k = ND_AS_MAP(map)->entries[i].key;
    *len = k->len;
    return k->data;
}

nd_value nd_vm_map_value(nd_value map, size_t i)
{
    ND_ASSERT(map.type == ND_T_MAP && i < ND_AS_MAP(map)->len);
    return ND_AS_MAP(map)->entries[i].val;
}

nd_dm *nd_vm_matrix(nd_value v)
{
    ND_ASSERT(v.type == ND_T_MATRIX);
    return ND_AS_MATRIX(v)->dm;
}

size_t nd_vm_state_regs_used(const nd_vm *vm)
{
    if (vm->nframes == 0) return 0;
    const nd_frame *top = &vm->frames[vm->nframes - 1];
    size_t n = (size_t)top->base + vm->prog->funcs[top->func].nregs;
    return n < vm->nregs ? n : vm->nregs;
}

void nd_vm_get_counters(const nd_vm *vm, nd_vm_counters *out)
{
    *out = (nd_vm_counters){.ncollective = vm->ncollective,
                            .nsafepoints = vm->nsafepoints,
                            .gc_runs = nd_gc_runs(),
                            .gc_live = nd_gc_live(),
                            .gc_pending = nd_gc_pending()};
}

nd_status nd_vm_state_reset(nd_vm *vm, size_t nregs, uint32_t nframes)
{
    for (size_t k = 0; k < vm->nregs; k++) nd_val_set(&vm->regs[k], ND_NIL);
    vm->nframes = 0;
    ND_TRY(grow_regs(vm, nregs));
    while (vm->frames_cap < nframes) ND_TRY(grow_frames(vm));
    vm->state = ND_VM_READY;
    return ND_OK;
}

/* ---- positions, checks, errors ---- */

static nd_pos frame_pos(const nd_vm *vm, const nd_frame *f)
{
    const nd_func *fn = &vm->prog->funcs[f->func];
    uint32_t k = f->pc ? f->pc - 1 : 0;
    if (!fn->pos || k >= fn->ncode) return (nd_pos){fn->line, 0};
    return fn->pos[k];
}

void nd_vm_position(const nd_vm *vm, int *line, int *col)
{
    nd_pos p = vm->nframes ? frame_pos(vm, &vm->frames[vm->nframes - 1]) : (nd_pos){0, 0};
    *line = (int)p.line;
    *col = (int)p.col;
    if (vm->err_colback && p.col > vm->err_colback) *col -= (int)vm->err_colback;
}

nd_status nd_vm_coll_check(nd_vm *vm, unsigned kind, unsigned id, const char *what)
{
    uint64_t tag = (uint64_t)kind << 56 | (uint64_t)(id & 0xffff) << 40 |
                   (vm->ncollective++ & ((UINT64_C(1) << 40) - 1));
    int line, col;
    nd_vm_position(vm, &line, &col);
    return nd_spmd_check(tag, what, line, col);
}

static const char *src_path(const nd_vm *vm)
{
    return vm->prog->source_name ? vm->prog->source_name : "<program>";
}

/* Traces longer than this show their innermost and outermost frames only. */
#define TRACE_EDGE 20

/* Prints the error once (rank 0) with its trace; rank-local failures take the fatal
 * path instead (they may have happened on one rank only). */
/* Prints the error on rank `printer` (marked "(rank r)" when mark_rank). */
static void report_on(nd_vm *vm, nd_status st, int printer, bool mark_rank)
{
    int line, col;
    nd_vm_position(vm, &line, &col);
    nd_last_error.line = line;
    nd_last_error.col = col;
    const char *path = src_path(vm);
    if (st == ND_ENOMEM || st == ND_EMPI || st == ND_EINTERNAL)
        nd_spmd_fatal(path, line, col, "%s", nd_err_msg());
    if (nd_spmd_rank() != printer) return;
    FILE *err = vm->opts.err;
    if (st == ND_ESIGNAL) { /* not an error: the job checkpointed and wants a requeue */
        fprintf(err, "noodle-run: info: %s\n", nd_err_msg());
        fflush(err);
        return;
    }
    if (mark_rank)
        fprintf(err, "%s:%d:%d: error: %s (rank %d)\n", path, line, col, nd_err_msg(), printer);
    else
        fprintf(err, "%s:%d:%d: error: %s\n", path, line, col, nd_err_msg());
    uint32_t n = vm->nframes;
    for (uint32_t k = 0; k < n; k++) {
        if (n > 2 * TRACE_EDGE && k == TRACE_EDGE) {
            fprintf(err, "  ... %u more frames ...\n", n - 2 * TRACE_EDGE);
            k = n - TRACE_EDGE;
        }
        const nd_frame *f = &vm->frames[n - 1 - k];
        fprintf(err, "  in %s at %s:%u\n", vm->prog->funcs[f->func].name, path,
                frame_pos(vm, f).line);
    }
    fflush(err);
}

static void report(nd_vm *vm, nd_status st) { report_on(vm, st, 0, false); }

static nd_status call_builtin(nd_vm *vm, unsigned id, nd_value *args, int nargs,
                              nd_value *out)
{
    const nd_builtin_info *bi = &nd_builtin_table[id];
    if (UNLIKELY(nargs < bi->min_args || nargs > bi->max_args)) {
        if (bi->min_args == bi->max_args)
            return nd_err_set(ND_EPROG, "%s expects %d argument%s, got %d", bi->name,
                              bi->min_args, bi->min_args == 1 ? "" : "s", nargs);
        return nd_err_set(ND_EPROG, "%s expects %d to %d arguments, got %d", bi->name,
                          bi->min_args, bi->max_args, nargs);
    }
    if (bi->flags & ND_BIF_COLLECTIVE) {
        bool check = !(bi->flags & ND_BIF_PURE);
        for (int k = 0; !check && k < nargs; k++) check = args[k].type == ND_T_MATRIX;
        if (check) ND_TRY(nd_vm_coll_check(vm, ND_TAG_BUILTIN, id, bi->name));
    }
    *out = ND_NIL;
    nd_status st = nd_builtin_fns[id](vm, args, nargs, out);
    if (bi->flags & ND_BIF_COLLECTIVE) nd_vm_count_work(vm);
    return st;
}

void nd_vm_count_work(nd_vm *vm)
{
    double f = nd_stats_flops_total(), d = f - vm->sp_flops;
    vm->sp_flops = f;
    if (!(d >= ND_VM_FLOPS_PER_EVENT)) return; /* also after nd_stats_reset */
    d /= ND_VM_FLOPS_PER_EVENT;
    uint64_t e = d >= 9e18 ? UINT64_MAX / 2 : (uint64_t)d;
    vm->sp_work = vm->sp_work + e < vm->sp_work ? UINT64_MAX : vm->sp_work + e;
}

/* ---- arrays where a bool is needed ---- */

/* A compare-and-branch with an array operand: its comparison is elementwise, so the
 * condition is not a bool.  The error is at the condition's start, back x columns from
 * the operator (x = 0: at the operator). */
static nd_status array_condition(nd_vm *vm, int op, nd_value b, nd_value c, unsigned x)
{
    static const char *const sym[] = {[ND_OP_EQ] = "==", [ND_OP_NE] = "!=", [ND_OP_LT] = "<",
                                       [ND_OP_LE] = "<=", [ND_OP_GT] = ">", [ND_OP_GE] = ">="};
    bool ok_b = b.type == ND_T_MATRIX || ND_IS_NUM(b), ok_c = c.type == ND_T_MATRIX || ND_IS_NUM(c);
    if (!ok_b || !ok_c)
        return nd_err_set(ND_EPROG, "cannot apply %s to %s and %s", sym[op], nd_val_typename(b),
                          nd_val_typename(c));
    vm->err_colback = x;
    return nd_err_set(ND_EPROG, "condition must be a bool or nil, not an array (a comparison "
                      "with an array is elementwise; use any or all)");
}

static nd_status array_logic(const char *op, const char *instead)
{
    return nd_err_set(ND_EPROG, "%s: an array operand; use %s", op, instead);
}

/* Whether nx, the instruction after a GETSUB or GETSLICE into register slot, is an
 * elementwise +, -, * or / that consumes slot as a dead temporary (its x flags): then
 * the two run as one (nd_val_sub_ew) and the selection is never copied.  *other: the
 * other operand's register, -1 for the K forms' constant. */
static inline bool sub_ew_next(const nd_instr *nx, unsigned slot, bool *sub_left, int *other,
                               bool *other_dead)
{
    switch (nx->op) {
    case ND_OP_ADD: case ND_OP_SUB: case ND_OP_MUL: case ND_OP_DIV:
        if (nx->b == nx->c) return false;
        if (nx->b == slot && (nx->x & 1)) {
            *sub_left = true, *other = nx->c, *other_dead = nx->x & 2;
            return true;
        }
        if (nx->c == slot && (nx->x & 2)) {
            *sub_left = false, *other = nx->b, *other_dead = nx->x & 1;
            return true;
        }
        return false;
    case ND_OP_ADDK: case ND_OP_SUBK: case ND_OP_MULK:
        *sub_left = true, *other = -1, *other_dead = false;
        return nx->b == slot && (nx->x & 1);
    default:
        return false;
    }
}

/* ---- the dispatch loop ---- */

/* A bit per type that holds a reference (ND_IS_OBJ), for RET's scan. */
#define OBJ_TYPES                                                                        \
    (1u << ND_T_STR | 1u << ND_T_LIST | 1u << ND_T_MAP | 1u << ND_T_MATRIX)
_Static_assert(ND_T_STR == 4 && ND_T_MATRIX == 7 && ND_T_UNDEF < 32, "OBJ_TYPES matches ND_IS_OBJ");

/* The running instruction is pc[-1]; handlers read the fields they need from it.  A
 * copy of the whole instruction made at dispatch costs more: GCC then decodes every
 * field in every dispatch, needed or not. */
#define INS (pc[-1])
#ifdef ND_COMPUTED_GOTO
#define CASE(name) L_##name:
#define DISPATCH()                                                                       \
    do {                                                                                 \
        goto *labels[(pc++)->op];                                                        \
    } while (0)
#else
#define CASE(name) case ND_OP_##name:
#define DISPATCH() continue
#endif

#define SAVE_PC() (vm->frames[vm->nframes - 1].pc = (uint32_t)(pc - code))
#define FAIL(expr)                                                                       \
    do {                                                                                 \
        st = (expr);                                                                     \
        goto fail;                                                                       \
    } while (0)
#define TRY(expr)                                                                        \
    do {                                                                                 \
        st = (expr);                                                                     \
        if (UNLIKELY(st != ND_OK)) goto fail;                                            \
    } while (0)
/* Stores an immediate (no reference) in R[A]. */
#define SET_IMM(slot, v)                                                                 \
    do {                                                                                 \
        nd_value *s_ = &(slot);                                                          \
        nd_value o_ = *s_;                                                               \
        *s_ = (v);                                                                       \
        nd_val_decref(o_);                                                               \
    } while (0)
/* A back-edge or call: counts a safe-point event and runs the hook when due (the hook
 * returns the next period).  Only at a uniform safe point, one that every rank passes
 * equally often: not where the compiler marked the instruction ND_X_LOCAL (code under
 * rank-dependent control), nor anywhere in a local frame (docs/checkpoint.md). */
#define SAFEPOINT()                                                                      \
    do {                                                                                 \
        if (UNLIKELY(--sp_left == 0)) {                                                  \
            SAVE_PC();                                                                   \
            vm->nsafepoints += sp_every;                                                 \
            uint64_t next_ = sp_every;                                                   \
            TRY(vm->hooks.safepoint(vm->hooks.ctx, vm, &next_));                         \
            sp_left = sp_every = next_ ? next_ : 1;                                      \
            R = vm->regs + base;                                                         \
            fr = &vm->frames[vm->nframes - 1];                                           \
        }                                                                                \
    } while (0)
/* After a builtin or an operator that may have done matrix work: its events bring the
 * next safe point closer (never past it: the hook runs at the next back-edge or call). */
#define COUNT_WORK()                                                                     \
    do {                                                                                 \
        if (UNLIKELY(vm->sp_work)) {                                                     \
            if (sp_hooked) sp_left = vm->sp_work >= sp_left ? 1 : sp_left - vm->sp_work; \
            vm->sp_work = 0;                                                             \
        }                                                                                \
    } while (0)

/* r := (B == C) as the language defines equality: two integers directly, anything else
 * through nd_val_equal (EQ/NE and JEQ/JNE). */
#define VALUES_EQUAL(r, B, C)                                                            \
    do {                                                                                 \
        nd_value b_ = (B), c_ = (C);                                                     \
        (r) = false;                                                                     \
        if (LIKELY(b_.type == ND_T_INT && c_.type == ND_T_INT)) (r) = b_.as.i == c_.as.i; \
        else {                                                                           \
            SAVE_PC();                                                                   \
            TRY(nd_val_equal(b_, c_, &(r)));                                             \
        }                                                                                \
    } while (0)

#define ARITH_BODY(IOP, FEXPR, CV, SLOW)                                                 \
    {                                                                                    \
        nd_value b = R[INS.b], c = (CV);                                                   \
        if (LIKELY(b.type == ND_T_INT && c.type == ND_T_INT)) {                          \
            int64_t r;                                                                   \
            if (UNLIKELY(__builtin_##IOP##_overflow(b.as.i, c.as.i, &r))) goto SLOW;     \
            SET_IMM(R[INS.a], ND_INT(r));                                                  \
        } else if (b.type == ND_T_FLOAT && c.type == ND_T_FLOAT) {                       \
            double x = b.as.f, y = c.as.f;                                               \
            SET_IMM(R[INS.a], ND_FLOAT(FEXPR));                                            \
        } else {                                                                         \
            goto SLOW;                                                                   \
        }                                                                                \
        DISPATCH();                                                                      \
    }
/* The fused GETSUB/GETSLICE + arithmetic (sub_ew_next): NSUB is GETSUB's subscript count,
 * 0 for GETSLICE.  Falls through when not taken. */
#define SUB_EW(NSUB)                                                                     \
    {                                                                                    \
        bool sub_left, odead, done, reused;                                              \
        int oreg;                                                                        \
        if (UNLIKELY(sub_ew_next(pc, INS.a, &sub_left, &oreg, &odead))) {                \
            const nd_instr *nx = pc;                                                     \
            TRY(nd_val_sub_ew(vm, R[INS.b], &R[INS.c], (NSUB), INS.x, nx->op,            \
                              oreg < 0 ? K[nx->c] : R[oreg], sub_left, odead, &out,      \
                              &done, &reused));                                          \
            if (done) {                                                                  \
                if (reused) R[oreg] = ND_NIL; /* its reference is in out */              \
                nd_val_set(&R[nx->a], out);                                              \
                if (INS.a != nx->a) nd_val_set(&R[INS.a], ND_NIL);                       \
                pc++;                                                                    \
                COUNT_WORK();                                                            \
                DISPATCH();                                                              \
            }                                                                            \
        }                                                                                \
    }

#define ARITH(NAME, IOP, FEXPR) CASE(NAME) ARITH_BODY(IOP, FEXPR, R[INS.c], slow_arith)
/* The constant-operand form: K[C] instead of R[C]. */
#define ARITHK(NAME, IOP, FEXPR) CASE(NAME) ARITH_BODY(IOP, FEXPR, K[INS.c], slow_arithk)

/* A comparison whose result a TEST on the same register consumes next (an `if` or
 * `while` condition) also runs that TEST here: one dispatch fewer, same effects (R[A]
 * is still written, and the TEST is a real, verified instruction). */
#define COMPARE_BODY(OPNUM, OPR, CV)                                                     \
    {                                                                                    \
        nd_value b = R[INS.b], c = (CV);                                                   \
        bool r;                                                                          \
        if (LIKELY(b.type == ND_T_INT && c.type == ND_T_INT)) r = b.as.i OPR c.as.i;     \
        else if (b.type == ND_T_FLOAT && c.type == ND_T_FLOAT) r = b.as.f OPR c.as.f;    \
        else {                                                                           \
            SAVE_PC();                                                                   \
            if (UNLIKELY(b.type == ND_T_MATRIX || c.type == ND_T_MATRIX)) {              \
                /* elementwise: an array, which a fused TEST then refuses */             \
                nd_value o_;                                                             \
                TRY(nd_val_compare_array(vm, OPNUM, b, c, &o_));                         \
                nd_val_set(&R[INS.a], o_);                                               \
                COUNT_WORK();                                                            \
                DISPATCH();                                                              \
            }                                                                            \
            TRY(nd_val_compare(OPNUM, b, c, &r));                                        \
        }                                                                                \
        SET_IMM(R[INS.a], ND_BOOL(r));                                                     \
        nd_instr t_ = *pc;                                                               \
        if (t_.op == ND_OP_TEST && t_.a == INS.a) pc += r ? 1 : 1 + ND_SBX(t_);            \
        DISPATCH();                                                                      \
    }
/* Compare-and-branch: the comparison of COMPARE_BODY, its result consumed at once. */
#define CJUMP_BODY(OPNUM, OPR, CV)                                                       \
    {                                                                                    \
        nd_value b = R[INS.a], c = (CV);                                                 \
        bool r;                                                                          \
        if (LIKELY(b.type == ND_T_INT && c.type == ND_T_INT)) r = b.as.i OPR c.as.i;     \
        else if (b.type == ND_T_FLOAT && c.type == ND_T_FLOAT) r = b.as.f OPR c.as.f;    \
        else {                                                                           \
            SAVE_PC();                                                                   \
            if (UNLIKELY(b.type == ND_T_MATRIX || c.type == ND_T_MATRIX))                \
                FAIL(array_condition(vm, OPNUM, b, c, INS.x));                           \
            TRY(nd_val_compare(OPNUM, b, c, &r));                                        \
        }                                                                                \
        if (!r) pc += INS.c;                                                             \
        DISPATCH();                                                                      \
    }
#define CJUMP(NAME, BASE, OPR) CASE(NAME) CJUMP_BODY(ND_OP_##BASE, OPR, R[INS.b])
#define CJUMPK(NAME, BASE, OPR) CASE(NAME) CJUMP_BODY(ND_OP_##BASE, OPR, K[INS.b])
#define COMPARE(NAME, OPR) CASE(NAME) COMPARE_BODY(ND_OP_##NAME, OPR, R[INS.c])
#define COMPAREK(NAME, BASE, OPR) CASE(NAME) COMPARE_BODY(ND_OP_##BASE, OPR, K[INS.c])

/* GCC otherwise merges the copies of DISPATCH() into one indirect jump (cross-jumping),
 * which costs a jump per instruction and defeats the branch predictor: each handler
 * must end in its own indirect jump. */
#if defined(ND_COMPUTED_GOTO) && defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-crossjumping", "no-gcse")))
#endif
static nd_status run_loop(nd_vm *vm)
{
#ifdef ND_COMPUTED_GOTO
    static const void *const labels[] = {
#define OP(name, fmt, ka, kb, kc, doc) &&L_##name,
#include "noodle/opcodes.def"
#undef OP
    };
#endif
    const nd_program *prog = vm->prog;
    nd_frame *fr = &vm->frames[vm->nframes - 1];
    const nd_instr *code = prog->funcs[fr->func].code;
    const nd_instr *pc = code + fr->pc;
    uint32_t base = fr->base;
    nd_value *R = vm->regs + base;
    nd_value *G = vm->globals;
    const nd_value *K = vm->consts;
    uint64_t sp_every = UINT64_MAX;
    bool sp_hooked = vm->has_hooks && vm->hooks.safepoint && vm->hooks.safepoint_every;
    if (sp_hooked) {
        sp_every = vm->hooks.safepoint_every;
        vm->sp_flops = nd_stats_flops_total();
    }
    uint64_t sp_left = sp_every;
    vm->err_colback = 0;
    bool sp_local = fr->local; /* the current frame's nd_frame.local */
    uint32_t frames_lim = vm->frames_cap < vm->max_depth ? vm->frames_cap : vm->max_depth;
    nd_status st = ND_OK;

#ifdef ND_COMPUTED_GOTO
    DISPATCH();
#else
    for (;;) {
        switch ((nd_opcode)(pc++)->op) {
#endif

    CASE(MOVE)
    {
        nd_value v = R[INS.b];
        nd_val_incref(v);
        nd_val_set(&R[INS.a], v);
        DISPATCH();
    }
    CASE(LOADK)
    {
        nd_value v = K[ND_BX(INS)];
        nd_val_incref(v);
        nd_val_set(&R[INS.a], v);
        DISPATCH();
    }
    CASE(LOADI)
    {
        SET_IMM(R[INS.a], ND_INT(ND_SBX(INS)));
        DISPATCH();
    }
    CASE(LOADNIL)
    {
        SET_IMM(R[INS.a], ND_NIL);
        DISPATCH();
    }
    CASE(LOADBOOL)
    {
        SET_IMM(R[INS.a], ND_BOOL(INS.b != 0));
        DISPATCH();
    }
    CASE(LOADFN)
    {
        SET_IMM(R[INS.a], ((nd_value){.type = ND_T_FUNC, .as.fn = ND_BX(INS)}));
        DISPATCH();
    }
    CASE(LOADBI)
    {
        SET_IMM(R[INS.a], ((nd_value){.type = ND_T_BUILTIN, .as.fn = ND_BX(INS)}));
        DISPATCH();
    }
    CASE(GETG)
    {
        nd_value v = G[ND_BX(INS)];
        if (UNLIKELY(v.type == ND_T_UNDEF)) {
            SAVE_PC();
            FAIL(nd_err_set(ND_EPROG, "global '%s' is used before it is assigned",
                            prog->globals && prog->globals[ND_BX(INS)] ? prog->globals[ND_BX(INS)]
                                                                      : "?"));
        }
        nd_val_incref(v);
        nd_val_set(&R[INS.a], v);
        DISPATCH();
    }
    CASE(SETG)
    {
        nd_value v = R[INS.a];
        nd_val_incref(v);
        nd_val_set(&G[ND_BX(INS)], v);
        DISPATCH();
    }

    ARITH(ADD, add, x + y)
    ARITH(SUB, sub, x - y)
    ARITH(MUL, mul, x * y)
    CASE(DIV)
    CASE(IDIV)
    CASE(MOD)
    CASE(POW)
    CASE(MATMUL)
    CASE(NEG)
    slow_arith:
    {
        nd_value out;
        unsigned reused = 0;
        SAVE_PC();
        TRY(nd_val_arith_tmp(vm, INS.op, R[INS.b], R[INS.c], INS.x, &out, &reused));
        if (reused) R[reused == 1 ? INS.b : INS.c] = ND_NIL; /* its reference is in out */
        nd_val_set(&R[INS.a], out);
        COUNT_WORK();
        DISPATCH();
    }
    ARITHK(ADDK, add, x + y)
    ARITHK(SUBK, sub, x - y)
    ARITHK(MULK, mul, x * y)
    slow_arithk:
    {
        _Static_assert(ND_OP_SUBK == ND_OP_ADDK + 1 && ND_OP_MULK == ND_OP_ADDK + 2,
                       "ADDK, SUBK, MULK are consecutive");
        static const uint8_t base_op[] = {ND_OP_ADD, ND_OP_SUB, ND_OP_MUL};
        nd_value out;
        SAVE_PC();
        unsigned reused = 0;
        TRY(nd_val_arith_tmp(vm, base_op[INS.op - ND_OP_ADDK], R[INS.b], K[INS.c], INS.x & 1,
                             &out, &reused));
        if (reused) R[INS.b] = ND_NIL; /* its reference is in out */
        nd_val_set(&R[INS.a], out);
        COUNT_WORK();
        DISPATCH();
    }
    CASE(NOT)
    {
        if (UNLIKELY(R[INS.b].type == ND_T_MATRIX)) {
            SAVE_PC();
            FAIL(array_logic("not", "1 - A or where"));
        }
        SET_IMM(R[INS.a], ND_BOOL(ND_FALSY(R[INS.b])));
        DISPATCH();
    }
    CASE(EQ)
    CASE(NE)
    {
        bool r;
        if (UNLIKELY(R[INS.b].type == ND_T_MATRIX || R[INS.c].type == ND_T_MATRIX)) {
            nd_value o_;
            SAVE_PC();
            TRY(nd_val_compare_array(vm, INS.op, R[INS.b], R[INS.c], &o_));
            nd_val_set(&R[INS.a], o_);
            COUNT_WORK();
            DISPATCH(); /* a fused TEST refuses the array */
        }
        VALUES_EQUAL(r, R[INS.b], R[INS.c]);
        if (INS.op == ND_OP_NE) r = !r;
        SET_IMM(R[INS.a], ND_BOOL(r));
        if (pc->op == ND_OP_TEST && pc->a == INS.a) pc += r ? 1 : 1 + ND_SBX(*pc);
        DISPATCH();
    }
    COMPARE(LT, <)
    COMPARE(LE, <=)
    COMPARE(GT, >)
    COMPARE(GE, >=)
    COMPAREK(LTK, LT, <)
    COMPAREK(LEK, LE, <=)
    COMPAREK(GTK, GT, >)
    COMPAREK(GEK, GE, >=)
    CASE(TRANSPOSE)
    {
        nd_value b = R[INS.b], out;
        SAVE_PC();
        if (b.type != ND_T_MATRIX)
            FAIL(nd_err_set(ND_EPROG, ".T needs a matrix, not %s", nd_val_typename(b)));
        TRY(nd_vm_coll_check(vm, ND_TAG_OPCODE, ND_OP_TRANSPOSE, ".T"));
        nd_dm *t = NULL;
        nd_stats_begin(ND_STATS_LA);
        /* a matrix's transpose; the axes reversed for other dimensions (numpy) */
        nd_status tst = nd_arr_transpose(ND_AS_MATRIX(b)->dm, &t);
        nd_stats_end(ND_STATS_LA);
        TRY(tst);
        TRY(nd_matrix_value(t, &out));
        nd_val_set(&R[INS.a], out);
        DISPATCH();
    }

    CASE(JMP)
    {
        int32_t off = ND_SBX(INS);
        bool uniform = !(INS.x | sp_local); /* INS is gone once pc moves */
        pc += off;
        if (off < 0 && uniform) SAFEPOINT();
        DISPATCH();
    }
    CASE(TEST)
    {
        nd_value v = R[INS.a];
        if (v.type == ND_T_BOOL) {
            if (!v.as.b) pc += ND_SBX(INS);
        } else if (v.type == ND_T_NIL) {
            pc += ND_SBX(INS);
        } else {
            SAVE_PC();
            FAIL(nd_err_set(ND_EPROG, "condition must be a bool or nil, not %s",
                            nd_val_typename(v)));
        }
        DISPATCH();
    }
    CASE(JMPFALSY)
    {
        if (ND_FALSY(R[INS.a])) pc += ND_SBX(INS);
        else if (UNLIKELY(R[INS.a].type == ND_T_MATRIX)) {
            SAVE_PC();
            FAIL(array_logic("and", "*, minimum or where"));
        }
        DISPATCH();
    }
    CASE(JMPTRUTHY)
    {
        if (!ND_FALSY(R[INS.a])) {
            if (UNLIKELY(R[INS.a].type == ND_T_MATRIX)) {
                SAVE_PC();
                FAIL(array_logic("or", "maximum or where"));
            }
            pc += ND_SBX(INS);
        }
        DISPATCH();
    }

    CASE(FORPREP)
    {
        nd_value *r = &R[INS.a];
        if (UNLIKELY(r[0].type != ND_T_INT || r[1].type != ND_T_INT)) {
            SAVE_PC();
            FAIL(nd_err_set(ND_EPROG, "range bounds must be ints, not %s and %s",
                            nd_val_typename(r[0]), nd_val_typename(r[1])));
        }
        if (r[0].as.i >= r[1].as.i) pc += ND_SBX(INS);
        else SET_IMM(r[2], r[0]);
        DISPATCH();
    }
    CASE(FORLOOP)
    {
        nd_value *r = &R[INS.a];
        int64_t k = ++r[0].as.i;
        if (k < r[1].as.i) {
            SET_IMM(r[2], ND_INT(k));
            bool uniform = !(INS.x | sp_local);
            pc += ND_SBX(INS);
            if (uniform) SAFEPOINT();
        }
        DISPATCH();
    }
    CASE(ITERPREP)
    {
        nd_value *r = &R[INS.a];
        if (UNLIKELY(r[0].type != ND_T_LIST)) {
            SAVE_PC();
            FAIL(nd_err_set(ND_EPROG, "for ... in needs a list, not %s",
                            nd_val_typename(r[0])));
        }
        SET_IMM(r[1], ND_INT(0));
        pc += ND_SBX(INS);
        DISPATCH();
    }
    CASE(ITERLOOP)
    {
        nd_value *r = &R[INS.a];
        const nd_list *l = ND_AS_LIST(r[0]);
        int64_t k = r[1].as.i;
        if ((uint64_t)k < l->len) {
            nd_value v = l->items[k];
            nd_val_incref(v);
            nd_val_set(&r[2], v);
            r[1].as.i = k + 1;
            bool uniform = !(INS.x | sp_local);
            pc += ND_SBX(INS);
            if (uniform) SAFEPOINT();
        }
        DISPATCH();
    }

    CASE(CALL)
    {
        nd_value f = R[INS.a];
        if (LIKELY(f.type == ND_T_FUNC)) {
            const nd_func *callee = &prog->funcs[f.as.fn];
            if (UNLIKELY(callee->nparams != INS.b)) {
                SAVE_PC();
                FAIL(nd_err_set(ND_EPROG, "%s expects %u argument%s, got %u", callee->name,
                                callee->nparams, callee->nparams == 1 ? "" : "s", (unsigned)INS.b));
            }
            uint32_t nf = vm->nframes;
            /* One test for both the depth limit and a full frame array. */
            if (UNLIKELY(nf >= frames_lim)) {
                SAVE_PC();
                if (nf >= vm->max_depth)
                    FAIL(nd_err_set(ND_EPROG, "stack overflow (more than %u nested calls)",
                                    vm->max_depth));
                TRY(grow_frames(vm));
                frames_lim = vm->frames_cap < vm->max_depth ? vm->frames_cap : vm->max_depth;
                fr = &vm->frames[nf - 1];
            }
            uint32_t nbase = base + INS.a + 1u;
            if (UNLIKELY((size_t)nbase + callee->nregs > vm->nregs)) {
                SAVE_PC();
                TRY(grow_regs(vm, (size_t)nbase + callee->nregs));
            }
            sp_local |= INS.x != 0;
            fr->pc = (uint32_t)(pc - code);
            fr++;
            vm->nframes = nf + 1;
            fr->func = f.as.fn;
            fr->pc = 0;
            fr->base = nbase;
            fr->ret = nbase - 1;
            fr->local = sp_local;
            code = pc = callee->code;
            base = nbase;
            R = vm->regs + base;
            if (!sp_local) SAFEPOINT();
            DISPATCH();
        }
        SAVE_PC();
        if (f.type != ND_T_BUILTIN)
            FAIL(nd_err_set(ND_EPROG, "cannot call %s", nd_val_typename(f)));
        nd_value out;
        TRY(call_builtin(vm, f.as.fn, &R[INS.a + 1], INS.b, &out));
        nd_val_set(&R[INS.a], out);
        COUNT_WORK();
        nd_gc_maybe();
        DISPATCH();
    }
    CASE(CALLB)
    {
        nd_value out;
        SAVE_PC();
        TRY(call_builtin(vm, INS.c, &R[INS.b], INS.x, &out));
        R = vm->regs + base; /* a hook may have touched the state */
        fr = &vm->frames[vm->nframes - 1];
        nd_val_set(&R[INS.a], out);
        COUNT_WORK();
        nd_gc_maybe();
        DISPATCH();
    }
    CASE(RET)
    {
        nd_value v = ND_NIL;
        if (INS.b == 1) {
            v = R[INS.a];
            R[INS.a] = ND_NIL;
        }
        if (UNLIKELY(vm->nframes == 1)) {
            SAVE_PC();
            nd_val_decref(v);
            return ND_OK;
        }
        /* Release the frame's references now (a big matrix must not outlive its
         * function); stale immediates may stay, they hold nothing.  Most frames hold no
         * object at return: one branch-free pass ORs a bit per type seen, and only a
         * frame that holds objects is walked again. */
        {
            uint32_t n = prog->funcs[fr->func].nregs;
            nd_value *p = R, *e = R + n;
            uint32_t seen = 0;
            if (n & 1u) seen = 1u << p++->type;
            for (; p < e; p += 2) seen |= 1u << p[0].type | 1u << p[1].type;
            if (UNLIKELY(seen & OBJ_TYPES)) {
                for (p = R; p < e; p++) {
                    if (ND_IS_OBJ(*p)) {
                        nd_value o = *p;
                        *p = ND_NIL;
                        nd_val_decref(o); /* frees at most an object, never touches regs */
                    }
                }
            }
        }
        uint32_t ret = fr->ret;
        vm->nframes--;
        fr--;
        sp_local = fr->local;
        code = prog->funcs[fr->func].code;
        pc = code + fr->pc;
        base = fr->base;
        R = vm->regs + base;
        nd_val_set(&vm->regs[ret], v);
        DISPATCH();
    }

    CASE(NEWLIST)
    {
        SAVE_PC();
        nd_list *l = nd_list_new(INS.c);
        if (!l) FAIL(ND_ENOMEM);
        for (uint32_t k = 0; k < INS.c; k++) {
            nd_value v = R[INS.b + k];
            nd_val_incref(v);
            l->items[k] = v;
        }
        l->len = INS.c;
        nd_val_set(&R[INS.a], ND_OBJ(ND_T_LIST, l));
        nd_gc_maybe();
        DISPATCH();
    }
    CASE(NEWMAP)
    {
        SAVE_PC();
        nd_map *m = nd_map_new(INS.c);
        if (!m) FAIL(ND_ENOMEM);
        nd_value mv = ND_OBJ(ND_T_MAP, m);
        for (uint32_t k = 0; k < INS.c; k++) {
            nd_value key = R[INS.b + 2 * k], v = R[INS.b + 2 * k + 1];
            if (key.type != ND_T_STR) {
                nd_val_decref(mv);
                FAIL(nd_err_set(ND_EPROG, "map keys must be strings, not %s",
                                nd_val_typename(key)));
            }
            st = nd_map_set(m, ND_AS_STR(key), v);
            if (st != ND_OK) {
                nd_val_decref(mv);
                goto fail;
            }
        }
        nd_val_set(&R[INS.a], mv);
        nd_gc_maybe();
        DISPATCH();
    }
    CASE(GETINDEX)
    {
        nd_value c = R[INS.b], k = R[INS.c];
        if (LIKELY(c.type == ND_T_LIST && k.type == ND_T_INT &&
                   (uint64_t)k.as.i < ND_AS_LIST(c)->len)) {
            nd_value v = ND_AS_LIST(c)->items[k.as.i];
            nd_val_incref(v);
            nd_val_set(&R[INS.a], v);
            DISPATCH();
        }
        nd_value out;
        SAVE_PC();
        TRY(nd_val_getindex(vm, c, k, &out));
        nd_val_set(&R[INS.a], out);
        DISPATCH();
    }
    CASE(GETINDEX2)
    {
        nd_value out;
        SAVE_PC();
        TRY(nd_val_getindex2(vm, R[INS.b], R[INS.c], R[INS.c + 1], &out));
        nd_val_set(&R[INS.a], out);
        DISPATCH();
    }
    CASE(SETINDEX)
    {
        nd_value c = R[INS.a], k = R[INS.b];
        if (LIKELY(c.type == ND_T_LIST && k.type == ND_T_INT &&
                   (uint64_t)k.as.i < ND_AS_LIST(c)->len)) {
            nd_value v = R[INS.c];
            nd_val_incref(v);
            nd_val_set(&ND_AS_LIST(c)->items[k.as.i], v);
            DISPATCH();
        }
        SAVE_PC();
        TRY(nd_val_setindex(vm, c, k, R[INS.c]));
        DISPATCH();
    }
    CASE(SETINDEX2)
    {
        SAVE_PC();
        TRY(nd_val_setindex2(vm, R[INS.a], R[INS.b], R[INS.b + 1], R[INS.c]));
        DISPATCH();
    }
    CASE(GETSLICE)
    {
        nd_value out;
        SAVE_PC();
        SUB_EW(0)
        TRY(nd_val_getslice(vm, R[INS.b], &R[INS.c], INS.x, &out));
        nd_val_set(&R[INS.a], out);
        DISPATCH();
    }
    CASE(SETSLICE)
    {
        SAVE_PC();
        TRY(nd_val_setslice(vm, R[INS.a], &R[INS.b], INS.x, R[INS.c]));
        DISPATCH();
    }
    CASE(NOP)
    {
        DISPATCH();
    }
    CJUMP(JLT, LT, <)
    CJUMP(JLE, LE, <=)
    CJUMP(JGT, GT, >)
    CJUMP(JGE, GE, >=)
    CJUMPK(JLTK, LT, <)
    CJUMPK(JLEK, LE, <=)
    CJUMPK(JGTK, GT, >)
    CJUMPK(JGEK, GE, >=)
    CASE(JEQ)
    CASE(JNE)
    {
        bool r;
        if (UNLIKELY(R[INS.a].type == ND_T_MATRIX || R[INS.b].type == ND_T_MATRIX)) {
            SAVE_PC();
            FAIL(array_condition(vm, INS.op == ND_OP_JEQ ? ND_OP_EQ : ND_OP_NE, R[INS.a],
                                 R[INS.b], INS.x));
        }
        VALUES_EQUAL(r, R[INS.a], R[INS.b]);
        if (INS.op == ND_OP_JNE) r = !r;
        if (!r) pc += INS.c;
        DISPATCH();
    }

    CASE(NOARRAY)
    {
        if (UNLIKELY(R[INS.a].type == ND_T_MATRIX)) {
            SAVE_PC();
            FAIL(INS.b ? array_logic("or", "maximum or where")
                       : array_logic("and", "*, minimum or where"));
        }
        DISPATCH();
    }
    CASE(GETSUB)
    {
        nd_value out;
        SAVE_PC();
        SUB_EW(INS.x)
        TRY(nd_val_getsub(vm, R[INS.b], &R[INS.c], INS.x, &out));
        nd_val_set(&R[INS.a], out);
        COUNT_WORK();
        DISPATCH();
    }
    CASE(SETSUB)
    {
        SAVE_PC();
        TRY(nd_val_setsub(vm, R[INS.a], &R[INS.b], INS.x, R[INS.c]));
        COUNT_WORK();
        DISPATCH();
    }

#ifndef ND_COMPUTED_GOTO
        default:
            SAVE_PC();
            FAIL(nd_err_set(ND_EINTERNAL, "bad opcode %u", INS.op));
        }
    }
#endif

fail:
    SAVE_PC();
    return st;
}

nd_status nd_vm_run(nd_vm *vm)
{
    if (vm->state == ND_VM_DONE) return ND_OK;
    if (vm->state == ND_VM_FAILED) return vm->status;
    if (vm->nframes == 0) return nd_err_set(ND_EINTERNAL, "nd_vm_run: no frame to run");
    /* NOODLE_TIMING=1: rank 0 reports the loop's own wall time (benchmarks/interp), so
     * that start-up (MPI_Init, compiling) is measured, not guessed. */
    const char *timing = getenv("NOODLE_TIMING");
    bool timed = timing && *timing && strcmp(timing, "0") != 0;
    /* The CPU time of this thread too: on a loaded machine it is the steadier figure. */
    struct timespec t0 = {0, 0}, t1 = {0, 0}, c0 = {0, 0}, c1 = {0, 0};
    if (timed) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    }
    nd_status st = run_loop(vm);
    if (timed) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
        if (nd_spmd_rank() == 0) {
            double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
            double c = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) * 1e-9;
            fprintf(stderr, "noodle-run: timing: vm %.3f s (cpu %.3f s)\n", s, c);
        }
    }
    bool at_exit = st == ND_OK;
    if (st == ND_OK) {
        int line, col;
        nd_vm_position(vm, &line, &col);
        st = nd_spmd_check(ND_SPMD_TAG_EXIT, "the end of the program", line, col);
        if (st == ND_OK) {
            vm->state = ND_VM_DONE;
            return ND_OK;
        }
    }
    if (st == ND_EDIVERGED && nd_spmd_peer_failed()) {
        /* Another rank failed: it prints its error; wait until it has. */
        nd_vm_position(vm, &nd_last_error.line, &nd_last_error.col);
        (void)nd_spmd_barrier();
    } else if (st == ND_EDIVERGED || at_exit) {
        /* every rank has already returned from the check: a further one could hang */
        report(vm, st);
    } else {
        /* A rank-local failure inside a collective (allocation, MPI) cannot wait for the
         * others' check: it aborts the job here, as before. */
        if (st == ND_ENOMEM || st == ND_EMPI || st == ND_EINTERNAL) report(vm, st);
        /* Release ranks waiting in a collective and learn who else failed: an error
         * that every rank met is printed by rank 0, one that only some met by the
         * lowest of them, with its rank. */
        nd_error saved = nd_last_error;
        int lowest = 0;
        bool all = true;
        (void)nd_spmd_check_failed(saved.line, saved.col, &lowest, &all);
        nd_last_error = saved;
        report_on(vm, st, all ? 0 : lowest, !all);
        if (nd_spmd_checks_enabled() && nd_spmd_size() > 1) (void)nd_spmd_barrier();
        nd_last_error = saved;
    }
    vm->state = ND_VM_FAILED;
    vm->status = st;
    return st;
}
