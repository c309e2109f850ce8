/* check_compiler.c: unit tests of src/compiler (docs/language.md): the lexer, the parser
 * (precedence, newline rules, recovery), every class of compile error with its exact
 * line:col, the optimizer passes (each changes the bytecode of some program and never the
 * result, checked with a small evaluator of the numeric subset of the bytecode), round
 * trips through src/nbc, and the golden disassembly files in tests/golden. */
#include "nd_check.h"
#include "common/alloc.h"
#include "common/hash.h"
#include "common/strbuf.h"
#include "compiler/ast.h"
#include "compiler/compiler.h"
#include "compiler/lex.h"
#include "compiler/parse.h"
#include "nbc/builtin_ids.h"
#include "nbc/nbc.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------------ */

/* Compiles src at opt level opt; the diagnostics go to *diag (caller frees with free()). */
static nd_status compile_diag(const char *src, int opt, nd_program **p, char **diag)
{
    size_t dlen = 0;
    char *dbuf = NULL;
    FILE *df = open_memstream(&dbuf, &dlen);
    ck_assert_ptr_nonnull(df);
    nd_compile_opts o = {.opt_level = opt, .diag = df};
    nd_status st = nd_compile("t.noodle", src, strlen(src), &o, p);
    fclose(df);
    if (diag) *diag = dbuf;
    else free(dbuf);
    return st;
}

static nd_program *compile_ok(const char *src, int opt)
{
    nd_program *p = NULL;
    char *diag = NULL;
    nd_status st = compile_diag(src, opt, &p, &diag);
    ck_assert_msg(st == ND_OK, "compile failed: %s\n%s", src, diag);
    free(diag);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(nd_nbc_verify(p), ND_OK);
    return p;
}

/* Asserts that src fails to compile and that the diagnostics contain `want`. */
static void expect_error(const char *src, const char *want)
{
    nd_program *p = NULL;
    char *diag = NULL;
    nd_status st = compile_diag(src, 1, &p, &diag);
    ck_assert_int_eq(st, ND_EPROG);
    ck_assert_ptr_null(p);
    ck_assert_msg(strstr(diag, want) != NULL, "wanted '%s' in:\n%s", want, diag);
    free(diag);
}

static int count_errors(const char *diag)
{
    int n = 0;
    for (const char *s = diag; (s = strstr(s, ": error: ")); s++) n++;
    return n;
}

static uint32_t total_code(const nd_program *p)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < p->nfuncs; i++) n += p->funcs[i].ncode;
    return n;
}

static int count_op(const nd_program *p, int op)
{
    int n = 0;
    for (uint32_t i = 0; i < p->nfuncs; i++)
        for (uint32_t k = 0; k < p->funcs[i].ncode; k++) n += p->funcs[i].code[k].op == op;
    return n;
}

static char *disasm_str(const nd_program *p)
{
    size_t len = 0;
    char *buf = NULL;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(nd_nbc_disasm(p, f), ND_OK);
    fclose(f);
    return buf;
}

/* ---- a small evaluator of the numeric subset (nil, bool, int, float; globals) -------- */

typedef struct tv {
    int k; /* 0 nil, 1 bool, 2 int, 3 float */
    int64_t i;
    double f;
} tv;

static bool tv_truthy(tv v) { return !(v.k == 0 || (v.k == 1 && !v.i)); }
static double tv_num(tv v) { return v.k == 2 ? (double)v.i : v.f; }

/* Runs funcs[0]; the globals end in g (size nglobals).  Returns false on anything outside
 * the subset or on a run-time error (overflow, % 0, bad condition). */
static bool eval(const nd_program *p, tv *g)
{
    const nd_func *f = &p->funcs[0];
    static tv R[65536]; /* any 16-bit field indexes it safely */
    memset(R, 0, sizeof R);
    uint32_t pc = 0;
    for (long steps = 0; steps < 1000000; steps++) {
        nd_instr in = f->code[pc++];
        int32_t sbx = ND_SBX(in);
        tv *A = &R[in.a], B = R[in.b], C = R[in.c];
        int cjump = -1; /* a compare-and-branch: its offset; it compares into R[65535] */
        if (in.op >= ND_OP_JLT && in.op <= ND_OP_JGEK) {
            static const uint8_t plain[] = {ND_OP_LT,  ND_OP_LE,  ND_OP_GT,  ND_OP_GE,
                                            ND_OP_EQ,  ND_OP_NE,  ND_OP_LTK, ND_OP_LEK,
                                            ND_OP_GTK, ND_OP_GEK};
            cjump = in.c;
            in = (nd_instr){.op = plain[in.op - ND_OP_JLT], .a = 65535, .b = in.a, .c = in.b};
            A = &R[in.a];
            B = R[in.b];
            C = R[in.c];
        }
        if (in.op >= ND_OP_ADDK && in.op <= ND_OP_GEK) { /* a constant right operand */
            static const uint8_t base_op[] = {ND_OP_ADD, ND_OP_SUB, ND_OP_MUL, ND_OP_LT,
                                              ND_OP_LE, ND_OP_GT, ND_OP_GE};
            const nd_const *k = &p->consts[in.c];
            if (k->kind == ND_K_STR) return false;
            C = k->kind == ND_K_INT ? (tv){2, k->i, 0} : (tv){3, 0, k->f};
            in.op = base_op[in.op - ND_OP_ADDK];
        }
        switch (in.op) {
        case ND_OP_MOVE: *A = B; break;
        case ND_OP_LOADI: *A = (tv){2, sbx, 0}; break;
        case ND_OP_LOADK: {
            const nd_const *k = &p->consts[ND_BX(in)];
            if (k->kind == ND_K_STR) return false;
            *A = k->kind == ND_K_INT ? (tv){2, k->i, 0} : (tv){3, 0, k->f};
            break;
        }
        case ND_OP_LOADNIL: *A = (tv){0, 0, 0}; break;
        case ND_OP_LOADBOOL: *A = (tv){1, in.b != 0, 0}; break;
        case ND_OP_GETG: *A = g[ND_BX(in)]; break;
        case ND_OP_SETG: g[ND_BX(in)] = *A; break;
        case ND_OP_ADD: case ND_OP_SUB: case ND_OP_MUL: case ND_OP_DIV: case ND_OP_MOD:
        case ND_OP_POW: case ND_OP_IDIV: {
            if (B.k < 2 || C.k < 2) return false;
            if (B.k == 2 && C.k == 2 && in.op != ND_OP_DIV) {
                int64_t r = 0;
                bool ovf = false;
                switch (in.op) {
                case ND_OP_ADD: ovf = __builtin_add_overflow(B.i, C.i, &r); break;
                case ND_OP_SUB: ovf = __builtin_sub_overflow(B.i, C.i, &r); break;
                case ND_OP_MUL: ovf = __builtin_mul_overflow(B.i, C.i, &r); break;
                case ND_OP_MOD:
                    if (C.i == 0) return false;
                    r = C.i == -1 ? 0 : B.i % C.i;
                    if (r != 0 && (r ^ C.i) < 0) r += C.i;
                    break;
                case ND_OP_IDIV:
                    if (C.i == 0 || (C.i == -1 && B.i == INT64_MIN)) return false;
                    r = B.i / C.i - (B.i % C.i != 0 && (B.i < 0) != (C.i < 0));
                    break;
                default:
                    if (C.i < 0) {
                        *A = (tv){3, 0, pow((double)B.i, (double)C.i)};
                        continue;
                    }
                    r = 1;
                    for (int64_t e = 0; e < C.i && !ovf; e++) ovf = __builtin_mul_overflow(r, B.i, &r);
                }
                if (ovf) return false;
                *A = (tv){2, r, 0};
                break;
            }
            double x = tv_num(B), y = tv_num(C), r;
            switch (in.op) {
            case ND_OP_ADD: r = x + y; break;
            case ND_OP_SUB: r = x - y; break;
            case ND_OP_MUL: r = x * y; break;
            case ND_OP_DIV: r = x / y; break;
            case ND_OP_IDIV: r = floor(x / y); break;
            case ND_OP_MOD:
                if (y == 0) return false;
                r = fmod(x, y);
                if ((r > 0) ? y < 0 : (r < 0 && y != r)) r += y;
                break;
            default: r = pow(x, y);
            }
            *A = (tv){3, 0, r};
            break;
        }
        case ND_OP_NEG:
            if (B.k == 2) {
                if (B.i == INT64_MIN) return false;
                *A = (tv){2, -B.i, 0};
            } else if (B.k == 3) {
                *A = (tv){3, 0, -B.f};
            } else {
                return false;
            }
            break;
        case ND_OP_NOT: *A = (tv){1, !tv_truthy(B), 0}; break;
        case ND_OP_EQ: case ND_OP_NE: case ND_OP_LT: case ND_OP_LE: case ND_OP_GT: case ND_OP_GE: {
            bool r;
            if (B.k >= 2 && C.k >= 2) {
                double x = tv_num(B), y = tv_num(C);
                if (B.k == 2 && C.k == 2) x = (double)(B.i > C.i) - (double)(B.i < C.i), y = 0;
                r = in.op == ND_OP_EQ ? x == y : in.op == ND_OP_NE ? x != y : in.op == ND_OP_LT ? x < y
                  : in.op == ND_OP_LE ? x <= y : in.op == ND_OP_GT ? x > y : x >= y;
            } else if (in.op == ND_OP_EQ || in.op == ND_OP_NE) {
                r = B.k == C.k && B.i == C.i;
                if (in.op == ND_OP_NE) r = !r;
            } else {
                return false;
            }
            *A = (tv){1, r, 0};
            break;
        }
        case ND_OP_JMP: pc += (uint32_t)sbx; break;
        case ND_OP_TEST:
            if (A->k > 1) return false;
            if (!tv_truthy(*A)) pc += (uint32_t)sbx;
            break;
        case ND_OP_JMPFALSY: if (!tv_truthy(*A)) pc += (uint32_t)sbx; break;
        case ND_OP_JMPTRUTHY: if (tv_truthy(*A)) pc += (uint32_t)sbx; break;
        case ND_OP_FORPREP:
            if (A[0].k != 2 || A[1].k != 2) return false;
            if (A[0].i >= A[1].i) pc += (uint32_t)sbx;
            else A[2] = A[0];
            break;
        case ND_OP_FORLOOP:
            A[0].i++;
            if (A[0].i < A[1].i) {
                A[2] = A[0];
                pc += (uint32_t)sbx;
            }
            break;
        case ND_OP_NOP: case ND_OP_NOARRAY: break;
        case ND_OP_RET: return true;
        default: return false;
        }
        if (cjump >= 0 && !tv_truthy(*A)) pc += (uint32_t)cjump;
        if (pc >= f->ncode) return false;
    }
    return false;
}

/* Compiles src at -O0 and -O1, runs both, and checks that every global agrees; returns
 * the -O0 and -O1 instruction counts. */
static void same_result(const char *src, uint32_t *n0, uint32_t *n1)
{
    nd_program *p0 = compile_ok(src, 0), *p1 = compile_ok(src, 1);
    ck_assert_int_eq(p0->nglobals, p1->nglobals);
    tv g0[64] = {0}, g1[64] = {0};
    ck_assert(p0->nglobals <= 64);
    ck_assert_msg(eval(p0, g0), "-O0 did not run: %s", src);
    ck_assert_msg(eval(p1, g1), "-O1 did not run: %s", src);
    for (uint32_t i = 0; i < p0->nglobals; i++) {
        ck_assert_msg(g0[i].k == g1[i].k, "global %s: kind %d vs %d", p0->globals[i], g0[i].k, g1[i].k);
        if (g0[i].k == 3)
            ck_assert_msg(memcmp(&g0[i].f, &g1[i].f, sizeof(double)) == 0 ||
                              (isnan(g0[i].f) && isnan(g1[i].f)),
                          "global %s: %g vs %g", p0->globals[i], g0[i].f, g1[i].f);
        else
            ck_assert_msg(g0[i].i == g1[i].i, "global %s differs", p0->globals[i]);
    }
    if (n0) *n0 = total_code(p0);
    if (n1) *n1 = total_code(p1);
    nd_program_free(p0);
    nd_program_free(p1);
}

/* The constant that `let v = EXPR` stores at -O1 (asserts it was folded). */
static nd_const folded(const char *expr)
{
    char src[512];
    snprintf(src, sizeof src, "let v = %s\n", expr);
    nd_program *p = compile_ok(src, 1);
    const nd_func *f = &p->funcs[0];
    ck_assert_msg(f->ncode == 3, "'%s' was not folded (%u instructions)", expr, f->ncode);
    nd_instr in = f->code[0];
    nd_const k = {0};
    if (in.op == ND_OP_LOADI) {
        k.kind = ND_K_INT;
        k.i = ND_SBX(in);
    } else if (in.op == ND_OP_LOADK) {
        k = p->consts[ND_BX(in)];
        if (k.kind == ND_K_STR) k.s = strdup(k.s);
    } else if (in.op == ND_OP_LOADBOOL) {
        k.kind = 100 + (in.b != 0); /* bool marker for the tests */
    } else {
        ck_abort_msg("'%s': unexpected opcode %d", expr, in.op);
    }
    nd_program_free(p);
    return k;
}

static bool is_folded(const char *expr)
{
    char src[512];
    snprintf(src, sizeof src, "let v = %s\n", expr);
    nd_program *p = compile_ok(src, 1);
    int op = p->funcs[0].code[0].op;
    bool r = p->funcs[0].ncode == 3 && (op == ND_OP_LOADI || op == ND_OP_LOADK ||
                                        op == ND_OP_LOADBOOL || op == ND_OP_LOADNIL);
    nd_program_free(p);
    return r;
}

/* ---- lexer -------------------------------------------------------------------------- */

static nd_tokens lex(const char *src, nd_cctx *cx, FILE *diag)
{
    memset(cx, 0, sizeof *cx);
    cx->path = "t.noodle";
    cx->src = src;
    cx->len = strlen(src);
    cx->diag = diag;
    cx->max_errors = 20;
    nd_tokens t;
    ck_assert_int_eq(nd_lex_all(cx, &t), ND_OK);
    return t;
}

START_TEST(test_lex_tokens)
{
    nd_cctx cx;
    nd_tokens t = lex("let x = 0..5 # c\n3.5 1e-6 2.5e3 1.T a.b != <= >=;", &cx, stderr);
    int want[] = {TK_LET, TK_IDENT, TK_ASSIGN, TK_INT, TK_DOTDOT, TK_INT, TK_NEWLINE,
                  TK_FLOAT, TK_FLOAT, TK_FLOAT, TK_INT, TK_DOT, TK_IDENT, TK_IDENT, TK_DOT,
                  TK_IDENT, TK_NE, TK_LE, TK_GE, TK_SEMI, TK_EOF};
    ck_assert_uint_eq(t.n, ND_ARRAY_LEN(want));
    for (size_t i = 0; i < t.n; i++) ck_assert_int_eq(t.v[i].kind, want[i]);
    ck_assert_int_eq(t.v[3].ival, 0);
    ck_assert_int_eq(t.v[5].ival, 5);
    ck_assert_double_eq(t.v[7].fval, 3.5);
    ck_assert_double_eq(t.v[8].fval, 1e-6);
    ck_assert_double_eq(t.v[9].fval, 2500.0);
    ck_assert_int_eq(t.v[7].line, 2);
    ck_assert_int_eq(t.v[7].col, 1);
    ck_assert_int_eq(t.v[8].col, 5);
    ck_assert_int_eq(cx.nerrors, 0);
    nd_lex_free(&t);
    nd_arena_free(&cx.arena);
}
END_TEST

START_TEST(test_lex_strings)
{
    nd_cctx cx;
    nd_tokens t = lex("\"a\\tb\\n\\\"q\\\\\" \"\"", &cx, stderr);
    ck_assert_int_eq(t.v[0].kind, TK_STRING);
    ck_assert_uint_eq(t.v[0].slen, 7);
    ck_assert_mem_eq(t.v[0].sval, "a\tb\n\"q\\", 7);
    ck_assert_uint_eq(t.v[1].slen, 0);
    ck_assert_int_eq(cx.nerrors, 0);
    nd_lex_free(&t);
    nd_arena_free(&cx.arena);
}
END_TEST

START_TEST(test_lex_errors)
{
    expect_error("let s = \"a\\qb\"\n", "t.noodle:1:11: error: invalid escape '\\q'");
    expect_error("let s = \"abc\nlet t = 1\n", "t.noodle:1:9: error: unterminated string");
    expect_error("let n = 9223372036854775808\n", "t.noodle:1:9: error: integer literal");
    expect_error("let n = 3 $ 4\n", "t.noodle:1:11: error: unexpected character '$'");
    /* the largest int is fine, and so is the smallest through a subtraction */
    nd_program *p = compile_ok("let a = 9223372036854775807\nlet b = -9223372036854775807 - 1\n", 1);
    ck_assert_int_eq(p->consts[0].i, INT64_MAX);
    ck_assert_int_eq(p->consts[1].i, INT64_MIN);
    nd_program_free(p);
}
END_TEST

/* ---- parser ------------------------------------------------------------------------- */

static nd_expr *parse_expr(const char *src, nd_cctx *cx, nd_tokens *t, nd_ast *ast)
{
    *t = lex(src, cx, stderr);
    ck_assert_int_eq(nd_parse_program(cx, t, ast), ND_OK);
    ck_assert_int_eq(cx->nerrors, 0);
    ck_assert_int_eq(ast->main->n, 1);
    ck_assert_int_eq(ast->main->stmts[0]->kind, S_EXPR);
    return ast->main->stmts[0]->e;
}

START_TEST(test_parse_precedence)
{
    nd_cctx cx;
    nd_tokens t;
    nd_ast ast;
    /* -2 ^ 2 is -(2 ^ 2) */
    nd_expr *e = parse_expr("-2 ^ 2", &cx, &t, &ast);
    ck_assert_int_eq(e->kind, E_NEG);
    ck_assert_int_eq(e->lhs->kind, E_BINARY);
    ck_assert_int_eq(e->lhs->op, TK_CARET);
    nd_lex_free(&t);
    nd_arena_free(&cx.arena);
    /* 2 ^ -1 ^ 2 is 2 ^ (-(1 ^ 2)); 2 ^ 3 ^ 2 is right-associative */
    e = parse_expr("2 ^ 3 ^ 2", &cx, &t, &ast);
    ck_assert_int_eq(e->op, TK_CARET);
    ck_assert_int_eq(e->rhs->kind, E_BINARY);
    ck_assert_int_eq(e->rhs->op, TK_CARET);
    ck_assert_int_eq(e->line, 1);
    ck_assert_int_eq(e->col, 3);
    nd_lex_free(&t);
    nd_arena_free(&cx.arena);
    /* not 1 == 2 is not (1 == 2); a or b and c is a or (b and c) */
    e = parse_expr("not 1 == 2 or x and y", &cx, &t, &ast);
    ck_assert_int_eq(e->kind, E_OR);
    ck_assert_int_eq(e->lhs->kind, E_NOT);
    ck_assert_int_eq(e->lhs->lhs->op, TK_EQ);
    ck_assert_int_eq(e->rhs->kind, E_AND);
    nd_lex_free(&t);
    nd_arena_free(&cx.arena);
    /* 1 + 2 * 3 - 4: left-assoc, * tighter; postfix binds tightest */
    e = parse_expr("1 + 2 * A.T[0, 1:] - f(x)(y)", &cx, &t, &ast);
    ck_assert_int_eq(e->op, TK_MINUS);
    ck_assert_int_eq(e->lhs->op, TK_PLUS);
    ck_assert_int_eq(e->lhs->rhs->op, TK_STAR);
    nd_expr *ix = e->lhs->rhs->rhs;
    ck_assert_int_eq(ix->kind, E_INDEX);
    ck_assert_int_eq(ix->nsub, 2);
    ck_assert(!ix->sub[0].range && ix->sub[1].range && ix->sub[1].hi == NULL);
    ck_assert_int_eq(ix->lhs->kind, E_TRANSPOSE);
    ck_assert_int_eq(ix->col, 12);
    ck_assert_int_eq(e->rhs->kind, E_CALL);
    ck_assert_int_eq(e->rhs->lhs->kind, E_CALL);
    ck_assert_int_eq(e->rhs->col, 22);
    nd_lex_free(&t);
    nd_arena_free(&cx.arena);
}
END_TEST

START_TEST(test_parse_newlines)
{
    /* continuation after operators and commas, inside brackets and map literals; a
     * lambda's body inside parentheses has significant newlines again */
    nd_program *p = compile_ok(
        "let total = 1 +\n  2 *\n  3\nlet L = [1,\n 2]\nlet M = {\n \"a\": 1,\n \"b\": [2,\n 3]\n}\n"
        "fn ap(f, x) { return f(x) }\n"
        "let r = ap(fn(x) {\n  let y = x + 1\n  return y\n}, 5)\n"
        "let q = ap(fn(x) { return x + 1 }, 5); let s = (1\n + 2)\n",
        1);
    nd_program_free(p);
    /* a newline ends a statement: `f` and `(1)` are two statements */
    expect_error("let a = 1\nlet b = a\n(2)\nlet c = d\n", "t.noodle:4:9: error: unknown name 'd'");
    /* else must be on the line of the closing brace */
    expect_error("if true { print(1) }\nelse { print(2) }\n", "t.noodle:2:1: error: syntax error");
}
END_TEST

START_TEST(test_parse_errors)
{
    expect_error("let a = [4, 5 6]\n", "t.noodle:1:15: error: syntax error: expected ',' or ']', found '6'");
    expect_error("let a = 1 < 2 < 3\n", "t.noodle:1:15: error: syntax error");
    expect_error("let = 4\n", "t.noodle:1:5: error: syntax error: expected a name after 'let'");
    expect_error("print(1 +)\n", "t.noodle:1:10: error: syntax error: expected an expression");
    expect_error("let x = A.B\n", "t.noodle:1:11: error: syntax error: expected 'T' after '.'");
    expect_error("f(1) = 2\n", "t.noodle:1:1: error: cannot assign to this expression");
    expect_error("let A = zeros(2, 2)\nlet y = A[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]\n",
                 "t.noodle:2:75: error: syntax error: expected at most 32 subscripts");
    expect_error("let y = 1 /// 2\n", "t.noodle:1:13: error: syntax error");
    expect_error("while true {\n", "t.noodle:2:1: error: syntax error: expected '}', found end of file");
    /* recovery: one error per bad statement, several per run, at most 20 */
    nd_program *p = NULL;
    char *diag = NULL;
    ck_assert_int_eq(compile_diag("let a = (1\nlet b = 2 +* 3\nlet c = 3\nlet d = ]\n", 1, &p, &diag), ND_EPROG);
    ck_assert_int_eq(count_errors(diag), 3);
    ck_assert_ptr_nonnull(strstr(diag, "t.noodle:2:1: error:"));
    ck_assert_ptr_nonnull(strstr(diag, "t.noodle:2:12: error:"));
    ck_assert_ptr_nonnull(strstr(diag, "t.noodle:4:9: error:"));
    free(diag);
    nd_strbuf sb;
    nd_sb_init(&sb);
    for (int i = 0; i < 30; i++) nd_sb_puts(&sb, "let = 1\n");
    ck_assert_int_eq(compile_diag(sb.data, 1, &p, &diag), ND_EPROG);
    ck_assert_int_eq(count_errors(diag), 20);
    free(diag);
    nd_sb_free(&sb);
    /* deep nesting is an error, not a crash */
    char deep[2000];
    memset(deep, '(', 1000);
    strcpy(deep + 1000, "1");
    ck_assert_int_eq(compile_diag(deep, 1, &p, &diag), ND_EPROG);
    ck_assert_ptr_nonnull(strstr(diag, "nested too deeply"));
    free(diag);
}
END_TEST

/* A chain of `links` links of one kind (a left-deep tree, no parser recursion). */
static char *chain_src(int kind, int links)
{
    static const char *const head[] = {"let x = 1", "let x = true", "let x = f",
                                       "let x = eye(2)", "let x = 0\nif x == 0 { x = 1 }"};
    static const char *const link[] = {" + 1", " and true", "()", ".T",
                                       " else if x == 1 { x = 2 }"};
    nd_strbuf sb;
    nd_sb_init(&sb);
    if (kind == 2) nd_sb_puts(&sb, "fn f() { return f }\n");
    nd_sb_puts(&sb, head[kind]);
    for (int i = 0; i < links; i++) nd_sb_puts(&sb, link[kind]);
    nd_sb_puts(&sb, "\nprint(x)\nlet = 2\n");
    return sb.data;
}

/* Long flat chains (1 + 1 + ..., a and b and ..., f()()..., A.T.T..., else if ...) make
 * trees as deep as they are long, and sema and gen recurse through them: up to the
 * limit they compile (under ASan too), beyond it they are an error, not a stack
 * overflow, and the statements after it are still checked. */
START_TEST(test_long_chains)
{
    for (int kind = 0; kind < 5; kind++) {
        nd_program *p = NULL;
        char *diag = NULL;
        char *src = chain_src(kind, 9990);
        ck_assert_int_eq(compile_diag(src, 1, &p, &diag), ND_EPROG);
        ck_assert_msg(count_errors(diag) == 1 && !strstr(diag, "too deep"), "kind %d: %s",
                      kind, diag); /* only the `let = 2` on the last line */
        free(diag);
        free(src);
        src = chain_src(kind, 10010);
        ck_assert_int_eq(compile_diag(src, 1, &p, &diag), ND_EPROG);
        ck_assert_msg(count_errors(diag) == 2 &&
                          strstr(diag, "error: expression too deep: more than 10000 levels"),
                      "kind %d: %s", kind, diag);
        free(diag);
        free(src);
    }
}
END_TEST

START_TEST(test_diag_format)
{
    nd_program *p = NULL;
    char *diag = NULL;
    ck_assert_int_eq(compile_diag("let a = 1\n\tprint(a, bb)\n", 1, &p, &diag), ND_EPROG);
    ck_assert_str_eq(diag, "t.noodle:2:11: error: unknown name 'bb'\n\tprint(a, bb)\n\t         ^\n");
    free(diag);
    ck_assert_int_eq(nd_last_error.status, ND_EPROG);
    ck_assert_int_eq(nd_last_error.line, 2);
    ck_assert_int_eq(nd_last_error.col, 11);
    ck_assert_str_eq(nd_last_error.msg, "unknown name 'bb'");
}
END_TEST

/* ---- semantic errors ----------------------------------------------------------------- */

START_TEST(test_sema_errors)
{
    expect_error("let total = 0\nprint(totl)\n", "t.noodle:2:7: error: unknown name 'totl'");
    expect_error("fn f(n) {\n  let count = n\n  let count = 3\n}\n",
                 "t.noodle:3:7: error: 'count' is already declared in this block");
    expect_error("fn f(n) { let n = 1 }\n", "t.noodle:1:15: error: 'n' is already declared in this block");
    expect_error("fn f(a, a) { }\n", "t.noodle:1:9: error: 'a' is already declared in this block");
    expect_error("let g = 1\nfn g() {}\n", "t.noodle:2:4: error: 'g' is already declared in this block");
    expect_error("for i in 0..3 { let i = 2 }\n", "t.noodle:1:21: error: 'i' is already declared");
    expect_error("zz = 3\n", "t.noodle:1:1: error: assignment to undeclared variable 'zz'");
    expect_error("print = 3\n", "t.noodle:1:1: error: assignment to undeclared variable 'print'");
    expect_error("if true {\n  break\n}\n", "t.noodle:2:3: error: 'break' outside a loop");
    expect_error("while true { fn f() { continue } }\n", "t.noodle:1:23: error: 'continue' outside a loop");
    expect_error("let x = 1\nreturn x\n", "t.noodle:2:1: error: 'return' outside a function");
    expect_error("let A = eye(3, 3)\n", "t.noodle:1:9: error: 'eye' expects 1 argument, got 2");
    expect_error("print(norm(1, 2, 3))\n", "t.noodle:1:7: error: 'norm' expects at most 2 arguments, got 3");
    expect_error("fn f(a, b) { return a }\nprint(f(1))\n", "t.noodle:2:7: error: 'f' expects 2 arguments, got 1");
    expect_error("print(later(1, 2))\nfn later(x) { return x }\n", "t.noodle:1:7: error: 'later' expects 1 argument, got 2");
    expect_error("let y = \"a\" - 1\n", "t.noodle:1:13: error: type error: cannot apply '-' to str and int");
    expect_error("let y = \"a\" + 1\n", "t.noodle:1:13: error: type error");
    expect_error("let y = -\"x\"\n", "t.noodle:1:9: error: type error: cannot negate str");
    expect_error("let y = (\"a\" + \"b\") * 2\n", "t.noodle:1:21: error: type error");
    expect_error("let y = nil < 1\n", "t.noodle:1:13: error: type error");
    expect_error("let m = {1: 2}\n", "t.noodle:1:10: error: map keys must be strings");
    /* a global is visible in main code only after its let ... */
    expect_error("print(v)\nlet v = 1\n", "t.noodle:1:7: error: unknown name 'v'");
    /* ... functions do not see the locals of enclosing functions */
    expect_error("fn outer() {\n  let k = 1\n  fn inner() { return k }\n  return inner()\n}\n",
                 "t.noodle:3:23: error: unknown name 'k'");
    /* several semantic errors in one run */
    nd_program *p = NULL;
    char *diag = NULL;
    ck_assert_int_eq(compile_diag("print(a1)\nprint(a2)\nbreak\n", 1, &p, &diag), ND_EPROG);
    ck_assert_int_eq(count_errors(diag), 3);
    free(diag);
}
END_TEST

START_TEST(test_sema_ok)
{
    /* things that must NOT be errors */
    const char *ok[] = {
        /* mutual recursion, globals declared after the function, self-recursive lambda */
        "fn ev(n) { if n == 0 { return true }\n return od(n - 1) }\nfn od(n) { if n == 0 { return false }\n return ev(n - 1) }\nprint(ev(4))\n",
        "fn f() { return later }\nlet later = 3\nprint(f())\n",
        "let fact = fn(n) { if n <= 1 { return 1 }\n return n * fact(n - 1) }\n",
        /* a nested function calls itself by name */
        "fn outer(n) { fn down(k) { if k == 0 { return 0 }\n return down(k - 1) }\n return down(n) }\n",
        /* shadowing in inner blocks; a builtin name used as a variable */
        "let x = 1\nif true { let x = 2; print(x) }\nlet sum = 0\nfor k in 0..3 { let sq = k; sum = sum + sq }\nlet sq = 1\n",
        "fn f(len) { return len + 1 }\nprint(f(2), len(\"ab\"))\n",
        /* a call through a value whose arity is unknown; builtins as values */
        "fn f(a) { return a }\nlet g = f\nprint(g(1, 2))\nlet p = print\np(1, 2, 3)\n",
        /* run-time errors that must stay run-time errors */
        "let a = 7 % 0\nlet b = 9223372036854775807 + 1\nlet c = 2 ^ 64\nlet d = int(1e300)\n",
        "let a = 1 @ 2\nif 1 { print(1) }\n",
    };
    for (size_t i = 0; i < ND_ARRAY_LEN(ok); i++) nd_program_free(compile_ok(ok[i], 1));
}
END_TEST

/* ---- code generation ------------------------------------------------------------------ */

START_TEST(test_gen_shape)
{
    nd_program *p = compile_ok("fn f(a, b) { let c = a + b\n return c }\nlet L = fn(x) { return x }\n"
                               "print(f(1, 2))\n",
                               1);
    ck_assert_int_eq(p->nfuncs, 3);
    ck_assert_str_eq(p->funcs[0].name, "<main>");
    ck_assert_str_eq(p->funcs[1].name, "f");
    ck_assert_str_eq(p->funcs[2].name, "<lambda>");
    ck_assert_int_eq(p->funcs[1].nparams, 2);
    ck_assert_int_eq(p->funcs[1].line, 1);
    ck_assert_int_eq(p->funcs[2].line, 3);
    ck_assert_int_eq(p->funcs[0].nparams, 0);
    ck_assert_int_eq(p->nglobals, 2);
    ck_assert_str_eq(p->globals[0], "f");
    ck_assert_str_eq(p->globals[1], "L");
    ck_assert_str_eq(p->source_name, "t.noodle");
    ck_assert(p->flags & ND_PROG_OPTIMIZED);
    for (uint32_t i = 0; i < p->nfuncs; i++)
        ck_assert_int_eq(p->funcs[i].code[p->funcs[i].ncode - 1].op, ND_OP_RET);
    /* the call to print: CALLB at the name, 4:1 */
    const nd_func *m = &p->funcs[0];
    bool found = false;
    for (uint32_t k = 0; k < m->ncode; k++)
        if (m->code[k].op == ND_OP_CALLB) {
            found = true;
            ck_assert_int_eq(m->code[k].c, ND_BI_PRINT);
            ck_assert_int_eq(m->code[k].x, 1);
            ck_assert_int_eq(m->pos[k].line, 4);
            ck_assert_int_eq(m->pos[k].col, 1);
        }
    ck_assert(found);
    nd_program_free(p);
    nd_program *q = compile_ok("let a = 1\n", 0);
    ck_assert(!(q->flags & ND_PROG_OPTIMIZED));
    nd_program_free(q);
}
END_TEST

/* Positions of run-time errors: operator, '[', condition start, range start. */
START_TEST(test_gen_positions)
{
    nd_program *p = compile_ok("fn g(a, b, L) {\n  let r = a  %  b\n  if a > b { return L[a] }\n"
                               "  for i in a..b { r = r + i }\n  while a and b { return r }\n"
                               "  return r\n}\n",
                               1);
    const nd_func *f = &p->funcs[1];
    int seen = 0;
    for (uint32_t k = 0; k < f->ncode; k++) {
        nd_pos pos = f->pos[k];
        switch (f->code[k].op) {
        case ND_OP_MOD: ck_assert(pos.line == 2 && pos.col == 14); seen |= 1; break;
        /* a comparison as the condition: the compare-and-branch at the operator */
        case ND_OP_JGT: ck_assert(pos.line == 3 && pos.col == 8); seen |= 2; break;
        case ND_OP_GETINDEX: ck_assert(pos.line == 3 && pos.col == 22); seen |= 4; break;
        case ND_OP_FORPREP: ck_assert(pos.line == 4 && pos.col == 12); seen |= 8; break;
        /* any other condition: TEST at its start */
        case ND_OP_TEST: ck_assert(pos.line == 5 && pos.col == 9); seen |= 16; break;
        default: break;
        }
    }
    ck_assert_int_eq(seen, 31);
    nd_program_free(p);
}
END_TEST

/* ---- optimizer ---------------------------------------------------------------------- */

START_TEST(test_opt_folding)
{
    nd_const k = folded("1 + 2 * 3");
    ck_assert(k.kind == ND_K_INT && k.i == 7);
    k = folded("-2 ^ 2");
    ck_assert(k.kind == ND_K_INT && k.i == -4);
    k = folded("2 ^ -1");
    ck_assert(k.kind == ND_K_FLOAT && k.f == 0.5);
    k = folded("2 ^ 62");
    ck_assert(k.kind == ND_K_INT && k.i == INT64_C(4611686018427387904));
    k = folded("-7 % 3");
    ck_assert(k.kind == ND_K_INT && k.i == 2);
    k = folded("7 % -3");
    ck_assert(k.kind == ND_K_INT && k.i == -2);
    k = folded("-7.5 % 2");
    ck_assert(k.kind == ND_K_FLOAT && k.f == 0.5);
    k = folded("6 / 3");
    ck_assert(k.kind == ND_K_FLOAT && k.f == 2.0);
    k = folded("1 / 0");
    ck_assert(k.kind == ND_K_FLOAT && isinf(k.f) && k.f > 0);
    k = folded("\"ab\" + \"c\"");
    ck_assert(k.kind == ND_K_STR && strcmp(k.s, "abc") == 0);
    free(k.s);
    k = folded("str(2.0) + str(7) + str(nil)");
    ck_assert(k.kind == ND_K_STR && strcmp(k.s, "2.07nil") == 0);
    free(k.s);
    k = folded("len(\"a\\tb\")");
    ck_assert(k.kind == ND_K_INT && k.i == 3);
    k = folded("round(-2.5) + floor(2.7) * 10 + ceil(-2.1) * 100");
    ck_assert(k.kind == ND_K_INT && k.i == -3 + 20 - 200);
    k = folded("int(-3.9)");
    ck_assert(k.kind == ND_K_INT && k.i == -3);
    k = folded("sqrt(16)");
    ck_assert(k.kind == ND_K_FLOAT && k.f == 4.0);
    k = folded("1 == 1.0");
    ck_assert_int_eq(k.kind, 101);
    k = folded("not (1 > 2) and \"x\" < \"y\"");
    ck_assert_int_eq(k.kind, 101);
    k = folded("nil or 5");
    ck_assert(k.kind == ND_K_INT && k.i == 5);
    k = folded("1 == \"1\"");
    ck_assert_int_eq(k.kind, 100);
    /* left to run time: overflow, int % 0, out-of-range conversions, impure builtins */
    ck_assert(!is_folded("9223372036854775807 + 1"));
    ck_assert(!is_folded("3037000500 * 3037000500"));
    ck_assert(!is_folded("2 ^ 63"));
    ck_assert(!is_folded("-(-9223372036854775807 - 1)"));
    ck_assert(!is_folded("7 % 0"));
    ck_assert(!is_folded("int(0 / 0)"));
    ck_assert(!is_folded("rank()"));
    ck_assert(!is_folded("abs(-9223372036854775807 - 1)"));
    ck_assert(is_folded("-9223372036854775807 - 1"));
}
END_TEST

/* // (floor division): lexed as one token at the level of * / % @, folded like the VM
 * computes it (int // int floors to an int; otherwise floor(x / y)), errors left to run
 * time. */
START_TEST(test_floordiv)
{
    nd_cctx cx;
    nd_tokens t = lex("a // b / c", &cx, stderr);
    ck_assert_int_eq(t.v[1].kind, TK_SLASHSLASH);
    ck_assert_int_eq(t.v[1].col, 3);
    ck_assert_int_eq(t.v[3].kind, TK_SLASH);
    nd_lex_free(&t);
    nd_arena_free(&cx.arena);
    nd_tokens tt;
    nd_ast ast;
    /* 1 + 7 // 2 * 3 is 1 + ((7 // 2) * 3) */
    nd_expr *e = parse_expr("1 + 7 // 2 * 3", &cx, &tt, &ast);
    ck_assert_int_eq(e->op, TK_PLUS);
    ck_assert_int_eq(e->rhs->op, TK_STAR);
    ck_assert_int_eq(e->rhs->lhs->op, TK_SLASHSLASH);
    nd_lex_free(&tt);
    nd_arena_free(&cx.arena);
    static const struct { const char *src; int64_t i; } ints[] = {
        {"7 // 2", 3}, {"-7 // 2", -4}, {"7 // -2", -4}, {"-7 // -2", 3}, {"6 // 3", 2},
        {"-6 // 3", -2}, {"0 // -5", 0}, {"-9223372036854775807 - 1 // 1", INT64_MIN},
        {"(-9223372036854775807 - 1) // 2", INT64_MIN / 2},
        {"9223372036854775807 // -1", -INT64_MAX},
    };
    for (size_t k = 0; k < ND_ARRAY_LEN(ints); k++) {
        nd_const c = folded(ints[k].src);
        ck_assert_msg(c.kind == ND_K_INT && c.i == ints[k].i, "%s", ints[k].src);
    }
    static const struct { const char *src; double f; } flts[] = {
        {"7.5 // 2", 3.0}, {"-7.5 // 2", -4.0}, {"7 // 2.0", 3.0}, {"-1 // 0.3", -4.0},
        {"7.0 // -2", -4.0},
    };
    for (size_t k = 0; k < ND_ARRAY_LEN(flts); k++) {
        nd_const c = folded(flts[k].src);
        ck_assert_msg(c.kind == ND_K_FLOAT && c.f == flts[k].f, "%s", flts[k].src);
    }
    nd_const c = folded("1 // 0.0");
    ck_assert(c.kind == ND_K_FLOAT && isinf(c.f) && c.f > 0);
    c = folded("-1 // 0.0");
    ck_assert(c.kind == ND_K_FLOAT && isinf(c.f) && c.f < 0);
    /* run-time errors are not folded */
    ck_assert(!is_folded("7 // 0"));
    ck_assert(!is_folded("(-9223372036854775807 - 1) // -1"));
    /* -O0 and -O1 agree, through the evaluator's IDIV */
    uint32_t n0, n1;
    same_result("let a = 17\nlet b = -5\nlet q = a // b\nlet r = a % b\nlet ok = q * b + r == a\n"
                "let f = 7.5 // b\nlet g = a // 2.5\n", &n0, &n1);
    /* a sema type error names the operator */
    expect_error("let x = \"a\" // 2\n", "t.noodle:1:13: error: type error: cannot apply '//' to str and int");
}
END_TEST

START_TEST(test_opt_passes_change_code_not_results)
{
    uint32_t n0, n1;
    /* folding */
    same_result("let a = 2 ^ 10 - 3 * (4 + 5) % 7\nlet b = a / 4 + 0.5\nlet c = not (a > b) or a == 1000\n",
                &n0, &n1);
    ck_assert_uint_lt(n1, n0);
    /* dead code: after return/break, if false, while false */
    same_result("let s = 0\nfor i in 0..10 { s = s + i; if i == 4 { break; s = 99 } }\n"
                "if false { s = -1 } else { s = s * 2 }\nwhile false { s = 0 }\nlet t = s\n",
                &n0, &n1);
    ck_assert_uint_lt(n1, n0);
    /* jump threading: a break out of an if jumps straight past the loop */
    same_result("let i = 0\nlet acc = 0\nwhile true {\n  i = i + 1\n  if i % 2 == 0 { continue }\n"
                "  if i > 9 { break }\n  acc = acc + i\n}\n",
                &n0, &n1);
    ck_assert_uint_lt(n1, n0);
    /* and/or with constant left operands */
    same_result("let x = 3\nlet y = true and x\nlet z = false or x + 1\nlet w = nil and x\n", &n0, &n1);
    ck_assert_uint_lt(n1, n0);
    /* nested loops and locals in blocks of the main chunk */
    same_result("let total = 0\nfor a in 0..5 {\n  let sq = a * a\n  for b in 0..a { total = total + sq - b }\n}\n"
                "let k = 10\nwhile k > 0 { k = k - 3 }\nlet big = 1.5e3 ^ 2\n",
                &n0, &n1);
    ck_assert_uint_lt(n1, n0);
    /* a run-time error stays one at both levels (the evaluator stops) */
    nd_program *p0 = compile_ok("let a = 9223372036854775807\nlet b = a + 1\n", 0);
    tv g[4] = {0};
    ck_assert(!eval(p0, g));
    nd_program_free(p0);
}
END_TEST

/* A comparison as the condition of `if` or `while` becomes one compare-and-branch; a
 * branch farther than its 16-bit offset reaches falls back to comparison + TEST. */
START_TEST(test_cond_branch)
{
    const char *src = "let x = 1\nlet s = 0\nif x < 2 { s = 1 }\nwhile s < 5 { s = s + 1 }\n"
                      "if x == s { s = 0 } else { s = s * 3 }\nlet y = 2.5\n"
                      "if y >= x { s = s + 100 }\nlet t = s\n";
    same_result(src, NULL, NULL);
    for (int opt = 0; opt <= 1; opt++) {
        nd_program *p = compile_ok(src, opt);
        ck_assert_int_eq(count_op(p, ND_OP_JLTK), 2);
        ck_assert_int_eq(count_op(p, ND_OP_JEQ), 1);
        ck_assert_int_eq(count_op(p, ND_OP_JGE), 1);
        ck_assert_int_eq(count_op(p, ND_OP_TEST), 0);
        ck_assert_int_eq(count_op(p, ND_OP_LTK), 0);
        tv g[8] = {0};
        ck_assert(eval(p, g));
        ck_assert_int_eq(g[3].k, 2);
        ck_assert_int_eq(g[3].i, 115); /* t */
        nd_program_free(p);
    }
    /* the far branch: a body of 3 * 23000 instructions */
    nd_strbuf sb;
    nd_sb_init(&sb);
    ck_assert_int_eq(nd_sb_puts(&sb, "let x = 1\nlet s = 0\nif x < 2 {\n"), ND_OK);
    for (int k = 0; k < 23000; k++) ck_assert_int_eq(nd_sb_puts(&sb, "  s = s + 1\n"), ND_OK);
    ck_assert_int_eq(nd_sb_puts(&sb, "}\nwhile x > 5 {\n"), ND_OK);
    for (int k = 0; k < 23000; k++) ck_assert_int_eq(nd_sb_puts(&sb, "  s = s + 1\n"), ND_OK);
    ck_assert_int_eq(nd_sb_puts(&sb, "}\n"), ND_OK);
    for (int opt = 0; opt <= 1; opt++) {
        nd_program *p = compile_ok(sb.data, opt);
        ck_assert_int_eq(count_op(p, ND_OP_JLTK) + count_op(p, ND_OP_JGTK), 0);
        ck_assert_int_eq(count_op(p, ND_OP_LTK), 1);
        ck_assert_int_eq(count_op(p, ND_OP_GTK), 1);
        ck_assert_int_eq(count_op(p, ND_OP_TEST), 2);
        tv g[4] = {0};
        ck_assert(eval(p, g));
        ck_assert_int_eq(g[1].k, 2);
        ck_assert_int_eq(g[1].i, 23000);
        nd_program_free(p);
    }
    nd_sb_free(&sb);
}
END_TEST

START_TEST(test_opt_peephole)
{
    /* `x = a + b` on locals: ADD into a temporary then MOVE at -O0, one ADD at -O1 */
    const char *src = "fn f(a, b) {\n  let x = 0\n  x = a + b\n  x = x\n  return x\n}\n";
    nd_program *p0 = compile_ok(src, 0), *p1 = compile_ok(src, 1);
    ck_assert_int_eq(count_op(p0, ND_OP_MOVE), 3);
    ck_assert_int_eq(count_op(p1, ND_OP_MOVE), 0);
    const nd_func *f = &p1->funcs[1];
    ck_assert_int_eq(f->code[1].op, ND_OP_ADD);
    ck_assert_int_eq(f->code[1].a, 2); /* straight into x */
    nd_program_free(p0);
    nd_program_free(p1);
    /* a JMP to a JMP is threaded: no jump at -O1 lands on an unconditional jump */
    p1 = compile_ok("let n = 0\nwhile n < 10 {\n  if n > 5 { n = n + 2 } else { n = n + 1 }\n}\n", 1);
    const nd_func *m = &p1->funcs[0];
    for (uint32_t k = 0; k < m->ncode; k++) {
        int op = m->code[k].op;
        if (op == ND_OP_JMP || op == ND_OP_TEST) {
            int64_t t = (int64_t)k + 1 + ND_SBX(m->code[k]);
            ck_assert(t >= 0 && t < m->ncode);
            ck_assert_msg(m->code[t].op != ND_OP_JMP, "jump at %u lands on a JMP", k);
        }
    }
    ck_assert_int_eq(count_op(p1, ND_OP_NOP), 0);
    nd_program_free(p1);
}
END_TEST

/* ---- round trips through src/nbc ------------------------------------------------------ */

START_TEST(test_roundtrip)
{
    const char *src =
        "let A = zeros(4, 5)\nfor i in 0..4 { for j in 0..5 { A[i, j] = 10 * i + j } }\n"
        "let S = A[1:3, 2:]\nA[0:2, :] = 1\nlet r = A[1, :]\nlet L = [1, \"two\", 3.5, nil, true]\n"
        "L[0] = {\"k\": [1, 2]}\nfor v in L { print(v) }\nfn f(x) { return x.T @ x }\n"
        "print(f(A), -1e300 * 10, \"tab\\t\", fn(q) { return q })\n";
    for (int opt = 0; opt <= 1; opt++) {
        nd_program *p = compile_ok(src, opt);
        nd_strbuf sb;
        nd_sb_init(&sb);
        ck_assert_int_eq(nd_nbc_write(p, &sb), ND_OK);
        nd_program *q = NULL;
        ck_assert_int_eq(nd_nbc_read(sb.data, sb.len, &q), ND_OK);
        ck_assert_int_eq(nd_nbc_verify(q), ND_OK);
        char *d1 = disasm_str(p), *d2 = disasm_str(q);
        ck_assert_str_eq(d1, d2);
        ck_assert_ptr_nonnull(strstr(d1, "GETSLICE"));
        ck_assert_ptr_nonnull(strstr(d1, "SETSLICE"));
        ck_assert_ptr_nonnull(strstr(d1, "SETINDEX2"));
        ck_assert_ptr_nonnull(strstr(d1, "ITERLOOP"));
        free(d1);
        free(d2);
        nd_sb_free(&sb);
        nd_program_free(p);
        nd_program_free(q);
    }
}
END_TEST

START_TEST(test_compile_file)
{
    nd_program *p = NULL;
    nd_compile_opts o = {.opt_level = 1};
    ck_assert_int_eq(nd_compile_file("/nonexistent/dir/x.noodle", &o, &p), ND_EUSAGE);
    ck_assert_ptr_null(p);
    char path[] = "/tmp/check_compiler_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("let x = 41 + 1\nprint(x)\n", f);
    fclose(f);
    ck_assert_int_eq(nd_compile_file(path, &o, &p), ND_OK);
    ck_assert_str_eq(p->source_name, path);
    uint8_t want[32];
    nd_sha256_buf("let x = 41 + 1\nprint(x)\n", 24, want);
    ck_assert_mem_eq(p->source_sha256, want, 32);
    nd_program_free(p);
    remove(path);
}
END_TEST

START_TEST(test_alloc_failures)
{
    /* every allocation failure gives ND_ENOMEM (or a clean result), never a crash/leak */
    const char *src = "fn f(a) { let b = [a, \"s\"]\n return b }\nlet x = f(1)\nprint(x, 2.5, \"t\")\n";
    for (size_t n = 1; n < 400; n++) {
        size_t live = nd_alloc_live();
        nd_program *p = NULL;
        nd_alloc_fail_after(n);
        FILE *null = fopen("/dev/null", "w");
        nd_compile_opts o = {.opt_level = 1, .diag = null};
        nd_status st = nd_compile("t.noodle", src, strlen(src), &o, &p);
        nd_alloc_fail_after(0);
        fclose(null);
        ck_assert_msg(st == ND_OK || st == ND_ENOMEM, "n=%zu st=%d", n, st);
        if (st == ND_OK) {
            nd_program_free(p);
            ck_assert_uint_eq(nd_alloc_live(), live);
            break;
        }
        ck_assert_ptr_null(p);
        ck_assert_msg(nd_alloc_live() == live, "leak after failing allocation %zu", n);
    }
}
END_TEST

/* ---- golden disassembly --------------------------------------------------------------- */

/* ---- uniformity: which safe points count (src/compiler/uniform.c) ---------------------- */

/* The safe points of function fi in pc order (backward JMP, FORLOOP, ITERLOOP, CALL), as
 * 'U' (uniform: counted) or 'L' (ND_X_LOCAL). */
static void sp_marks(const nd_program *p, uint32_t fi, char *out, size_t cap)
{
    size_t n = 0;
    const nd_func *f = &p->funcs[fi];
    for (uint32_t k = 0; k < f->ncode && n + 1 < cap; k++) {
        const nd_instr *in = &f->code[k];
        bool sp = in->op == ND_OP_FORLOOP || in->op == ND_OP_ITERLOOP || in->op == ND_OP_CALL ||
                  (in->op == ND_OP_JMP && ND_SBX(*in) < 0);
        if (sp) out[n++] = in->x == ND_X_LOCAL ? 'L' : 'U';
    }
    out[n] = '\0';
}

START_TEST(test_uniform)
{
    static const struct {
        const char *src;
        const char *main_marks, *f1_marks; /* f1: function 1, when there is one */
    } cases[] = {
        {"for i in 0..10 { }\n", "U", NULL},
        {"if rank() == 0 { for i in 0..10 { } }\n", "L", NULL},
        {"let me = rank()\nlet k = 0\nwhile k < me { k = k + 1 }\n", "L", NULL},
        /* a break under a rank-dependent condition: the trip count differs */
        {"let k = 0\nwhile true {\n k = k + 1\n if rank() == 0 and k > 3 { break }\n"
         " if k > 9 { break }\n}\n", "L", NULL},
        /* a continue does not change the trip count; in a while loop it is a back-edge
         * with the loop's mark */
        {"for i in 0..10 { if rank() == 1 { continue } }\n", "U", NULL},
        {"let i = 0\nwhile i < 10 {\n i = i + 1\n if rank() == 1 { continue }\n}\n", "UU", NULL},
        /* the same function called from uniform and from rank-dependent code */
        {"fn f(n) {\n for i in 0..n { }\n return 0\n}\nlet x = f(3)\n"
         "if rank() == 0 { x = f(4) }\n", "UL", "U"},
        /* a rank-dependent argument, return value, global */
        {"fn g(n) {\n for i in 0..n { }\n return 0\n}\nlet y = g(rank())\n", "U", "L"},
        {"fn r() { return rank() }\nlet m = r()\nfor i in 0..m { }\n", "UL", ""},
        {"let G = 5\nfn s() {\n G = 7\n return 0\n}\nif rank() == 0 { s() }\n"
         "for i in 0..G { }\n", "LL", ""},
        /* the right side of and/or */
        {"fn h() { return true }\nif rank() == 0 and h() { }\nif h() or rank() > 0 { }\n", "LU", ""},
        /* after a rank-dependent return, the rest of the function */
        {"fn q() {\n if rank() == 0 { return 1 }\n for i in 0..5 { }\n return 2\n}\n"
         "let z = q()\n", "U", "L"},
        /* through a list and a function value of unknown origin */
        {"let L = [rank()]\nfor v in L { }\nlet fv = fn(a) { return a }\n"
         "for i in 0..fv(1) { }\n", "LUU", ""},
        /* a list grown on rank 0 only, seen through another name */
        {"let L = []\nlet M = L\nif rank() == 0 { append(M, 1) }\nfor v in L { }\n"
         "for i in 0..len(L) { }\nlet n = 0\nwhile n < 2 and L == [] { n = n + 1 }\n", "LLL", NULL},
        {"let L = []\nappend(L, 1)\nfor v in L { }\nfor i in 0..len(L) { }\n", "UU", NULL},
        {"let D = {\"a\": 1}\nlet E = D\nE[\"a\"] = rank()\nfor i in 0..D[\"a\"] { }\n", "L", NULL},
        /* the bug of format 1: an if ending the body, at -O1 */
        {"let every = 3\nlet s = 0\nwhile s < 100 {\n s = s + 1\n"
         " if every > 0 and s % every == 0 { s = s + 1 }\n}\n", "U", NULL},
    };
    for (size_t i = 0; i < ND_ARRAY_LEN(cases); i++) {
        for (int opt = 0; opt <= 1; opt++) {
            nd_program *p = compile_ok(cases[i].src, opt); /* verified: no backward TEST */
            char got[64];
            sp_marks(p, 0, got, sizeof got);
            ck_assert_msg(strcmp(got, cases[i].main_marks) == 0,
                          "case %zu -O%d: main marks %s, want %s\n%s", i, opt, got,
                          cases[i].main_marks, cases[i].src);
            if (cases[i].f1_marks && *cases[i].f1_marks) {
                sp_marks(p, 1, got, sizeof got);
                ck_assert_msg(strcmp(got, cases[i].f1_marks) == 0,
                              "case %zu -O%d: function 1 marks %s, want %s\n%s", i, opt, got,
                              cases[i].f1_marks, cases[i].src);
            }
            nd_program_free(p);
        }
    }
}
END_TEST

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Each tests/golden/NAME.noodle compiles (at -O1, or -O0 when NAME ends in "_O0") to the
 * disassembly in NAME.dis.  ND_GOLDEN_UPDATE=1 rewrites the .dis files instead. */
START_TEST(test_golden)
{
    const char *top = getenv("top_srcdir");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/golden", top ? top : "..");
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "no %s", dir);
    int checked = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 8 || strcmp(de->d_name + n - 7, ".noodle") != 0) continue;
        char src_path[4400], dis_path[4400], name[256];
        snprintf(name, sizeof name, "%.*s", (int)(n - 7), de->d_name);
        snprintf(src_path, sizeof src_path, "%s/%s", dir, de->d_name);
        snprintf(dis_path, sizeof dis_path, "%s/%s.dis", dir, name);
        size_t len;
        char *src = read_all(src_path, &len);
        ck_assert_ptr_nonnull(src);
        int opt = strstr(name, "_O0") ? 0 : 1;
        nd_program *p = NULL;
        nd_compile_opts o = {.opt_level = opt};
        ck_assert_msg(nd_compile(de->d_name, src, len, &o, &p) == ND_OK, "%s does not compile", name);
        char *got = disasm_str(p);
        if (getenv("ND_GOLDEN_UPDATE")) {
            FILE *f = fopen(dis_path, "w");
            ck_assert_ptr_nonnull(f);
            fputs(got, f);
            fclose(f);
        } else {
            size_t wl;
            char *want = read_all(dis_path, &wl);
            ck_assert_msg(want != NULL, "missing %s", dis_path);
            ck_assert_msg(strcmp(got, want) == 0, "%s: disassembly differs from %s.dis:\n%s", name, name, got);
            free(want);
        }
        free(got);
        free(src);
        nd_program_free(p);
        checked++;
    }
    closedir(d);
    ck_assert_int_ge(checked, 3);
}
END_TEST

/* The program as noodle-run takes it: source compiled, bytecode read and verified, a
 * missing file a usage error naming it. */
START_TEST(test_compile_or_load)
{
    char dir[] = "/tmp/check_compiler_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char src[256], nbc[256], missing[256];
    snprintf(src, sizeof src, "%s/p.noodle", dir);
    snprintf(nbc, sizeof nbc, "%s/p.nbc", dir);
    snprintf(missing, sizeof missing, "%s/none.noodle", dir);
    FILE *f = fopen(src, "w");
    fputs("let x = 2\nprint(x + 1)\n", f);
    fclose(f);
    nd_compile_opts o = {.opt_level = 1, .diag = stderr};
    nd_program *p = NULL, *q = NULL;
    bool compiled = false;
    ck_assert_int_eq(nd_compile_or_load(src, &o, &p, &compiled), ND_OK);
    ck_assert(compiled);
    ck_assert_int_eq(nd_nbc_write_file(p, nbc), ND_OK);
    ck_assert_int_eq(nd_compile_or_load(nbc, &o, &q, &compiled), ND_OK);
    ck_assert(!compiled);
    uint8_t h1[32], h2[32];
    ck_assert_int_eq(nd_nbc_hash(p, h1), ND_OK);
    ck_assert_int_eq(nd_nbc_hash(q, h2), ND_OK);
    ck_assert_mem_eq(h1, h2, 32);
    nd_program_free(q);
    ck_assert_int_eq(nd_compile_or_load(missing, &o, &q, NULL), ND_EUSAGE);
    ck_assert_ptr_null(q);
    ck_assert_ptr_nonnull(strstr(nd_err_msg(), "cannot open '"));
    f = fopen(nbc, "w"); /* a .nbc name with bad bytes: invalid, never compiled */
    fputs("print(1)\n", f);
    fclose(f);
    ck_assert_int_eq(nd_compile_or_load(nbc, &o, &q, NULL), ND_EINVALID);
    ck_assert_ptr_null(q);
    nd_program_free(p);
    unlink(src);
    unlink(nbc);
    rmdir(dir);
}
END_TEST

/* Hostile one-line programs: 20,000 string literals on one line compile in memory linear
 * in the source (each literal once took the rest of the line: about 1 GB); 20,000 nested
 * map literals stop at the depth limit, and the error echoes a window of the line, not
 * all 140 KB of it. */
START_TEST(test_hostile_lines)
{
    size_t n = 20000;
    char *src = malloc(n * 6 + 64), *q = src;
    ck_assert_ptr_nonnull(src);
    q += sprintf(q, "let a = [");
    for (size_t i = 0; i < n; i++) q += sprintf(q, "%s\"xy\"", i ? ", " : "");
    sprintf(q, "]\nprint(len(a))\n");
    size_t live = nd_alloc_live();
    nd_program *p = compile_ok(src, 1);
    ck_assert_msg(nd_alloc_peak() - live < (size_t)64 << 20, "peak %zu MiB",
                  (nd_alloc_peak() - live) >> 20);
    nd_program_free(p);
    q = src + sprintf(src, "let a = ");
    for (size_t i = 0; i < n; i++) q += sprintf(q, "{\"k\": ");
    sprintf(q, "1\n");
    char *diag = NULL;
    ck_assert_int_eq(compile_diag(src, 1, &p, &diag), ND_EPROG);
    ck_assert_msg(strstr(diag, "program nested too deeply"), "%s", diag);
    ck_assert_msg(strlen(diag) < 2000, "%zu bytes of diagnostics", strlen(diag));
    ck_assert_msg(strstr(diag, "\n... {\"k\": {") && strstr(diag, "...\n   "), "no window: %.300s", diag);
    ck_assert_msg(nd_alloc_peak() - live < (size_t)64 << 20, "peak %zu MiB",
                  (nd_alloc_peak() - live) >> 20);
    free(diag);
    /* more parameters than the bytecode has registers: a compile error, not bytecode
     * that the VM then refuses (it compiled, exit 0, then noodle-run exit 3) */
    free(src);
    src = malloc(70000 * 8 + 64);
    ck_assert_ptr_nonnull(src);
    q = src + sprintf(src, "fn f(");
    for (int i = 0; i < 65537; i++) q += sprintf(q, "%sa%d", i ? ", " : "", i);
    sprintf(q, ") { return a0 }\nprint(1)\n");
    ck_assert_int_eq(compile_diag(src, 1, &p, &diag), ND_EPROG);
    ck_assert_msg(strstr(diag, "t.noodle:1:1: error: function too large: 65537 parameters (at most 65535)"),
                  "%.200s", diag);
    free(diag);
    free(src);
}
END_TEST

static Suite *compiler_suite(void)
{
    Suite *s = suite_create("compiler");
    const TTest *tc_tests[] = {
        test_lex_tokens, test_lex_strings, test_lex_errors, test_parse_precedence,
        test_parse_newlines, test_parse_errors, test_long_chains, test_diag_format,
        test_sema_errors, test_sema_ok, test_gen_shape, test_gen_positions,
        test_opt_folding, test_floordiv, test_opt_passes_change_code_not_results, test_opt_peephole,
        test_cond_branch, test_roundtrip, test_compile_file, test_alloc_failures,
        test_golden, test_uniform, test_compile_or_load, test_hostile_lines, NULL};
    nd_check_tcase(s, "core", 60, tc_tests);
    return s;
}

int main(void)
{
    int failed = nd_check_run(compiler_suite(), 0);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
