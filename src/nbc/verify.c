/* verify.c: checks every invariant that noodle/bytecode.h promises the VM, so that the
 * dispatch loop never bounds-checks an operand.  Operand kinds come from opcodes.def
 * (via opinfo.h); register ranges and argument counts that a kind alone cannot express
 * are checked per opcode below.  Messages name the function and instruction index.
 * Specified in docs/bytecode.md ("Verification"). */
#include "nbc/nbc.h"

#include "nbc/builtin_ids.h"
#include "nbc/opinfo.h"

#include <inttypes.h>

/* Registers are addressed by 16-bit fields, so no frame can usefully hold more. */
#define NBC_MAX_REGS 65536u

typedef struct vctx {
    const nd_program *p;
    const nd_func *f;
    uint32_t fi, k;
} vctx;

static nd_status bad(const vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static nd_status bad(const vctx *v, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const nd_instr *in = &v->f->code[v->k];
    const char *name = nd_nbc_opname(in->op);
    return nd_err_set(ND_EINVALID, "invalid bytecode: function %" PRIu32 " (%s), instruction %" PRIu32
                      " (%s): %s", v->fi, v->f->name ? v->f->name : "?", v->k,
                      name ? name : "?", what);
}

/* R[first .. first+count-1] must exist; count 0 is an empty range. */
static nd_status reg_range(const vctx *v, uint64_t first, uint64_t count, const char *what)
{
    if (count == 0 || first + count <= v->f->nregs) return ND_OK;
    return bad(v, "%s R[%" PRIu64 "..%" PRIu64 "] beyond the %" PRIu32 " registers of the frame",
               what, first, first + count - 1, v->f->nregs);
}

/* One operand against its kind.  val is the field (Bx/sBx for the wide formats). */
static nd_status check_operand(const vctx *v, const char *fn, nbc_kind kind, uint32_t val)
{
    const nd_program *p = v->p;
    switch (kind) {
    case NBC_K_R:
        if (val >= v->f->nregs)
            return bad(v, "register %s=%" PRIu32 " out of range (nregs %" PRIu32 ")", fn, val,
                       v->f->nregs);
        return ND_OK;
    case NBC_K_K:
        if (val >= p->nconsts)
            return bad(v, "constant %s=%" PRIu32 " out of range (%" PRIu32 " constants)", fn, val,
                       p->nconsts);
        return ND_OK;
    case NBC_K_G:
        if (val >= p->nglobals)
            return bad(v, "global %s=%" PRIu32 " out of range (%" PRIu32 " globals)", fn, val,
                       p->nglobals);
        return ND_OK;
    case NBC_K_F:
        if (val >= p->nfuncs)
            return bad(v, "function %s=%" PRIu32 " out of range (%" PRIu32 " functions)", fn, val,
                       p->nfuncs);
        return ND_OK;
    case NBC_K_I:
        if (val >= ND_NBUILTINS)
            return bad(v, "builtin %s=%" PRIu32 " out of range (%d builtins)", fn, val,
                       (int)ND_NBUILTINS);
        return ND_OK;
    case NBC_K_J: {
        int64_t target = (int64_t)v->k + 1 + (int32_t)val;
        if (target < 0 || target >= (int64_t)v->f->ncode)
            return bad(v, "jump to %" PRId64 " outside the function (%" PRIu32 " instructions)",
                       target, v->f->ncode);
        /* The safe-point invariant (docs/vm.md): every backward transfer passes a safe
         * point, and only these three run one. */
        unsigned op = v->f->code[v->k].op;
        if (target <= (int64_t)v->k && op != ND_OP_JMP && op != ND_OP_FORLOOP &&
            op != ND_OP_ITERLOOP)
            return bad(v, "backward jump to %" PRId64 " (only JMP, FORLOOP and ITERLOOP may "
                          "jump backwards: they pass a safe point)",
                       target);
        return ND_OK;
    }
    case NBC_K_N: return ND_OK;
    case NBC_K__:
        if (val != 0) return bad(v, "unused operand %s is %" PRIu32 ", not 0", fn, val);
        return ND_OK;
    }
    return bad(v, "bad operand kind");
}

/* Constraints beyond the operand kinds: register ranges, argument counts, the x field. */
static nd_status check_extra(const vctx *v, const nd_instr *in)
{
    uint32_t x = in->x;
    switch ((nd_opcode)in->op) {
    case ND_OP_FORLOOP:
    case ND_OP_ITERLOOP:
        if (x > ND_X_LOCAL) return bad(v, "x=%" PRIu32 " is not 0 or ND_X_LOCAL", x);
        return reg_range(v, in->a, 3, "loop registers");
    case ND_OP_FORPREP:
    case ND_OP_ITERPREP: return reg_range(v, in->a, 3, "loop registers");
    case ND_OP_CALL:
        if (x > ND_X_LOCAL) return bad(v, "x=%" PRIu32 " is not 0 or ND_X_LOCAL", x);
        return reg_range(v, in->a, (uint64_t)in->b + 1, "call registers");
    case ND_OP_JMP:
        if (x > ND_X_LOCAL) return bad(v, "x=%" PRIu32 " is not 0 or ND_X_LOCAL", x);
        return ND_OK;
    case ND_OP_CALLB: {
        const nd_builtin_info *bi = &nd_builtin_table[in->c];
        if ((int)x < bi->min_args || (int)x > bi->max_args) {
            if (bi->min_args == bi->max_args)
                return bad(v, "%s takes %d argument%s, not %" PRIu32, bi->name, bi->min_args,
                           bi->min_args == 1 ? "" : "s", x);
            return bad(v, "%s takes %d to %d arguments, not %" PRIu32, bi->name, bi->min_args,
                       bi->max_args, x);
        }
        return reg_range(v, in->b, x, "argument registers");
    }
    case ND_OP_RET:
        if (in->b > 1) return bad(v, "B=%u must be 0 or 1", in->b);
        return ND_OK;
    case ND_OP_NEWLIST: return reg_range(v, in->b, in->c, "element registers");
    case ND_OP_NEWMAP: return reg_range(v, in->b, 2 * (uint64_t)in->c, "key/value registers");
    case ND_OP_GETINDEX2: return reg_range(v, in->c, 2, "index registers");
    case ND_OP_SETINDEX2: return reg_range(v, in->b, 2, "index registers");
    case ND_OP_GETSLICE:
    case ND_OP_SETSLICE:
        if (x > 3) return bad(v, "x=%" PRIu32 " has flag bits other than 0 and 1", x);
        return reg_range(v, in->op == ND_OP_GETSLICE ? in->c : in->b, 4, "slice bound registers");
    case ND_OP_GETSUB:
    case ND_OP_SETSUB:
        if (x == 0) return bad(v, "x=0: no subscripts");
        return reg_range(v, in->op == ND_OP_GETSUB ? in->c : in->b, 3 * (uint64_t)x + 1,
                         "subscript registers");
    case ND_OP_NOARRAY:
        if (in->b > 1) return bad(v, "B=%u must be 0 or 1", in->b);
        return ND_OK;
    case ND_OP_LOADFN:
        if (ND_BX(*in) == 0) return bad(v, "the main chunk (function 0) is not a function value");
        return ND_OK;
    default: return ND_OK;
    }
}

/* Whether the x field carries meaning for op (else it must be 0). */
/* The arithmetic opcodes whose x marks operands that are dead temporaries (bit 0: B,
 * bit 1: C), which the VM may reuse for an array result. */
static bool arith_x(unsigned op)
{
    return op == ND_OP_ADD || op == ND_OP_SUB || op == ND_OP_MUL || op == ND_OP_DIV ||
           op == ND_OP_IDIV || op == ND_OP_MOD || op == ND_OP_POW || op == ND_OP_NEG ||
           op == ND_OP_ADDK || op == ND_OP_SUBK || op == ND_OP_MULK;
}

static bool uses_x(unsigned op)
{
    return arith_x(op) || op == ND_OP_CALLB || op == ND_OP_GETSLICE || op == ND_OP_SETSLICE ||
           op == ND_OP_JMP || op == ND_OP_FORLOOP || op == ND_OP_ITERLOOP || op == ND_OP_CALL ||
           op == ND_OP_GETSUB || op == ND_OP_SETSUB || (op >= ND_OP_JLT && op <= ND_OP_JGEK);
}

static nd_status check_instr(const vctx *v, const nd_instr *in)
{
    if (in->op >= ND_NUM_OPCODES) return bad(v, "unknown opcode %u", in->op);
    const nbc_opinfo *oi = &nd_nbc_opinfo[in->op];
    if (!uses_x(in->op) && in->x != 0) return bad(v, "unused operand x is %u, not 0", in->x);
    if (arith_x(in->op) && in->x > 3) return bad(v, "temporary flags x is %u, not 0-3", in->x);
    ND_TRY(check_operand(v, "A", oi->kind[0], in->a));
    if (oi->fmt == NBC_FMT_ABC) {
        ND_TRY(check_operand(v, "B", oi->kind[1], in->b));
        ND_TRY(check_operand(v, "C", oi->kind[2], in->c));
    } else {
        ND_TRY(check_operand(v, oi->fmt == NBC_FMT_ABX ? "Bx" : "sBx", oi->kind[1], ND_BX(*in)));
    }
    return check_extra(v, in);
}

static nd_status check_func(const nd_program *p, uint32_t fi)
{
    const nd_func *f = &p->funcs[fi];
    const char *name = f->name ? f->name : "?";
#define FBAD(...) nd_err_set(ND_EINVALID, "invalid bytecode: function %" PRIu32 " (%s): %s", fi, name, __VA_ARGS__)
    char why[160];
    if (!f->name) return FBAD("no name");
    if (f->nregs == 0 || f->nregs > NBC_MAX_REGS) {
        snprintf(why, sizeof why, "%" PRIu32 " registers (must be 1 to %u)", f->nregs, NBC_MAX_REGS);
        return FBAD(why);
    }
    if (f->nparams > f->nregs) {
        snprintf(why, sizeof why, "%" PRIu32 " parameters but only %" PRIu32 " registers",
                 f->nparams, f->nregs);
        return FBAD(why);
    }
    if (fi == 0 && f->nparams != 0) {
        snprintf(why, sizeof why, "the main chunk takes %" PRIu32 " parameters, not 0", f->nparams);
        return FBAD(why);
    }
    if (f->ncode == 0 || !f->code || !f->pos) return FBAD("no code");
    if (f->code[f->ncode - 1].op != ND_OP_RET) {
        snprintf(why, sizeof why, "the last instruction (%" PRIu32 ") is not RET", f->ncode - 1);
        return FBAD(why);
    }
#undef FBAD
    vctx v = {p, f, fi, 0};
    for (v.k = 0; v.k < f->ncode; v.k++) ND_TRY(check_instr(&v, &f->code[v.k]));
    return ND_OK;
}

/* Rank-local, read-only.  ND_OK means the VM may run p without operand checks. */
nd_status nd_nbc_verify(const nd_program *p)
{
    ND_CHECK(p->source_name, ND_EINVALID, "invalid bytecode: no source name");
    ND_CHECK(p->nfuncs >= 1 && p->funcs, ND_EINVALID, "invalid bytecode: no main chunk");
    ND_CHECK(p->nconsts == 0 || p->consts, ND_EINVALID, "invalid bytecode: no constant pool");
    ND_CHECK(p->nglobals == 0 || p->globals, ND_EINVALID, "invalid bytecode: no global table");
    for (uint32_t i = 0; i < p->nconsts; i++) {
        const nd_const *k = &p->consts[i];
        ND_CHECK(k->kind == ND_K_INT || k->kind == ND_K_FLOAT || (k->kind == ND_K_STR && k->s),
                 ND_EINVALID, "invalid bytecode: constant %" PRIu32 " has kind %u", i, k->kind);
    }
    for (uint32_t i = 0; i < p->nglobals; i++)
        ND_CHECK(p->globals[i], ND_EINVALID, "invalid bytecode: global %" PRIu32 " has no name", i);
    for (uint32_t i = 0; i < p->nfuncs; i++) ND_TRY(check_func(p, i));
    return ND_OK;
}
