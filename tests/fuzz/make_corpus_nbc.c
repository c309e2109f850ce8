/* make_corpus_nbc.c: writes the seed corpus of fuzz_nbc (tests/fuzz/corpus_nbc/)
 * with the real writer, so the seeds are valid files that exercise every section and
 * every opcode.  Not built by default; rebuild the seeds after a format change with
 *   cc -std=c11 -Iinclude -Isrc -Ibuild tests/fuzz/make_corpus_nbc.c src/nbc/\*.c \
 *      src/common/{error,alloc,strbuf,hash}.c src/nbc/builtin_ids.c -o mk && ./mk DIR */
#include "common/alloc.h"
#include "common/hash.h"
#include "nbc/builtin_ids.h"
#include "nbc/nbc.h"

#include <stdio.h>
#include <string.h>

static nd_instr ins(nd_opcode op, unsigned x, unsigned a, unsigned b, unsigned c)
{
    return (nd_instr){(uint8_t)op, (uint8_t)x, (uint16_t)a, (uint16_t)b, (uint16_t)c};
}

static nd_instr insbx(nd_opcode op, unsigned a, int32_t bx)
{
    uint32_t u = (uint32_t)bx;
    return (nd_instr){(uint8_t)op, 0, (uint16_t)a, (uint16_t)(u & 0xffff), (uint16_t)(u >> 16)};
}

static nd_program *prog(const char *src, uint32_t nfuncs)
{
    nd_program *p = ND_ALLOC_N(nd_program, 1);
    p->source_name = nd_strdup(src);
    nd_sha256_buf(src, strlen(src), p->source_sha256);
    p->funcs = ND_ALLOC_N(nd_func, nfuncs);
    p->nfuncs = nfuncs;
    return p;
}

static void func(nd_program *p, uint32_t i, const char *name, uint32_t line, uint32_t nparams,
                 uint32_t nregs, const nd_instr *code, uint32_t n)
{
    nd_func *f = &p->funcs[i];
    f->name = nd_strdup(name);
    f->line = line, f->nparams = nparams, f->nregs = nregs, f->ncode = n;
    f->code = ND_ALLOC_N(nd_instr, n);
    f->pos = ND_ALLOC_N(nd_pos, n);
    for (uint32_t k = 0; k < n; k++) {
        f->code[k] = code[k];
        f->pos[k] = (nd_pos){line + k / 2, 1 + 2 * (k % 4)};
    }
}

static void consts(nd_program *p)
{
    p->nconsts = 3;
    p->consts = ND_ALLOC_N(nd_const, 3);
    p->consts[0] = (nd_const){.kind = ND_K_INT, .i = 1000000007};
    p->consts[1] = (nd_const){.kind = ND_K_FLOAT, .f = 0.1};
    p->consts[2] = (nd_const){.kind = ND_K_STR, .slen = 5};
    p->consts[2].s = nd_malloc(6);
    memcpy(p->consts[2].s, "a\0b\n!", 6);
}

static void globals(nd_program *p, uint32_t n)
{
    p->nglobals = n;
    p->globals = ND_ALLOC_N(char *, n);
    for (uint32_t i = 0; i < n; i++) p->globals[i] = nd_strdup(i ? "g" : "total");
}

static void save(nd_program *p, const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (nd_nbc_verify(p) != ND_OK || nd_nbc_write_file(p, path) != ND_OK)
        fprintf(stderr, "%s: %s\n", name, nd_err_msg());
    nd_program_free(p);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    /* The smallest valid program. */
    nd_program *p = prog("min.noodle", 1);
    const nd_instr ret[] = {ins(ND_OP_RET, 0, 0, 0, 0)};
    func(p, 0, "<main>", 1, 0, 1, ret, 1);
    save(p, dir, "min.nbc");

    /* Calls, globals, a loop, builtins. */
    p = prog("calls.noodle", 2);
    consts(p);
    globals(p, 2);
    const nd_instr m[] = {
        insbx(ND_OP_LOADFN, 0, 1), insbx(ND_OP_SETG, 0, 1), insbx(ND_OP_LOADI, 0, 0),
        insbx(ND_OP_LOADK, 1, 0), insbx(ND_OP_FORPREP, 0, 4), insbx(ND_OP_GETG, 3, 1),
        ins(ND_OP_MOVE, 0, 4, 2, 0), ins(ND_OP_CALL, 0, 3, 1, 0),
        ins(ND_OP_CALLB, 1, 5, 3, ND_BI_PRINT), insbx(ND_OP_FORLOOP, 0, -5),
        insbx(ND_OP_LOADK, 5, 2), ins(ND_OP_NEWLIST, 0, 6, 4, 2),
        ins(ND_OP_CALLB, 1, 5, 6, ND_BI_LEN), ins(ND_OP_RET, 0, 0, 0, 0),
    };
    func(p, 0, "<main>", 1, 0, 7, m, sizeof m / sizeof m[0]);
    const nd_instr sq[] = {ins(ND_OP_MUL, 0, 1, 0, 0), ins(ND_OP_RET, 0, 1, 1, 0)};
    func(p, 1, "square", 3, 1, 2, sq, 2);
    save(p, dir, "calls.nbc");

    /* Every opcode once. */
    static const struct { nd_opcode op; const char *fmt, *k[3]; } tab[] = {
#define OP(name, fmt, ka, kb, kc, doc) {ND_OP_##name, #fmt, {#ka, #kb, #kc}},
#include "noodle/opcodes.def"
#undef OP
    };
    nd_instr all[ND_NUM_OPCODES + 1];
    for (size_t i = 0; i < ND_NUM_OPCODES; i++) {
        uint32_t v[3];
        for (int j = 0; j < 3; j++) {
            char k = tab[i].k[j][0];
            v[j] = k == 'F' ? 1 : k == 'I' ? ND_BI_LEN : k == 'N' ? 1 : 0;
        }
        unsigned x = tab[i].op == ND_OP_CALLB ? 1 : tab[i].op == ND_OP_GETSLICE ? 3 : 0;
        all[i] = strcmp(tab[i].fmt, "ABC") == 0 ? ins(tab[i].op, x, v[0], v[1], v[2])
                                                 : insbx(tab[i].op, v[0], (int32_t)v[1]);
    }
    all[ND_NUM_OPCODES] = ins(ND_OP_RET, 0, 0, 1, 0);
    p = prog("all.noodle", 2);
    p->flags = ND_PROG_OPTIMIZED;
    consts(p);
    globals(p, 1);
    func(p, 0, "<main>", 1, 0, 8, all, ND_NUM_OPCODES + 1);
    func(p, 1, "<lambda>", 40, 0, 1, ret, 1);
    save(p, dir, "all_opcodes.nbc");
    return 0;
}
