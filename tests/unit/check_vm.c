/* check_vm.c: unit tests of src/vm on hand-built bytecode (the compiler is tested on
 * its own): arithmetic semantics, every error class with its position and trace, calls,
 * recursion and stack overflow, lists/maps/equality/printing, refcounts and the cycle
 * collector (live bytes return to the baseline; the trigger is a count), saving and
 * restoring the state through a sink and a source, the value accessors for hooks.  Runs
 * under MPI at one rank without fork (the VM calls the SPMD layer).
 */
#include "nd_check.h"
#include "common/alloc.h"
#include "nbc/builtin_ids.h"
#include "nbc/nbc.h"
#include "runtime/dm.h"
#include "runtime/spmd.h"
#include "vm/object.h"
#include "vm/vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a tiny assembler (everything through nd_malloc so nd_program_free frees it) ---- */

static nd_program *prog_new(void)
{
    nd_program *p = nd_calloc(1, sizeof *p);
    ck_assert_ptr_nonnull(p);
    p->source_name = nd_strdup("t.noodle");
    return p;
}

static uint32_t add_func(nd_program *p, const char *name, uint32_t nparams, uint32_t nregs)
{
    p->funcs = ND_REALLOC_N(nd_func, p->funcs, p->nfuncs, p->nfuncs + 1);
    nd_func *f = &p->funcs[p->nfuncs];
    memset(f, 0, sizeof *f);
    f->name = nd_strdup(name);
    f->line = 1;
    f->nparams = nparams;
    f->nregs = nregs;
    return p->nfuncs++;
}

static uint32_t add_global(nd_program *p, const char *name)
{
    p->globals = ND_REALLOC_N(char *, p->globals, p->nglobals, p->nglobals + 1);
    p->globals[p->nglobals] = nd_strdup(name);
    return p->nglobals++;
}

static uint32_t add_const(nd_program *p, nd_const c)
{
    p->consts = ND_REALLOC_N(nd_const, p->consts, p->nconsts, p->nconsts + 1);
    p->consts[p->nconsts] = c;
    return p->nconsts++;
}

static uint32_t kstr(nd_program *p, const char *s)
{
    nd_const c = {.kind = ND_K_STR, .s = nd_strdup(s), .slen = (uint32_t)strlen(s)};
    return add_const(p, c);
}

static uint32_t kflt(nd_program *p, double f)
{
    return add_const(p, (nd_const){.kind = ND_K_FLOAT, .f = f});
}

static uint32_t kint(nd_program *p, int64_t i)
{
    return add_const(p, (nd_const){.kind = ND_K_INT, .i = i});
}

/* Current line/column stamped on emitted instructions. */
static uint32_t cur_line = 1, cur_col = 1;

static uint32_t emit(nd_program *p, uint32_t fi, nd_opcode op, unsigned a, unsigned b,
                     unsigned c, unsigned x)
{
    nd_func *f = &p->funcs[fi];
    f->code = ND_REALLOC_N(nd_instr, f->code, f->ncode, f->ncode + 1);
    f->pos = ND_REALLOC_N(nd_pos, f->pos, f->ncode, f->ncode + 1);
    f->code[f->ncode] = (nd_instr){.op = (uint8_t)op, .x = (uint8_t)x, .a = (uint16_t)a,
                                   .b = (uint16_t)b, .c = (uint16_t)c};
    f->pos[f->ncode] = (nd_pos){cur_line, cur_col};
    return f->ncode++;
}

static uint32_t emit_bx(nd_program *p, uint32_t fi, nd_opcode op, unsigned a, uint32_t bx)
{
    return emit(p, fi, op, a, bx & 0xffffu, bx >> 16, 0);
}

static uint32_t emit_sbx(nd_program *p, uint32_t fi, nd_opcode op, unsigned a, int32_t sbx)
{
    return emit_bx(p, fi, op, a, (uint32_t)sbx);
}

/* Patches the jump at `at` to land on `target`. */
static void patch(nd_program *p, uint32_t fi, uint32_t at, uint32_t target)
{
    uint32_t bx = (uint32_t)((int32_t)target - (int32_t)(at + 1));
    p->funcs[fi].code[at].b = (uint16_t)(bx & 0xffffu);
    p->funcs[fi].code[at].c = (uint16_t)(bx >> 16);
}

static void at(uint32_t line, uint32_t col)
{
    cur_line = line;
    cur_col = col;
}

/* Emits print(R[r .. r+n-1]) into R[dst]. */
static void print_regs(nd_program *p, uint32_t fi, unsigned dst, unsigned r, unsigned n)
{
    emit(p, fi, ND_OP_CALLB, dst, r, ND_BI_PRINT, n);
}

/* ---- running ---- */

static char out_buf[65536], err_buf[65536];

static void slurp(FILE *f, char *buf, size_t cap)
{
    fflush(f);
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static nd_status run_opts(nd_program *p, uint32_t depth, const nd_vm_hooks *hooks)
{
    FILE *out = tmpfile(), *err = tmpfile();
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_nonnull(err);
    nd_vm_opts opts = {.max_call_depth = depth, .out = out, .err = err};
    nd_vm *vm = NULL;
    ck_assert_int_eq(nd_vm_new(p, &opts, &vm), ND_OK);
    if (hooks) nd_vm_set_hooks(vm, hooks);
    nd_status st = nd_vm_run(vm);
    nd_vm_free(vm);
    slurp(out, out_buf, sizeof out_buf);
    slurp(err, err_buf, sizeof err_buf);
    return st;
}

static nd_status run(nd_program *p)
{
    return run_opts(p, 0, NULL);
}

/* Runs and checks that the run failed with the message at line:col, and that the first
 * trace line names `fn`. */
static void expect_error(nd_program *p, int line, int col, const char *msg, const char *fn)
{
    nd_status st = run(p);
    ck_assert_int_eq(st, ND_EPROG);
    char want[1024];
    snprintf(want, sizeof want, "t.noodle:%d:%d: error: %s\n  in %s at t.noodle:%d\n", line,
             col, msg, fn, line);
    ck_assert_msg(strncmp(err_buf, want, strlen(want)) == 0, "got:\n%s\nwant:\n%s", err_buf,
                  want);
}

/* A main function, registers 0..n-1. */
static uint32_t main_fn(nd_program *p, uint32_t nregs)
{
    at(1, 1);
    return add_func(p, "<main>", 0, nregs);
}

static void finish(nd_program *p, uint32_t fi)
{
    emit(p, fi, ND_OP_RET, 0, 0, 0, 0);
}

/* ---- arithmetic ---- */

/* R[0] := a OP b for int constants, printed. */
static const char *arith_ii(nd_opcode op, int64_t a, int64_t b)
{
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 4);
    emit_bx(p, m, ND_OP_LOADK, 1, kint(p, a));
    emit_bx(p, m, ND_OP_LOADK, 2, kint(p, b));
    emit(p, m, op, 0, 1, 2, 0);
    print_regs(p, m, 3, 0, 1);
    finish(p, m);
    ck_assert_int_eq(run(p), ND_OK);
    nd_program_free(p);
    return out_buf;
}

static const char *arith_ff(nd_opcode op, double a, double b)
{
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 4);
    emit_bx(p, m, ND_OP_LOADK, 1, kflt(p, a));
    emit_bx(p, m, ND_OP_LOADK, 2, kflt(p, b));
    emit(p, m, op, 0, 1, 2, 0);
    print_regs(p, m, 3, 0, 1);
    finish(p, m);
    ck_assert_int_eq(run(p), ND_OK);
    nd_program_free(p);
    return out_buf;
}

START_TEST(test_int_arith)
{
    ck_assert_str_eq(arith_ii(ND_OP_ADD, 7, 2), "9\n");
    ck_assert_str_eq(arith_ii(ND_OP_SUB, 7, 9), "-2\n");
    ck_assert_str_eq(arith_ii(ND_OP_MUL, -6, 7), "-42\n");
    ck_assert_str_eq(arith_ii(ND_OP_DIV, 7, 2), "3.5\n");
    ck_assert_str_eq(arith_ii(ND_OP_DIV, 6, 3), "2.0\n");
    ck_assert_str_eq(arith_ii(ND_OP_DIV, 1, 0), "inf\n");
    ck_assert_str_eq(arith_ii(ND_OP_DIV, 0, 0), "nan\n");
    ck_assert_str_eq(arith_ii(ND_OP_MOD, -7, 3), "2\n");
    ck_assert_str_eq(arith_ii(ND_OP_MOD, 7, -3), "-2\n");
    ck_assert_str_eq(arith_ii(ND_OP_MOD, -7, -3), "-1\n");
    ck_assert_str_eq(arith_ii(ND_OP_MOD, INT64_MIN, -1), "0\n");
    ck_assert_str_eq(arith_ii(ND_OP_POW, 2, 10), "1024\n");
    ck_assert_str_eq(arith_ii(ND_OP_POW, 0, 0), "1\n");
    ck_assert_str_eq(arith_ii(ND_OP_POW, -3, 3), "-27\n");
    ck_assert_str_eq(arith_ii(ND_OP_POW, 2, -2), "0.25\n");
    ck_assert_str_eq(arith_ii(ND_OP_POW, 2, 62), "4611686018427387904\n");
    ck_assert_str_eq(arith_ii(ND_OP_ADD, INT64_MAX - 1, 1), "9223372036854775807\n");
    ck_assert_str_eq(arith_ii(ND_OP_LT, 1, 2), "true\n");
    ck_assert_str_eq(arith_ii(ND_OP_GE, 1, 2), "false\n");
    ck_assert_str_eq(arith_ii(ND_OP_NE, 1, 2), "true\n");
}
END_TEST

START_TEST(test_float_arith)
{
    ck_assert_str_eq(arith_ff(ND_OP_MOD, 7.5, -2), "-0.5\n");
    ck_assert_str_eq(arith_ff(ND_OP_MOD, -7.5, 2), "0.5\n");
    ck_assert_str_eq(arith_ff(ND_OP_ADD, 0.1, 0.2), "0.30000000000000004\n");
    ck_assert_str_eq(arith_ff(ND_OP_MUL, 1e308, 10), "inf\n");
    ck_assert_str_eq(arith_ff(ND_OP_POW, 4, 0.5), "2.0\n");
    ck_assert_str_eq(arith_ff(ND_OP_DIV, -1, 0), "-inf\n");
    ck_assert_str_eq(arith_ff(ND_OP_LT, 0.0 / 0.0, 1), "false\n");
    ck_assert_str_eq(arith_ff(ND_OP_EQ, 0.0 / 0.0, 0.0 / 0.0), "false\n");
}
END_TEST

/* Mixed int/float: arithmetic gives floats, comparison is exact. */
START_TEST(test_mixed_arith)
{
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 10);
    emit_sbx(p, m, ND_OP_LOADI, 1, 1);
    emit_bx(p, m, ND_OP_LOADK, 2, kflt(p, 1.0));
    emit(p, m, ND_OP_EQ, 3, 1, 2, 0);                   /* 1 == 1.0 */
    emit(p, m, ND_OP_ADD, 4, 1, 2, 0);                  /* 2.0 */
    emit_bx(p, m, ND_OP_LOADK, 5, kint(p, 9007199254740993));
    emit_bx(p, m, ND_OP_LOADK, 6, kflt(p, 9007199254740992.0));
    emit(p, m, ND_OP_EQ, 7, 5, 6, 0);                   /* false: exact */
    emit(p, m, ND_OP_GT, 8, 5, 6, 0);                   /* true */
    emit(p, m, ND_OP_NEG, 9, 1, 0, 0);
    print_regs(p, m, 0, 3, 7);
    finish(p, m);
    ck_assert_int_eq(run(p), ND_OK);
    ck_assert_str_eq(out_buf, "true 2.0 9007199254740993 9007199254740992.0 false true -1\n");
    nd_program_free(p);
}
END_TEST

/* ---- errors: each class with its position ---- */

START_TEST(test_error_overflow)
{
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 3);
    emit_bx(p, m, ND_OP_LOADK, 1, kint(p, INT64_MAX / 2 + 1));
    emit_sbx(p, m, ND_OP_LOADI, 2, 2);
    at(3, 9);
    emit(p, m, ND_OP_MUL, 0, 1, 2, 0);
    finish(p, m);
    expect_error(p, 3, 9, "integer overflow in *", "<main>");
    nd_program_free(p);
}
END_TEST

static void binop_error(nd_opcode op, nd_value a, nd_value b, const char *msg)
{
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 3);
    unsigned regs[2] = {1, 2};
    nd_value vals[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        if (vals[k].type == ND_T_INT) emit_bx(p, m, ND_OP_LOADK, regs[k], kint(p, vals[k].as.i));
        else if (vals[k].type == ND_T_FLOAT)
            emit_bx(p, m, ND_OP_LOADK, regs[k], kflt(p, vals[k].as.f));
        else if (vals[k].type == ND_T_STR) emit_bx(p, m, ND_OP_LOADK, regs[k], kstr(p, "a"));
        else if (vals[k].type == ND_T_LIST) emit(p, m, ND_OP_NEWLIST, regs[k], 0, 0, 0);
        else emit(p, m, ND_OP_LOADNIL, regs[k], 0, 0, 0);
    }
    at(7, 4);
    emit(p, m, op, 0, 1, 2, 0);
    finish(p, m);
    expect_error(p, 7, 4, msg, "<main>");
    nd_program_free(p);
}

START_TEST(test_error_types)
{
    nd_value s = {.type = ND_T_STR}, l = {.type = ND_T_LIST};
    binop_error(ND_OP_ADD, s, ND_INT(1), "cannot apply + to str and int");
    binop_error(ND_OP_MOD, ND_INT(7), ND_INT(0), "integer modulo by zero");
    binop_error(ND_OP_SUB, ND_INT(INT64_MIN), ND_INT(1), "integer overflow in -");
    binop_error(ND_OP_POW, ND_INT(3), ND_INT(40), "integer overflow in ^");
    binop_error(ND_OP_LT, ND_INT(3), s, "cannot apply < to int and str");
    binop_error(ND_OP_MUL, l, ND_FLOAT(2), "cannot apply * to list and float");
    binop_error(ND_OP_MATMUL, ND_INT(1), ND_INT(2), "cannot apply @ to int and int");
    binop_error(ND_OP_GETINDEX, l, ND_INT(0), "list index 0 out of range (length 0)");
    binop_error(ND_OP_GETINDEX, l, ND_FLOAT(0), "a list index must be an int, not float");
    binop_error(ND_OP_GETINDEX, ND_INT(1), ND_INT(0), "cannot index int");
    binop_error(ND_OP_GETSLICE, l, ND_NIL, "cannot slice list (slices are for matrices)");
    binop_error(ND_OP_NEG, s, ND_NIL, "cannot apply unary - to str");
    binop_error(ND_OP_TRANSPOSE, s, ND_NIL, ".T needs a matrix, not str");
}
END_TEST

/* ---- compare-and-branch ---- */

/* Loads an int, float, str ("a" or "b" by as.i) or nil constant into R[r]. */
static void load_val(nd_program *p, uint32_t m, unsigned r, nd_value v)
{
    if (v.type == ND_T_INT) emit_bx(p, m, ND_OP_LOADK, r, kint(p, v.as.i));
    else if (v.type == ND_T_FLOAT) emit_bx(p, m, ND_OP_LOADK, r, kflt(p, v.as.f));
    else if (v.type == ND_T_STR) emit_bx(p, m, ND_OP_LOADK, r, kstr(p, v.as.i ? "b" : "a"));
    else emit(p, m, ND_OP_LOADNIL, r, 0, 0, 0);
}

/* Runs `a OP b` both as the plain comparison `op` (printed) and as the branch `jop`
 * (prints 1 when it falls through, 0 when it jumps) and checks both against want.  With
 * a K form (jop >= JLTK) b is a constant. */
static void check_branch(nd_opcode jop, nd_opcode op, nd_value a, nd_value b, bool want)
{
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 6);
    bool kform = jop >= ND_OP_JLTK;
    load_val(p, m, 1, a);
    unsigned kb = 0;
    if (kform) kb = b.type == ND_T_INT ? kint(p, b.as.i) : kflt(p, b.as.f);
    else load_val(p, m, 2, b);
    emit(p, m, op, 3, 1, kform ? kb : 2, 0);
    emit(p, m, jop, 1, kform ? kb : 2, 2, 0);
    emit_sbx(p, m, ND_OP_LOADI, 4, 1);
    emit_sbx(p, m, ND_OP_JMP, 0, 1);
    emit_sbx(p, m, ND_OP_LOADI, 4, 0);
    print_regs(p, m, 5, 3, 1);
    print_regs(p, m, 5, 4, 1);
    finish(p, m);
    ck_assert_int_eq(nd_nbc_verify(p), ND_OK);
    ck_assert_int_eq(run(p), ND_OK);
    ck_assert_msg(strcmp(out_buf, want ? "true\n1\n" : "false\n0\n") == 0, "%s: got %s",
                  nd_nbc_opname(jop), out_buf);
    nd_program_free(p);
}

static void branch_error(nd_opcode jop, nd_value a, nd_value b, const char *msg)
{
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 3);
    load_val(p, m, 1, a);
    load_val(p, m, 2, b);
    at(7, 4);
    emit(p, m, jop, 1, 2, 0, 0);
    finish(p, m);
    ck_assert_int_eq(nd_nbc_verify(p), ND_OK);
    expect_error(p, 7, 4, msg, "<main>");
    nd_program_free(p);
}

START_TEST(test_compare_branch)
{
    nd_value sa = {.type = ND_T_STR, .as.i = 0}, sb = {.type = ND_T_STR, .as.i = 1};
    nd_value nan = ND_FLOAT(0.0 / 0.0);
    check_branch(ND_OP_JLT, ND_OP_LT, ND_INT(1), ND_INT(2), true);
    check_branch(ND_OP_JLT, ND_OP_LT, ND_INT(2), ND_INT(2), false);
    check_branch(ND_OP_JLE, ND_OP_LE, ND_INT(2), ND_INT(2), true);
    check_branch(ND_OP_JGT, ND_OP_GT, ND_INT(INT64_MIN), ND_INT(INT64_MAX), false);
    check_branch(ND_OP_JGE, ND_OP_GE, ND_FLOAT(2.5), ND_FLOAT(2.5), true);
    check_branch(ND_OP_JLT, ND_OP_LT, ND_INT(1), ND_FLOAT(1.5), true);   /* mixed */
    check_branch(ND_OP_JGT, ND_OP_GT, ND_FLOAT(1.5), ND_INT(1), true);
    check_branch(ND_OP_JLT, ND_OP_LT, nan, ND_FLOAT(1), false);          /* NaN */
    check_branch(ND_OP_JGE, ND_OP_GE, nan, nan, false);
    check_branch(ND_OP_JLT, ND_OP_LT, sa, sb, true);                     /* strings */
    check_branch(ND_OP_JGE, ND_OP_GE, sa, sb, false);
    check_branch(ND_OP_JEQ, ND_OP_EQ, ND_INT(3), ND_INT(3), true);
    check_branch(ND_OP_JEQ, ND_OP_EQ, ND_INT(3), ND_FLOAT(3), true);
    check_branch(ND_OP_JEQ, ND_OP_EQ, sa, sa, true);
    check_branch(ND_OP_JEQ, ND_OP_EQ, sa, ND_INT(0), false);
    check_branch(ND_OP_JNE, ND_OP_NE, sa, sb, true);
    check_branch(ND_OP_JNE, ND_OP_NE, ND_NIL, ND_NIL, false);
    check_branch(ND_OP_JNE, ND_OP_NE, nan, nan, true);
    check_branch(ND_OP_JLTK, ND_OP_LTK, ND_INT(1), ND_INT(2), true);
    check_branch(ND_OP_JLEK, ND_OP_LEK, ND_INT(3), ND_INT(2), false);
    check_branch(ND_OP_JGTK, ND_OP_GTK, ND_FLOAT(2.5), ND_INT(2), true);
    check_branch(ND_OP_JGEK, ND_OP_GEK, ND_INT(2), ND_FLOAT(2.5), false);
    /* errors: the comparison's message at the branch's own position */
    branch_error(ND_OP_JLT, ND_INT(3), sa, "cannot apply < to int and str");
    branch_error(ND_OP_JGE, sa, ND_FLOAT(1), "cannot apply >= to str and float");
    branch_error(ND_OP_JLE, ND_NIL, ND_INT(1), "cannot apply <= to nil and int");
    branch_error(ND_OP_JGT, ND_INT(1), ND_NIL, "cannot apply > to int and nil");
}
END_TEST

START_TEST(test_error_condition)
{
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 2);
    emit(p, m, ND_OP_NEWLIST, 0, 0, 0, 0);
    at(2, 4);
    emit_sbx(p, m, ND_OP_TEST, 0, 0);
    finish(p, m);
    expect_error(p, 2, 4, "condition must be a bool or nil, not list", "<main>");
    nd_program_free(p);
}
END_TEST

START_TEST(test_error_missing_key_and_globals)
{
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 4);
    emit_bx(p, m, ND_OP_LOADK, 1, kstr(p, "a"));
    emit_sbx(p, m, ND_OP_LOADI, 2, 1);
    emit(p, m, ND_OP_NEWMAP, 0, 1, 1, 0);
    emit_bx(p, m, ND_OP_LOADK, 3, kstr(p, "x"));
    at(5, 6);
    emit(p, m, ND_OP_GETINDEX, 1, 0, 3, 0);
    finish(p, m);
    expect_error(p, 5, 6, "missing key \"x\"", "<main>");
    nd_program_free(p);

    p = prog_new();
    m = main_fn(p, 1);
    uint32_t g = add_global(p, "later");
    at(2, 3);
    emit_bx(p, m, ND_OP_GETG, 0, g);
    finish(p, m);
    expect_error(p, 2, 3, "global 'later' is used before it is assigned", "<main>");
    nd_program_free(p);

    p = prog_new();
    m = main_fn(p, 3);
    emit_sbx(p, m, ND_OP_LOADI, 1, 5);
    emit_sbx(p, m, ND_OP_LOADI, 2, 6);
    at(4, 1);
    emit(p, m, ND_OP_NEWMAP, 0, 1, 1, 0);
    finish(p, m);
    expect_error(p, 4, 1, "map keys must be strings, not int", "<main>");
    nd_program_free(p);
}
END_TEST

START_TEST(test_error_builtins)
{
    /* sqrt("a"): a wrong argument type. */
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 2);
    emit_bx(p, m, ND_OP_LOADK, 1, kstr(p, "a"));
    at(3, 5);
    emit(p, m, ND_OP_CALLB, 0, 1, ND_BI_SQRT, 1);
    finish(p, m);
    expect_error(p, 3, 5, "sqrt: argument 1 must be a number or array, not str", "<main>");
    nd_program_free(p);

    /* error(msg): the message is exactly msg. */
    p = prog_new();
    m = main_fn(p, 2);
    emit_bx(p, m, ND_OP_LOADK, 1, kstr(p, "value too large: 3"));
    at(4, 5);
    emit(p, m, ND_OP_CALLB, 0, 1, ND_BI_ERROR, 1);
    finish(p, m);
    expect_error(p, 4, 5, "value too large: 3", "<main>");
    nd_program_free(p);

    /* assert(false, msg) fails; assert(true, msg) and assert(0, msg) do not. */
    p = prog_new();
    m = main_fn(p, 3);
    emit(p, m, ND_OP_LOADBOOL, 1, 1, 0, 0);
    emit_bx(p, m, ND_OP_LOADK, 2, kstr(p, "x > 0"));
    emit(p, m, ND_OP_CALLB, 0, 1, ND_BI_ASSERT, 2);
    emit_sbx(p, m, ND_OP_LOADI, 1, 0);
    emit(p, m, ND_OP_CALLB, 0, 1, ND_BI_ASSERT, 2);
    emit(p, m, ND_OP_LOADBOOL, 1, 0, 0, 0);
    at(9, 2);
    emit(p, m, ND_OP_CALLB, 0, 1, ND_BI_ASSERT, 2);
    finish(p, m);
    expect_error(p, 9, 2, "assertion failed: x > 0", "<main>");
    nd_program_free(p);

    /* checkpoint() without a hook. */
    p = prog_new();
    m = main_fn(p, 1);
    at(2, 1);
    emit(p, m, ND_OP_CALLB, 0, 0, ND_BI_CHECKPOINT, 0);
    finish(p, m);
    ck_assert_int_eq(run(p), ND_EPROG);
    ck_assert_ptr_nonnull(strstr(err_buf, "t.noodle:2:1: error: checkpoint() is not available"));
    nd_program_free(p);

    /* int(nan), fmt("%d") of a float, a bad spec. */
    struct { uint32_t bi; double v; const char *spec; const char *msg; } cases[] = {
        {ND_BI_INT, 0.0 / 0.0, NULL, "int: nan is out of the int range"},
        {ND_BI_ROUND, 1e300, NULL, "round: 1e+300 is out of the int range"},
        {ND_BI_FMT, 2.5, "d", "fmt: %d needs an int, not float (use int() or round())"},
        {ND_BI_FMT, 2.5, "q", "fmt: bad format spec \"q\" (expected e.g. \".3f\", \"5d\", \"e\")"},
        {ND_BI_FMT, 2.5, "1234f", "fmt: bad format spec \"1234f\" (expected e.g. \".3f\", \"5d\", \"e\")"},
    };
    for (size_t k = 0; k < ND_ARRAY_LEN(cases); k++) {
        p = prog_new();
        m = main_fn(p, 3);
        emit_bx(p, m, ND_OP_LOADK, 1, kflt(p, cases[k].v));
        if (cases[k].spec) emit_bx(p, m, ND_OP_LOADK, 2, kstr(p, cases[k].spec));
        at(6, 7);
        emit(p, m, ND_OP_CALLB, 0, 1, cases[k].bi, cases[k].spec ? 2 : 1);
        finish(p, m);
        expect_error(p, 6, 7, cases[k].msg, "<main>");
        nd_program_free(p);
    }
}
END_TEST

/* ---- calls ---- */

/* fib(n) as the compiler would emit it: a global holding the function. */
static nd_program *fib_program(int n)
{
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 3);
    uint32_t g = add_global(p, "fib");
    at(1, 4);
    uint32_t f = add_func(p, "fib", 1, 5);
    at(2, 3);
    emit_sbx(p, f, ND_OP_LOADI, 1, 2);
    emit(p, f, ND_OP_LT, 1, 0, 1, 0);
    emit_sbx(p, f, ND_OP_TEST, 1, 1);
    emit(p, f, ND_OP_RET, 0, 1, 0, 0);
    at(3, 10);
    emit_bx(p, f, ND_OP_GETG, 1, g);
    emit_sbx(p, f, ND_OP_LOADI, 3, 1);
    emit(p, f, ND_OP_SUB, 2, 0, 3, 0);
    emit(p, f, ND_OP_CALL, 1, 1, 0, 0);
    at(3, 20);
    emit_bx(p, f, ND_OP_GETG, 2, g);
    emit_sbx(p, f, ND_OP_LOADI, 4, 2);
    emit(p, f, ND_OP_SUB, 3, 0, 4, 0);
    emit(p, f, ND_OP_CALL, 2, 1, 0, 0);
    emit(p, f, ND_OP_ADD, 1, 1, 2, 0);
    emit(p, f, ND_OP_RET, 1, 1, 0, 0);
    at(5, 1);
    emit_bx(p, m, ND_OP_LOADFN, 0, f);
    emit_bx(p, m, ND_OP_SETG, 0, g);
    emit_bx(p, m, ND_OP_GETG, 0, g);
    emit_sbx(p, m, ND_OP_LOADI, 1, n);
    at(6, 7);
    emit(p, m, ND_OP_CALL, 0, 1, 0, 0);
    print_regs(p, m, 1, 0, 1);
    finish(p, m);
    return p;
}

START_TEST(test_recursion)
{
    nd_program *p = fib_program(20);
    ck_assert_int_eq(run(p), ND_OK);
    ck_assert_str_eq(out_buf, "6765\n");
    ck_assert_str_eq(err_buf, "");
    nd_program_free(p);
}
END_TEST

START_TEST(test_stack_overflow)
{
    /* f(n) = f(n + 1): the CALL that exceeds the limit is reported, with a trace. */
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 2);
    uint32_t g = add_global(p, "spiral");
    uint32_t f = add_func(p, "spiral", 1, 4);
    at(3, 14);
    emit_bx(p, f, ND_OP_GETG, 1, g);
    emit_sbx(p, f, ND_OP_LOADI, 3, 1);
    emit(p, f, ND_OP_ADD, 2, 0, 3, 0);
    emit(p, f, ND_OP_CALL, 1, 1, 0, 0);
    emit(p, f, ND_OP_RET, 1, 1, 0, 0);
    at(5, 1);
    emit_bx(p, m, ND_OP_LOADFN, 0, f);
    emit_bx(p, m, ND_OP_SETG, 0, g);
    emit_sbx(p, m, ND_OP_LOADI, 1, 0);
    at(6, 7);
    emit(p, m, ND_OP_CALL, 0, 1, 0, 0);
    finish(p, m);
    ck_assert_int_eq(run_opts(p, 500, NULL), ND_EPROG);
    ck_assert_msg(strncmp(err_buf, "t.noodle:3:14: error: stack overflow", 36) == 0, "%s", err_buf);
    ck_assert_ptr_nonnull(strstr(err_buf, "\n  in spiral at t.noodle:3\n"));
    ck_assert_ptr_nonnull(strstr(err_buf, "more frames"));
    ck_assert_ptr_nonnull(strstr(err_buf, "  in <main> at t.noodle:6\n"));
    /* The default limit is deep enough for 10,000 frames and still stops. */
    ck_assert_int_eq(run_opts(p, 0, NULL), ND_EPROG);
    ck_assert_ptr_nonnull(strstr(err_buf, "(more than 100000 nested calls)"));
    nd_program_free(p);
}
END_TEST

START_TEST(test_call_errors)
{
    /* Wrong argument count to a function value, and calling a non-function. */
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 3);
    uint32_t f = add_func(p, "sq", 1, 1);
    emit(p, f, ND_OP_MUL, 0, 0, 0, 0);
    emit(p, f, ND_OP_RET, 0, 1, 0, 0);
    emit_bx(p, m, ND_OP_LOADFN, 0, f);
    at(2, 9);
    emit(p, m, ND_OP_CALL, 0, 2, 0, 0);
    finish(p, m);
    expect_error(p, 2, 9, "sq expects 1 argument, got 2", "<main>");
    nd_program_free(p);

    p = prog_new();
    m = main_fn(p, 3);
    emit_sbx(p, m, ND_OP_LOADI, 0, 3);
    at(2, 2);
    emit(p, m, ND_OP_CALL, 0, 0, 0, 0);
    finish(p, m);
    expect_error(p, 2, 2, "cannot call int", "<main>");
    nd_program_free(p);

    /* A builtin as a value: len([1, 2]) via CALL, then a bad arity. */
    p = prog_new();
    m = main_fn(p, 4);
    emit_bx(p, m, ND_OP_LOADBI, 0, ND_BI_LEN);
    emit_sbx(p, m, ND_OP_LOADI, 2, 1);
    emit_sbx(p, m, ND_OP_LOADI, 3, 2);
    emit(p, m, ND_OP_NEWLIST, 1, 2, 2, 0);
    emit(p, m, ND_OP_CALL, 0, 1, 0, 0);
    print_regs(p, m, 1, 0, 1);
    emit_bx(p, m, ND_OP_LOADBI, 0, ND_BI_LEN);
    print_regs(p, m, 1, 0, 1);
    at(3, 3);
    emit(p, m, ND_OP_CALL, 0, 0, 0, 0);
    finish(p, m);
    expect_error(p, 3, 3, "len expects 1 argument, got 0", "<main>");
    ck_assert_str_eq(out_buf, "2\n<builtin len>\n");
    nd_program_free(p);
}
END_TEST

START_TEST(test_error_trace)
{
    /* main -> outer -> inner, which fails: one trace line per frame, innermost first. */
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 2);
    uint32_t inner = add_func(p, "inner", 0, 2);
    uint32_t outer = add_func(p, "outer", 0, 2);
    at(2, 12);
    emit_sbx(p, inner, ND_OP_LOADI, 0, 1);
    emit_sbx(p, inner, ND_OP_LOADI, 1, 0);
    emit(p, inner, ND_OP_MOD, 0, 0, 1, 0);
    emit(p, inner, ND_OP_RET, 0, 1, 0, 0);
    at(5, 3);
    emit_bx(p, outer, ND_OP_LOADFN, 0, inner);
    emit(p, outer, ND_OP_CALL, 0, 0, 0, 0);
    emit(p, outer, ND_OP_RET, 0, 1, 0, 0);
    at(8, 1);
    emit_bx(p, m, ND_OP_LOADFN, 0, outer);
    emit(p, m, ND_OP_CALL, 0, 0, 0, 0);
    finish(p, m);
    ck_assert_int_eq(run(p), ND_EPROG);
    ck_assert_str_eq(err_buf, "t.noodle:2:12: error: integer modulo by zero\n"
                              "  in inner at t.noodle:2\n"
                              "  in outer at t.noodle:5\n"
                              "  in <main> at t.noodle:8\n");
    nd_program_free(p);
}
END_TEST

/* ---- loops ---- */

START_TEST(test_loops)
{
    /* total = 0; for i in 0..10 { total += i }; for x in [5, 6] { total += x } */
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 8);
    emit_sbx(p, m, ND_OP_LOADI, 0, 0);
    emit_sbx(p, m, ND_OP_LOADI, 1, 0);
    emit_sbx(p, m, ND_OP_LOADI, 2, 10);
    uint32_t prep = emit_sbx(p, m, ND_OP_FORPREP, 1, 0);
    uint32_t body = emit(p, m, ND_OP_ADD, 0, 0, 3, 0);
    uint32_t loop = emit_sbx(p, m, ND_OP_FORLOOP, 1, 0);
    patch(p, m, prep, loop + 1);
    patch(p, m, loop, body);
    emit_sbx(p, m, ND_OP_LOADI, 5, 5);
    emit_sbx(p, m, ND_OP_LOADI, 6, 6);
    emit(p, m, ND_OP_NEWLIST, 4, 5, 2, 0);
    uint32_t iprep = emit_sbx(p, m, ND_OP_ITERPREP, 4, 0);
    uint32_t ibody = emit(p, m, ND_OP_ADD, 0, 0, 6, 0);
    uint32_t iloop = emit_sbx(p, m, ND_OP_ITERLOOP, 4, 0);
    patch(p, m, iprep, iloop);
    patch(p, m, iloop, ibody);
    print_regs(p, m, 7, 0, 1);
    /* A float bound is an error at the FORPREP. */
    emit_bx(p, m, ND_OP_LOADK, 2, kflt(p, 2.5));
    at(9, 5);
    emit_sbx(p, m, ND_OP_FORPREP, 1, 0);
    finish(p, m);
    expect_error(p, 9, 5, "range bounds must be ints, not int and float", "<main>");
    ck_assert_str_eq(out_buf, "56\n");
    nd_program_free(p);
}
END_TEST

/* ---- lists, maps, equality, printing ---- */

START_TEST(test_containers_print)
{
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 12);
    /* R0 = [1, "q\"b", nil, 2.5] */
    emit_sbx(p, m, ND_OP_LOADI, 1, 1);
    emit_bx(p, m, ND_OP_LOADK, 2, kstr(p, "q\"b\\"));
    emit(p, m, ND_OP_LOADNIL, 3, 0, 0, 0);
    emit_bx(p, m, ND_OP_LOADK, 4, kflt(p, 2.5));
    emit(p, m, ND_OP_NEWLIST, 0, 1, 4, 0);
    /* R5 = {"z": R0, "a": true}; R5["m"] = 3 */
    emit_bx(p, m, ND_OP_LOADK, 6, kstr(p, "z"));
    emit(p, m, ND_OP_MOVE, 7, 0, 0, 0);
    emit_bx(p, m, ND_OP_LOADK, 8, kstr(p, "a"));
    emit(p, m, ND_OP_LOADBOOL, 9, 1, 0, 0);
    emit(p, m, ND_OP_NEWMAP, 5, 6, 2, 0);
    emit_bx(p, m, ND_OP_LOADK, 6, kstr(p, "m"));
    emit_sbx(p, m, ND_OP_LOADI, 7, 3);
    emit(p, m, ND_OP_SETINDEX, 5, 6, 7, 0);
    /* R0[0] = "s" (the map shares the list) */
    emit_sbx(p, m, ND_OP_LOADI, 6, 0);
    emit_bx(p, m, ND_OP_LOADK, 7, kstr(p, "s"));
    emit(p, m, ND_OP_SETINDEX, 0, 6, 7, 0);
    emit(p, m, ND_OP_MOVE, 10, 5, 0, 0);
    emit_bx(p, m, ND_OP_LOADK, 11, kstr(p, "plain"));
    print_regs(p, m, 6, 10, 2);
    /* keys(R5), len(R5) */
    emit(p, m, ND_OP_CALLB, 10, 5, ND_BI_KEYS, 1);
    emit(p, m, ND_OP_CALLB, 11, 5, ND_BI_LEN, 1);
    print_regs(p, m, 6, 10, 2);
    /* functions and builtins print by name */
    emit_bx(p, m, ND_OP_LOADFN, 10, 0);
    emit_bx(p, m, ND_OP_LOADBI, 11, ND_BI_PRINT);
    print_regs(p, m, 6, 10, 2);
    /* str() of a list, fmt */
    emit(p, m, ND_OP_CALLB, 10, 0, ND_BI_STR, 1);
    emit(p, m, ND_OP_CALLB, 11, 10, ND_BI_LEN, 1);
    print_regs(p, m, 6, 11, 1);
    emit_bx(p, m, ND_OP_LOADK, 1, kflt(p, 12345.678));
    emit_bx(p, m, ND_OP_LOADK, 2, kstr(p, ".3e"));
    emit(p, m, ND_OP_CALLB, 10, 1, ND_BI_FMT, 2);
    emit_sbx(p, m, ND_OP_LOADI, 1, 42);
    emit_bx(p, m, ND_OP_LOADK, 2, kstr(p, "05d"));
    emit(p, m, ND_OP_CALLB, 11, 1, ND_BI_FMT, 2);
    print_regs(p, m, 6, 10, 2);
    emit_bx(p, m, ND_OP_LOADK, 2, kstr(p, "8.2f"));
    emit(p, m, ND_OP_CALLB, 10, 1, ND_BI_FMT, 2);
    emit_bx(p, m, ND_OP_LOADK, 2, kstr(p, "x"));
    emit(p, m, ND_OP_CALLB, 11, 1, ND_BI_FMT, 2);
    print_regs(p, m, 6, 10, 2);
    finish(p, m);
    ck_assert_int_eq(run(p), ND_OK);
    ck_assert_str_eq(out_buf,
                     "{\"z\": [\"s\", \"q\\\"b\\\\\", nil, 2.5], \"a\": true, \"m\": 3} plain\n"
                     "[\"z\", \"a\", \"m\"] 3\n"
                     "<fn <main>> <builtin print>\n"
                     "25\n"
                     "1.235e+04 00042\n"
                     "   42.00 2a\n");
    nd_program_free(p);
}
END_TEST

/* Equality: by value for numbers, content for strings, element-wise for lists,
 * key set and values (order irrelevant) for maps, identity for nil/bool. */
START_TEST(test_equality)
{
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 16);
    emit_sbx(p, m, ND_OP_LOADI, 1, 1);
    emit_bx(p, m, ND_OP_LOADK, 2, kflt(p, 2.0));
    emit(p, m, ND_OP_NEWLIST, 3, 1, 2, 0);          /* [1, 2.0] */
    emit_bx(p, m, ND_OP_LOADK, 2, kint(p, 2));
    emit(p, m, ND_OP_NEWLIST, 4, 1, 2, 0);          /* [1, 2] */
    emit(p, m, ND_OP_EQ, 10, 3, 4, 0);              /* true */
    emit_bx(p, m, ND_OP_LOADK, 5, kstr(p, "a"));
    emit_sbx(p, m, ND_OP_LOADI, 6, 1);
    emit_bx(p, m, ND_OP_LOADK, 7, kstr(p, "b"));
    emit(p, m, ND_OP_MOVE, 8, 3, 0, 0);
    emit(p, m, ND_OP_NEWMAP, 9, 5, 2, 0);           /* {"a": 1, "b": [1, 2.0]} */
    emit(p, m, ND_OP_MOVE, 5, 7, 0, 0);
    emit(p, m, ND_OP_MOVE, 6, 4, 0, 0);
    emit_bx(p, m, ND_OP_LOADK, 7, kstr(p, "a"));
    emit_sbx(p, m, ND_OP_LOADI, 8, 1);
    emit(p, m, ND_OP_NEWMAP, 12, 5, 2, 0);          /* {"b": [1, 2], "a": 1} */
    emit(p, m, ND_OP_EQ, 11, 9, 12, 0);             /* true */
    emit(p, m, ND_OP_LOADNIL, 5, 0, 0, 0);
    emit(p, m, ND_OP_LOADBOOL, 6, 0, 0, 0);
    emit(p, m, ND_OP_EQ, 12, 5, 6, 0);              /* nil == false: false */
    emit_bx(p, m, ND_OP_LOADK, 5, kstr(p, "1"));
    emit(p, m, ND_OP_NE, 13, 5, 1, 0);              /* "1" != 1: true */
    emit(p, m, ND_OP_NEWLIST, 5, 1, 1, 0);          /* [1] */
    emit(p, m, ND_OP_EQ, 14, 5, 3, 0);              /* [1] == [1, 2.0]: false */
    emit_bx(p, m, ND_OP_LOADK, 5, kstr(p, "ab"));
    emit_bx(p, m, ND_OP_LOADK, 6, kstr(p, "b"));
    emit(p, m, ND_OP_LT, 15, 5, 6, 0);              /* "ab" < "b": true */
    print_regs(p, m, 0, 10, 6);
    finish(p, m);
    ck_assert_int_eq(run(p), ND_OK);
    ck_assert_str_eq(out_buf, "true true false true false true\n");
    nd_program_free(p);
}
END_TEST

/* ---- matrices (one rank): element access, == with nil is an error ---- */

START_TEST(test_matrix_basics)
{
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 12);
    emit_sbx(p, m, ND_OP_LOADI, 1, 2);
    emit_sbx(p, m, ND_OP_LOADI, 2, 3);
    emit(p, m, ND_OP_CALLB, 0, 1, ND_BI_ZEROS, 2);  /* A = zeros(2, 3) */
    emit_sbx(p, m, ND_OP_LOADI, 3, 1);
    emit_sbx(p, m, ND_OP_LOADI, 4, 2);
    emit_bx(p, m, ND_OP_LOADK, 5, kflt(p, 7.5));
    emit(p, m, ND_OP_SETINDEX2, 0, 3, 5, 0);        /* A[1, 2] = 7.5 */
    emit(p, m, ND_OP_GETINDEX2, 6, 0, 3, 0);        /* A[1, 2] */
    emit(p, m, ND_OP_TRANSPOSE, 7, 0, 0, 0);        /* A.T */
    emit(p, m, ND_OP_LOADNIL, 8, 0, 0, 0);
    emit(p, m, ND_OP_LOADNIL, 9, 0, 0, 0);
    emit_sbx(p, m, ND_OP_LOADI, 10, 2);
    emit(p, m, ND_OP_LOADNIL, 11, 0, 0, 0);
    emit(p, m, ND_OP_GETSLICE, 8, 0, 8, 2);         /* A[:, 2] -> 2x1 */
    emit(p, m, ND_OP_CALLB, 9, 8, ND_BI_TOLIST, 1);
    print_regs(p, m, 1, 6, 4);
    emit(p, m, ND_OP_ADD, 8, 0, 5, 0);              /* A + 7.5 */
    emit(p, m, ND_OP_CALLB, 9, 8, ND_BI_SUM, 1);
    print_regs(p, m, 1, 9, 1);
    at(4, 11);
    emit(p, m, ND_OP_LOADNIL, 11, 0, 0, 0);
    emit(p, m, ND_OP_EQ, 1, 0, 11, 0);              /* A == nil */
    finish(p, m);
    expect_error(p, 4, 11, "cannot apply == to matrix and nil", "<main>");
    ck_assert_str_eq(out_buf, "7.5 <matrix 3x2> <matrix 2x1> [[0.0], [7.5]]\n52.5\n");
    nd_program_free(p);

    /* Out-of-range element and a one-subscript read of a 2x3 matrix. */
    p = prog_new();
    m = main_fn(p, 6);
    emit_sbx(p, m, ND_OP_LOADI, 1, 2);
    emit_sbx(p, m, ND_OP_LOADI, 2, 3);
    emit(p, m, ND_OP_CALLB, 0, 1, ND_BI_ONES, 2);
    at(3, 2);
    emit(p, m, ND_OP_GETINDEX2, 3, 0, 1, 0);        /* A[2, 3] */
    finish(p, m);
    expect_error(p, 3, 2, "index (2, 3) out of range for a 2x3 matrix", "<main>");
    nd_program_free(p);
}
END_TEST

/* The n-d array builtins: a shape list, shape/ndim/size/len, printing, the elementwise
 * functions on numbers, array(nested lists) with reshape(-1) and tolist, and the errors
 * of rows on a 3-d array and of ragged lists (values: tests/programs/arr_builtins_vm). */
START_TEST(test_array_builtins)
{
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 16);
    emit_sbx(p, m, ND_OP_LOADI, 1, 2);
    emit_sbx(p, m, ND_OP_LOADI, 2, 3);
    emit_sbx(p, m, ND_OP_LOADI, 3, 4);
    emit(p, m, ND_OP_NEWLIST, 4, 1, 3, 0);          /* [2, 3, 4] */
    emit(p, m, ND_OP_CALLB, 5, 4, ND_BI_ZEROS, 1);  /* T = zeros([2, 3, 4]) */
    emit(p, m, ND_OP_CALLB, 6, 5, ND_BI_SHAPE, 1);
    emit(p, m, ND_OP_CALLB, 7, 5, ND_BI_NDIM, 1);
    emit(p, m, ND_OP_CALLB, 8, 5, ND_BI_SIZE, 1);
    emit(p, m, ND_OP_CALLB, 9, 5, ND_BI_LEN, 1);
    print_regs(p, m, 0, 5, 5);
    emit_sbx(p, m, ND_OP_LOADI, 10, 2);
    emit_sbx(p, m, ND_OP_LOADI, 11, 3);
    emit(p, m, ND_OP_CALLB, 12, 10, ND_BI_MAXIMUM, 2); /* maximum(2, 3): a float */
    emit_sbx(p, m, ND_OP_LOADI, 13, 0);
    emit_sbx(p, m, ND_OP_LOADI, 14, 1);
    emit_bx(p, m, ND_OP_LOADK, 15, kflt(p, 2.5));
    emit(p, m, ND_OP_CALLB, 10, 13, ND_BI_WHERE, 3);  /* where(0, 1, 2.5) */
    emit(p, m, ND_OP_CALLB, 11, 15, ND_BI_FLOOR, 1);  /* floor(2.5): an int */
    print_regs(p, m, 0, 10, 3);
    at(5, 3);
    emit(p, m, ND_OP_CALLB, 0, 5, ND_BI_ROWS, 1);
    finish(p, m);
    expect_error(p, 5, 3, "rows: a 3-d array; use shape", "<main>");
    ck_assert_str_eq(out_buf, "<array 2x3x4> [2, 3, 4] 3 24 2\n2.5 2 3.0\n");
    nd_program_free(p);

    p = prog_new();
    m = main_fn(p, 24);
    emit_sbx(p, m, ND_OP_LOADI, 1, 1);
    emit_sbx(p, m, ND_OP_LOADI, 2, 2);
    emit(p, m, ND_OP_NEWLIST, 3, 1, 2, 0);          /* [1, 2] */
    emit_sbx(p, m, ND_OP_LOADI, 9, 3);
    emit_sbx(p, m, ND_OP_LOADI, 10, 4);
    emit(p, m, ND_OP_NEWLIST, 11, 9, 2, 0);         /* [3, 4] */
    emit(p, m, ND_OP_MOVE, 12, 3, 0, 0);
    emit(p, m, ND_OP_MOVE, 13, 11, 0, 0);
    emit(p, m, ND_OP_NEWLIST, 14, 12, 2, 0);        /* [[1, 2], [3, 4]] */
    emit(p, m, ND_OP_CALLB, 15, 14, ND_BI_ARRAY, 1);
    emit_sbx(p, m, ND_OP_LOADI, 16, -1);
    emit(p, m, ND_OP_NEWLIST, 17, 16, 1, 0);        /* [-1] */
    emit(p, m, ND_OP_MOVE, 18, 15, 0, 0);
    emit(p, m, ND_OP_MOVE, 19, 17, 0, 0);
    emit(p, m, ND_OP_CALLB, 20, 18, ND_BI_RESHAPE, 2);
    emit(p, m, ND_OP_CALLB, 21, 20, ND_BI_TOLIST, 1);
    print_regs(p, m, 22, 20, 2);
    emit(p, m, ND_OP_NEWLIST, 5, 9, 1, 0);          /* [3] */
    emit(p, m, ND_OP_MOVE, 6, 3, 0, 0);
    emit(p, m, ND_OP_MOVE, 7, 5, 0, 0);
    emit(p, m, ND_OP_NEWLIST, 8, 6, 2, 0);          /* [[1, 2], [3]] */
    at(2, 9);
    emit(p, m, ND_OP_CALLB, 0, 8, ND_BI_ARRAY, 1);
    finish(p, m);
    expect_error(p, 2, 9, "array: ragged lists: the list at [1] has 1 element, expected 2",
                 "<main>");
    ck_assert_str_eq(out_buf, "<array 4> [1.0, 2.0, 3.0, 4.0]\n");
    nd_program_free(p);
}
END_TEST

/* ---- refcounts and the cycle collector ---- */

/* Builds n self-referencing lists and maps in a loop: L = [ ]; append(L, L);
 * M = {"self": nil}; M["self"] = M.  Only the collector can free them. */
static nd_program *cycle_program(int n)
{
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 10);
    emit_sbx(p, m, ND_OP_LOADI, 0, 0);
    emit_sbx(p, m, ND_OP_LOADI, 1, n);
    uint32_t prep = emit_sbx(p, m, ND_OP_FORPREP, 0, 0);
    uint32_t body = emit(p, m, ND_OP_NEWLIST, 3, 0, 0, 0); /* L = [] */
    emit(p, m, ND_OP_MOVE, 4, 3, 0, 0);
    emit(p, m, ND_OP_MOVE, 5, 3, 0, 0);
    emit(p, m, ND_OP_CALLB, 6, 4, ND_BI_APPEND, 2);      /* append(L, L) */
    emit_bx(p, m, ND_OP_LOADK, 4, kstr(p, "self"));
    emit(p, m, ND_OP_LOADNIL, 5, 0, 0, 0);
    emit(p, m, ND_OP_NEWMAP, 7, 4, 1, 0);                 /* M = {"self": nil} */
    emit(p, m, ND_OP_SETINDEX, 7, 4, 7, 0);               /* M["self"] = M */
    emit(p, m, ND_OP_LOADNIL, 3, 0, 0, 0);
    emit(p, m, ND_OP_LOADNIL, 7, 0, 0, 0);
    uint32_t loop = emit_sbx(p, m, ND_OP_FORLOOP, 0, 0);
    patch(p, m, prep, loop + 1);
    patch(p, m, loop, body);
    finish(p, m);
    return p;
}

START_TEST(test_cycles_collected)
{
    size_t live0 = nd_alloc_live();
    size_t runs0 = nd_gc_runs();
    nd_gc_set_every(50);
    nd_program *p = cycle_program(1000);
    nd_vm *vm = NULL;
    FILE *devnull = tmpfile();
    nd_vm_opts opts = {.out = devnull, .err = devnull};
    ck_assert_int_eq(nd_vm_new(p, &opts, &vm), ND_OK);
    ck_assert_int_eq(nd_vm_run(vm), ND_OK);
    /* 2000 containers were made, 50 per collection: the heap stays small. */
    ck_assert_uint_lt(nd_gc_live(), 200);
    ck_assert_uint_ge(nd_gc_runs() - runs0, 30);
    nd_vm_free(vm);
    fclose(devnull);
    nd_program_free(p);
    ck_assert_uint_eq(nd_gc_live(), 0);
    ck_assert_uint_eq(nd_alloc_live(), live0);
    nd_gc_set_every(0);
}
END_TEST

/* The trigger is a count of container allocations: the same program collects the same
 * number of times, whatever the sizes of the containers. */
START_TEST(test_gc_trigger_is_count)
{
    nd_gc_set_every(7);
    size_t r0 = nd_gc_runs();
    nd_program *p = cycle_program(35); /* 70 containers */
    ck_assert_int_eq(run(p), ND_OK);
    size_t r1 = nd_gc_runs();
    ck_assert_int_eq(run(p), ND_OK);
    size_t r2 = nd_gc_runs();
    /* 10 triggered collections plus one at VM exit, each time. */
    ck_assert_uint_eq(r1 - r0, 11);
    ck_assert_uint_eq(r2 - r1, 11);
    nd_program_free(p);
    nd_gc_set_every(0);
}
END_TEST

/* No leaks on success or on error: after the VM and program are freed, live bytes are
 * back where they started (strings, lists, maps, matrices, frames, registers). */
START_TEST(test_refcounts_balance)
{
    size_t live0 = nd_alloc_live();
    nd_program *p = fib_program(15);
    ck_assert_int_eq(run(p), ND_OK);
    nd_program_free(p);
    ck_assert_uint_eq(nd_alloc_live(), live0);

    /* An error in the middle of building values. */
    p = prog_new();
    uint32_t m = main_fn(p, 6);
    emit_bx(p, m, ND_OP_LOADK, 1, kstr(p, "abc"));
    emit(p, m, ND_OP_ADD, 2, 1, 1, 0);
    emit(p, m, ND_OP_NEWLIST, 3, 1, 2, 0);
    emit_sbx(p, m, ND_OP_LOADI, 4, 2);
    emit_sbx(p, m, ND_OP_LOADI, 5, 2);
    emit(p, m, ND_OP_CALLB, 0, 4, ND_BI_EYE, 1);
    emit(p, m, ND_OP_ADD, 0, 3, 4, 0);
    finish(p, m);
    ck_assert_int_eq(run(p), ND_EPROG);
    nd_program_free(p);
    ck_assert_uint_eq(nd_alloc_live(), live0);
    ck_assert_uint_eq(nd_gc_live(), 0);
}
END_TEST

/* ---- hooks ---- */

static nd_status param_hook(void *ctx, nd_vm *vm, const char *name, nd_value dflt,
                            nd_value *out)
{
    ND_UNUSED(vm);
    ND_UNUSED(dflt);
    (*(int *)ctx)++;
    if (strcmp(name, "n") == 0) {
        *out = ND_INT(99);
        return ND_OK;
    }
    *out = dflt; /* the default itself, borrowed (vm.h) */
    return ND_OK;
}

static nd_status safepoint_hook(void *ctx, nd_vm *vm, uint64_t *period)
{
    ND_UNUSED(vm);
    ND_UNUSED(period); /* left as it is: every 3 events again */
    (*(int *)ctx) += 1000;
    return ND_OK;
}

START_TEST(test_hooks)
{
    size_t live0 = nd_alloc_live();
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 8);
    emit_bx(p, m, ND_OP_LOADK, 1, kstr(p, "n"));
    emit_sbx(p, m, ND_OP_LOADI, 2, 5);
    emit(p, m, ND_OP_CALLB, 3, 1, ND_BI_PARAM, 2);
    emit_bx(p, m, ND_OP_LOADK, 1, kstr(p, "other"));
    emit_bx(p, m, ND_OP_LOADK, 2, kstr(p, "dflt"));
    emit(p, m, ND_OP_CALLB, 4, 1, ND_BI_PARAM, 2);
    print_regs(p, m, 0, 3, 2);
    emit_sbx(p, m, ND_OP_LOADI, 5, 0);
    emit_sbx(p, m, ND_OP_LOADI, 6, 10);
    uint32_t prep = emit_sbx(p, m, ND_OP_FORPREP, 5, 0);
    uint32_t loop = emit_sbx(p, m, ND_OP_FORLOOP, 5, 0);
    patch(p, m, prep, loop + 1);
    patch(p, m, loop, loop);
    finish(p, m);
    /* Without hooks: param gives the default. */
    ck_assert_int_eq(run(p), ND_OK);
    ck_assert_str_eq(out_buf, "5 dflt\n");
    int calls = 0;
    nd_vm_hooks h = {.ctx = &calls, .param = param_hook, .safepoint = safepoint_hook,
                     .safepoint_every = 3};
    ck_assert_int_eq(run_opts(p, 0, &h), ND_OK);
    ck_assert_str_eq(out_buf, "99 dflt\n");
    /* 2 param calls; 9 back-edges, every 3rd one a safe point. */
    ck_assert_int_eq(calls, 3002);
    nd_program_free(p);
    ck_assert_uint_eq(nd_alloc_live(), live0);
}
END_TEST

/* ---- value accessors for hooks ---- */

START_TEST(test_value_accessors)
{
    size_t live0 = nd_alloc_live();
    nd_value list, map, str, item, A;
    ck_assert_int_eq(nd_vm_new_list(NULL, &list), ND_OK);
    ck_assert_int_eq(nd_vm_new_map(NULL, &map), ND_OK);
    ck_assert_int_eq(nd_vm_new_string(NULL, "a\0b", 3, &str), ND_OK);
    ck_assert_int_eq(nd_vm_list_push(NULL, list, ND_INT(7)), ND_OK);
    ck_assert_int_eq(nd_vm_list_push(NULL, list, str), ND_OK);
    ck_assert_int_eq(nd_vm_map_set(NULL, map, "z", ND_FLOAT(0.5)), ND_OK);
    ck_assert_int_eq(nd_vm_map_set(NULL, map, "a", list), ND_OK);
    ck_assert_int_eq(nd_vm_map_set(NULL, map, "m", ND_BOOL(true)), ND_OK);
    ck_assert_int_eq(nd_vm_kind(list), ND_T_LIST);
    ck_assert_uint_eq(nd_vm_list_len(list), 2);
    ck_assert_int_eq(nd_vm_int(nd_vm_list_at(list, 0)), 7);
    item = nd_vm_list_at(list, 1);
    size_t len;
    const char *s = nd_vm_str(item, &len);
    ck_assert_uint_eq(len, 3);
    ck_assert(memcmp(s, "a\0b", 4) == 0);
    ck_assert_uint_eq(nd_vm_map_len(map), 3);
    const char *want[] = {"z", "a", "m"}; /* insertion order */
    for (size_t k = 0; k < 3; k++) {
        ck_assert_str_eq(nd_vm_map_key(map, k, &len), want[k]);
        ck_assert_uint_eq(len, 1);
    }
    ck_assert(nd_vm_float(nd_vm_map_value(map, 0)) == 0.5);
    ck_assert_ptr_eq(nd_vm_map_value(map, 1).as.o, list.as.o);
    ck_assert(nd_vm_bool(nd_vm_map_value(map, 2)));
    ck_assert_str_eq(nd_val_typename(map), "map");
    nd_dm *D;
    ck_assert_int_eq(nd_dm_zeros(2, 3, &D), ND_OK);
    ck_assert_int_eq(nd_vm_new_matrix(NULL, D, &A), ND_OK);
    ck_assert_int_eq(nd_vm_kind(A), ND_T_MATRIX);
    ck_assert_ptr_eq(nd_vm_matrix(A), D);
    nd_vm_release(A);
    nd_vm_release(str);
    nd_vm_release(list);
    nd_vm_release(map);
    ck_assert_uint_eq(nd_alloc_live(), live0);
}
END_TEST

/* ---- saving and restoring the state (save.c) ---- */

typedef struct saved {
    nd_strbuf blob;
    int writes;
    nd_dm *mats[4];      /* copies, by ref - 10 */
    int nmats;
    char names[64];
} saved;

static nd_status sink_write(void *ctx, const void *bytes, size_t len)
{
    saved *s = ctx;
    s->writes++;
    return nd_sb_append(&s->blob, bytes, len);
}

/* Refs start at 10: the blob stores whatever number the sink gives out. */
static nd_status sink_matrix(void *ctx, nd_dm *A, const char *names, uint64_t *ref)
{
    saved *s = ctx;
    ck_assert_int_lt(s->nmats, 4);
    ck_assert_int_eq(nd_dm_copy(A, &s->mats[s->nmats]), ND_OK);
    snprintf(s->names, sizeof s->names, "%s", names);
    *ref = 10 + (uint64_t)s->nmats++;
    return ND_OK;
}

static nd_status source_matrix(void *ctx, uint64_t ref, nd_dm **A)
{
    saved *s = ctx;
    if (ref < 10 || ref - 10 >= (uint64_t)s->nmats || !s->mats[ref - 10])
        return nd_err_set(ND_EINVALID, "bad matrix reference %llu", (unsigned long long)ref);
    *A = s->mats[ref - 10];
    s->mats[ref - 10] = NULL;
    return ND_OK;
}

static nd_status save_hook(void *ctx, nd_vm *vm)
{
    nd_vm_sink sink = {.ctx = ctx, .write = sink_write, .matrix = sink_matrix};
    return nd_vm_save(vm, &sink);
}

static nd_status run_restored(nd_program *p, saved *s)
{
    FILE *out = tmpfile(), *err = tmpfile();
    nd_vm_opts opts = {.out = out, .err = err};
    nd_vm *vm = NULL;
    ck_assert_int_eq(nd_vm_new(p, &opts, &vm), ND_OK);
    nd_vm_source src = {.ctx = s, .matrix = source_matrix};
    nd_status st = nd_vm_restore(vm, s->blob.data, s->blob.len, &src);
    if (st == ND_OK) st = nd_vm_run(vm);
    nd_vm_free(vm);
    slurp(out, out_buf, sizeof out_buf);
    slurp(err, err_buf, sizeof err_buf);
    return st;
}

START_TEST(test_save_restore)
{
    size_t live0 = nd_alloc_live();
    nd_program *p = prog_new();
    uint32_t m = main_fn(p, 8);
    uint32_t gm = add_global(p, "M"), gn = add_global(p, "N"), gs = add_global(p, "S");
    emit_sbx(p, m, ND_OP_LOADI, 1, 2);
    emit_sbx(p, m, ND_OP_LOADI, 2, 3);
    emit(p, m, ND_OP_CALLB, 0, 1, ND_BI_ZEROS, 2); /* M = N = zeros(2, 3) */
    emit_bx(p, m, ND_OP_SETG, 0, gm);
    emit_bx(p, m, ND_OP_SETG, 0, gn);
    emit_bx(p, m, ND_OP_LOADK, 3, kstr(p, "hi"));  /* S = "hi" */
    emit_bx(p, m, ND_OP_SETG, 3, gs);
    emit(p, m, ND_OP_CALLB, 4, 5, ND_BI_CHECKPOINT, 0);
    emit_bx(p, m, ND_OP_GETG, 5, gm);
    emit(p, m, ND_OP_CALLB, 6, 5, ND_BI_ROWS, 1);
    emit_bx(p, m, ND_OP_GETG, 7, gs);
    print_regs(p, m, 4, 6, 2);                     /* print(rows(M), S) */
    finish(p, m);
    saved s = {.nmats = 0};
    nd_sb_init(&s.blob);
    nd_vm_hooks h = {.ctx = &s, .checkpoint = save_hook};
    ck_assert_int_eq(run_opts(p, 0, &h), ND_OK);
    ck_assert_str_eq(out_buf, "2 hi\n");
    ck_assert_int_ge(s.writes, 1);
    ck_assert_int_eq(s.nmats, 1);
    ck_assert_str_eq(s.names, "M, N");
    size_t nm;
    ck_assert_int_eq(nd_vm_state_nmats(s.blob.data, s.blob.len, &nm), ND_OK);
    ck_assert_uint_eq(nm, 1);
    /* A fresh VM resumes after the checkpoint() call. */
    ck_assert_int_eq(run_restored(p, &s), ND_OK);
    ck_assert_str_eq(out_buf, "2 hi\n");
    /* The matrix was taken: the source refuses it a second time. */
    ck_assert_int_eq(run_restored(p, &s), ND_EINVALID);
    ck_assert(strstr(nd_err_msg(), "bad matrix reference 10") != NULL);
    nd_sb_free(&s.blob);
    nd_program_free(p);
    ck_assert_uint_eq(nd_alloc_live(), live0);
}
END_TEST

static Suite *vm_suite(void)
{
    Suite *s = suite_create("vm");
    const TTest *tc_tests[] = {
        test_int_arith, test_float_arith, test_mixed_arith, test_error_overflow,
        test_error_types, test_error_condition, test_compare_branch,
        test_error_missing_key_and_globals, test_error_builtins, test_recursion,
        test_stack_overflow, test_call_errors, test_error_trace, test_loops,
        test_containers_print, test_equality, test_matrix_basics, test_array_builtins,
        test_cycles_collected,
        test_gc_trigger_is_count, test_refcounts_balance, test_hooks, test_save_restore,
        test_value_accessors, NULL};
    nd_check_tcase(s, "core", 60, tc_tests);
    return s;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    if (nd_spmd_init(&argc, &argv) != ND_OK) return 1;
    int failed = nd_check_run(vm_suite(), ND_CHECK_NOFORK);
    nd_spmd_finalize(0);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
