/* check_nbc.c: unit tests of src/nbc (docs/bytecode.md): round trips, every rejection
 * class of the reader (truncation at every offset, flipped bytes, bad version, absurd
 * counts) and of the verifier (each operand kind, register ranges, arity), the
 * disassembly, files, and allocation failures.  Programs are built by hand here, so
 * these tests do not depend on the compiler. */
#include "nd_check.h"
#include "common/alloc.h"
#include "common/hash.h"
#include "nbc/builtin_ids.h"
#include "nbc/nbc.h"
#include "nbc/sign.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- building programs by hand ---- */

static nd_instr ins(nd_opcode op, unsigned x, unsigned a, unsigned b, unsigned c)
{
    return (nd_instr){(uint8_t)op, (uint8_t)x, (uint16_t)a, (uint16_t)b, (uint16_t)c};
}

/* The wide formats: Bx / sBx split over b (low) and c (high). */
static nd_instr insbx(nd_opcode op, unsigned a, int32_t bx)
{
    uint32_t u = (uint32_t)bx;
    return (nd_instr){(uint8_t)op, 0, (uint16_t)a, (uint16_t)(u & 0xffff), (uint16_t)(u >> 16)};
}

/* ins with the x field set (ND_X_LOCAL on the safe-point instructions). */
static nd_instr withx(nd_instr in, unsigned x)
{
    in.x = (uint8_t)x;
    return in;
}

static nd_program *new_prog(uint32_t nfuncs)
{
    nd_program *p = ND_ALLOC_N(nd_program, 1);
    ck_assert_ptr_nonnull(p);
    p->source_name = nd_strdup("dir/prog.noodle");
    nd_sha256_buf("source text", 11, p->source_sha256);
    p->funcs = ND_ALLOC_N(nd_func, nfuncs);
    p->nfuncs = nfuncs;
    return p;
}

static void set_func(nd_program *p, uint32_t i, const char *name, uint32_t line,
                     uint32_t nparams, uint32_t nregs, const nd_instr *code, uint32_t n)
{
    nd_func *f = &p->funcs[i];
    f->name = nd_strdup(name);
    f->line = line;
    f->nparams = nparams;
    f->nregs = nregs;
    f->ncode = n;
    f->code = ND_ALLOC_N(nd_instr, n);
    f->pos = ND_ALLOC_N(nd_pos, n);
    for (uint32_t k = 0; k < n; k++) {
        f->code[k] = code[k];
        /* Lines that go forward and back, columns that vary, to exercise the deltas. */
        f->pos[k] = (nd_pos){line + k % 3 + (k == 5 ? 1000 : 0), 1 + 4 * (k % 5)};
    }
}

static void set_consts(nd_program *p)
{
    p->nconsts = 4;
    p->consts = ND_ALLOC_N(nd_const, 4);
    p->consts[0] = (nd_const){.kind = ND_K_INT, .i = 42};
    p->consts[1] = (nd_const){.kind = ND_K_FLOAT, .f = 2.5};
    p->consts[2].kind = ND_K_STR;
    p->consts[2].slen = 7;
    p->consts[2].s = nd_malloc(8);
    memcpy(p->consts[2].s, "hi\n\0\"x\\", 8);
    p->consts[3] = (nd_const){.kind = ND_K_INT, .i = INT64_MIN};
}

static void set_globals(nd_program *p, uint32_t n)
{
    static const char *const names[] = {"x", "add", "total"};
    p->nglobals = n;
    p->globals = ND_ALLOC_N(char *, n);
    for (uint32_t i = 0; i < n; i++) p->globals[i] = nd_strdup(names[i % 3]);
}

#define NCODE(a) ((uint32_t)ND_ARRAY_LEN(a))

/* main: 6 registers; add(a, b): 3 registers; an anonymous function. */
static nd_program *sample(void)
{
    nd_program *p = new_prog(3);
    p->flags = ND_PROG_OPTIMIZED;
    set_consts(p);
    set_globals(p, 2);
    const nd_instr main_code[] = {
        insbx(ND_OP_LOADK, 0, 0),          /* 0 R0 := 42 */
        insbx(ND_OP_LOADI, 1, -5),         /* 1 R1 := -5 */
        insbx(ND_OP_LOADFN, 2, 1),         /* 2 R2 := add */
        ins(ND_OP_MOVE, 0, 3, 0, 0),       /* 3 */
        ins(ND_OP_MOVE, 0, 4, 1, 0),       /* 4 */
        ins(ND_OP_CALL, 0, 2, 2, 0),       /* 5 R2 := R2(R3, R4) */
        insbx(ND_OP_SETG, 2, 0),           /* 6 */
        insbx(ND_OP_LOADK, 5, 2),          /* 7 R5 := the string */
        ins(ND_OP_CALLB, 2, 0, 4, ND_BI_PRINT), /* 8 R0 := print(R4, R5) */
        insbx(ND_OP_JMP, 0, 1),            /* 9 -> 11 */
        ins(ND_OP_NOP, 0, 0, 0, 0),        /* 10 */
        insbx(ND_OP_LOADFN, 1, 2),         /* 11 */
        insbx(ND_OP_JMP, 0, -12),          /* 12 -> 1, a back-edge */
        ins(ND_OP_RET, 0, 0, 0, 0),        /* 13 */
    };
    set_func(p, 0, "<main>", 1, 0, 6, main_code, NCODE(main_code));
    const nd_instr add_code[] = {
        ins(ND_OP_ADD, 0, 2, 0, 1),
        ins(ND_OP_RET, 0, 2, 1, 0),
    };
    set_func(p, 1, "add", 3, 2, 3, add_code, NCODE(add_code));
    const nd_instr lam_code[] = {ins(ND_OP_RET, 0, 0, 0, 0)};
    set_func(p, 2, "<lambda>", 70000, 1, 1, lam_code, NCODE(lam_code));
    return p;
}

/* Every opcode once, with operands that verify: R 0 (8 registers), K 0, G 0, F 1,
 * I len (one argument), J 0 (the next instruction), N 1; then RET. */
static nd_program *all_opcodes(void)
{
    static const struct { nd_opcode op; const char *fmt, *k[3]; } tab[] = {
#define OP(name, fmt, ka, kb, kc, doc) {ND_OP_##name, #fmt, {#ka, #kb, #kc}},
#include "noodle/opcodes.def"
#undef OP
    };
    nd_instr code[ND_NUM_OPCODES + 1];
    for (size_t i = 0; i < ND_ARRAY_LEN(tab); i++) {
        uint32_t v[3];
        for (int j = 0; j < 3; j++) {
            const char *k = tab[i].k[j];
            v[j] = k[0] == 'F' ? 1 : k[0] == 'I' ? ND_BI_LEN : k[0] == 'N' ? 1 : 0;
        }
        unsigned x = tab[i].op == ND_OP_CALLB ? 1 : tab[i].op == ND_OP_GETSLICE ? 3 : 0;
        if (tab[i].op == ND_OP_GETSUB || tab[i].op == ND_OP_SETSUB) x = 1;
        if (strcmp(tab[i].fmt, "ABC") == 0) code[i] = ins(tab[i].op, x, v[0], v[1], v[2]);
        else code[i] = insbx(tab[i].op, v[0], (int32_t)v[1]);
    }
    code[ND_NUM_OPCODES] = ins(ND_OP_RET, 0, 0, 1, 0);
    nd_program *p = new_prog(2);
    set_consts(p);
    set_globals(p, 1);
    set_func(p, 0, "<main>", 1, 0, 8, code, ND_NUM_OPCODES + 1);
    const nd_instr one[] = {ins(ND_OP_RET, 0, 0, 0, 0)};
    set_func(p, 1, "f", 9, 0, 1, one, 1);
    return p;
}

static void serialize(const nd_program *p, nd_strbuf *sb)
{
    nd_sb_init(sb);
    ck_assert_int_eq(nd_nbc_write(p, sb), ND_OK);
}

static void assert_same(const nd_program *a, const nd_program *b)
{
    ck_assert_str_eq(a->source_name, b->source_name);
    ck_assert_mem_eq(a->source_sha256, b->source_sha256, 32);
    ck_assert_uint_eq(a->flags, b->flags);
    ck_assert_uint_eq(a->nconsts, b->nconsts);
    for (uint32_t i = 0; i < a->nconsts; i++) {
        const nd_const *x = &a->consts[i], *y = &b->consts[i];
        ck_assert_uint_eq(x->kind, y->kind);
        if (x->kind == ND_K_INT) ck_assert(x->i == y->i);
        if (x->kind == ND_K_FLOAT) ck_assert(memcmp(&x->f, &y->f, sizeof x->f) == 0);
        if (x->kind == ND_K_STR) {
            ck_assert_uint_eq(x->slen, y->slen);
            ck_assert_mem_eq(x->s, y->s, x->slen + 1);
        }
    }
    ck_assert_uint_eq(a->nglobals, b->nglobals);
    for (uint32_t i = 0; i < a->nglobals; i++) ck_assert_str_eq(a->globals[i], b->globals[i]);
    ck_assert_uint_eq(a->nfuncs, b->nfuncs);
    for (uint32_t i = 0; i < a->nfuncs; i++) {
        const nd_func *f = &a->funcs[i], *g = &b->funcs[i];
        ck_assert_str_eq(f->name, g->name);
        ck_assert_uint_eq(f->line, g->line);
        ck_assert_uint_eq(f->nparams, g->nparams);
        ck_assert_uint_eq(f->nregs, g->nregs);
        ck_assert_uint_eq(f->ncode, g->ncode);
        for (uint32_t k = 0; k < f->ncode; k++) {
            ck_assert_int_eq(f->code[k].op, g->code[k].op);
            ck_assert_int_eq(f->code[k].x, g->code[k].x);
            ck_assert_int_eq(f->code[k].a, g->code[k].a);
            ck_assert_int_eq(f->code[k].b, g->code[k].b);
            ck_assert_int_eq(f->code[k].c, g->code[k].c);
            ck_assert_uint_eq(f->pos[k].line, g->pos[k].line);
            ck_assert_uint_eq(f->pos[k].col, g->pos[k].col);
        }
    }
}

/* Reads buf expecting failure with st and a message containing `want`; checks that
 * nothing is returned and nothing leaks. */
static void expect_read_fail(const void *buf, size_t len, nd_status want_st, const char *want)
{
    size_t live = nd_alloc_live();
    nd_program *q = (nd_program *)&q;  /* must be reset to NULL */
    nd_status st = nd_nbc_read(buf, len, &q);
    ck_assert_msg(st == want_st, "status %d, want %d (%s)", st, want_st, nd_err_msg());
    ck_assert_ptr_null(q);
    if (want) ck_assert_msg(strstr(nd_err_msg(), want), "message '%s' lacks '%s'", nd_err_msg(), want);
    ck_assert_uint_eq(nd_alloc_live(), live);
}

/* Little-endian patch helpers for crafted files. */
static void put32(char *d, uint32_t v)
{
    for (int i = 0; i < 4; i++) d[i] = (char)(uint8_t)(v >> (8 * i));
}

/* Rewrites the payload length and CRC of a file in sb after its payload was edited. */
static void reseal(nd_strbuf *sb)
{
    uint64_t plen = sb->len - 28;
    for (int i = 0; i < 8; i++) sb->data[16 + i] = (char)(uint8_t)(plen >> (8 * i));
    put32(sb->data + 24, nd_crc32c(0, sb->data + 28, plen));
}

/* A file whose payload is given raw (header and CRC computed here). */
static void raw_file(nd_strbuf *sb, const void *payload, size_t n)
{
    nd_sb_init(sb);
    nd_sb_append(sb, ND_NBC_MAGIC, 8);
    nd_sb_u32(sb, ND_NBC_VERSION);
    nd_sb_u32(sb, 0);
    nd_sb_u64(sb, 0);
    nd_sb_u32(sb, 0);
    nd_sb_append(sb, payload, n);
    reseal(sb);
}

/* The start of a payload: source hash, a source name. */
static void payload_prefix(nd_strbuf *pl)
{
    nd_sb_init(pl);
    uint8_t h[32] = {0};
    nd_sb_append(pl, h, 32);
    nd_sb_u32(pl, 1);
    nd_sb_puts(pl, "s");
}

/* ---- round trips ---- */

START_TEST(test_roundtrip)
{
    size_t live = nd_alloc_live();
    nd_program *p = sample();
    ck_assert_int_eq(nd_nbc_verify(p), ND_OK);
    nd_strbuf sb, sb2;
    serialize(p, &sb);
    ck_assert(nd_nbc_is_nbc(sb.data, sb.len));
    ck_assert(!nd_nbc_is_nbc("NOODLEB", 7));
    ck_assert(!nd_nbc_is_nbc("print(1)\n", 9));
    nd_program *q = NULL;
    ck_assert_int_eq(nd_nbc_read(sb.data, sb.len, &q), ND_OK);
    ck_assert_int_eq(nd_nbc_verify(q), ND_OK);
    assert_same(p, q);
    /* Serializing is deterministic and the read program serializes identically. */
    serialize(q, &sb2);
    ck_assert_uint_eq(sb.len, sb2.len);
    ck_assert_mem_eq(sb.data, sb2.data, sb.len);
    /* The hash is SHA-256 of exactly these bytes. */
    uint8_t h1[32], h2[32];
    ck_assert_int_eq(nd_nbc_hash(p, h1), ND_OK);
    nd_sha256_buf(sb.data, sb.len, h2);
    ck_assert_mem_eq(h1, h2, 32);
    /* ...and changes with any part of the program. */
    q->funcs[1].pos[0].col++;
    ck_assert_int_eq(nd_nbc_hash(q, h2), ND_OK);
    ck_assert(memcmp(h1, h2, 32) != 0);
    /* The header is as documented. */
    ck_assert_mem_eq(sb.data, "NOODLEBC\x02\0\0\0\x01\0\0\0", 16);
    nd_sb_free(&sb);
    nd_sb_free(&sb2);
    nd_program_free(p);
    nd_program_free(q);
    nd_program_free(NULL);
    ck_assert_uint_eq(nd_alloc_live(), live);
}
END_TEST

START_TEST(test_all_opcodes)
{
    nd_program *p = all_opcodes();
    ck_assert_msg(nd_nbc_verify(p) == ND_OK, "%s", nd_err_msg());
    nd_strbuf sb;
    serialize(p, &sb);
    nd_program *q = NULL;
    ck_assert_int_eq(nd_nbc_read(sb.data, sb.len, &q), ND_OK);
    ck_assert_int_eq(nd_nbc_verify(q), ND_OK);
    assert_same(p, q);
    /* The disassembly names every opcode, and nd_nbc_opname agrees with it. */
    char *text = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&text, &tlen);
    ck_assert_int_eq(nd_nbc_disasm(q, f), ND_OK);
    fclose(f);
    for (unsigned op = 0; op < ND_NUM_OPCODES; op++) {
        char want[32], want2[32];
        snprintf(want, sizeof want, " %-10s ", nd_nbc_opname(op));
        snprintf(want2, sizeof want2, " %s\n", nd_nbc_opname(op));
        ck_assert_msg(strstr(text, want) || strstr(text, want2), "no %s in the disassembly",
                      nd_nbc_opname(op));
    }
    ck_assert_str_eq(nd_nbc_opname(ND_OP_LOADK), "LOADK");
    ck_assert_ptr_null(nd_nbc_opname(ND_NUM_OPCODES));
    free(text);
    nd_sb_free(&sb);
    nd_program_free(p);
    nd_program_free(q);
}
END_TEST

/* Empty pools, an empty string, extreme numbers, a long line table. */
START_TEST(test_roundtrip_edges)
{
    nd_program *p = new_prog(1);
    p->nconsts = 3;
    p->consts = ND_ALLOC_N(nd_const, 3);
    p->consts[0] = (nd_const){.kind = ND_K_STR, .s = nd_malloc(1), .slen = 0};
    p->consts[0].s[0] = '\0';
    p->consts[1] = (nd_const){.kind = ND_K_FLOAT, .f = -0.0};
    p->consts[2] = (nd_const){.kind = ND_K_INT, .i = INT64_MAX};
    enum { N = 3000 };
    nd_instr *code = calloc(N, sizeof *code);
    for (int k = 0; k < N - 1; k++) code[k] = ins(ND_OP_NOP, 0, 0, 0, 0);
    code[N - 1] = ins(ND_OP_RET, 0, 0, 0, 0);
    set_func(p, 0, "<main>", UINT32_MAX - 5, 0, 1, code, N);
    free(code);
    p->funcs[0].pos[7] = (nd_pos){0, UINT32_MAX};
    p->funcs[0].pos[8] = (nd_pos){UINT32_MAX, 0};
    ck_assert_int_eq(nd_nbc_verify(p), ND_OK);
    nd_strbuf sb;
    serialize(p, &sb);
    nd_program *q = NULL;
    ck_assert_int_eq(nd_nbc_read(sb.data, sb.len, &q), ND_OK);
    assert_same(p, q);
    ck_assert(signbit(q->consts[1].f));
    nd_sb_free(&sb);
    nd_program_free(p);
    nd_program_free(q);
}
END_TEST

/* ---- reader rejections ---- */

START_TEST(test_truncate_every_offset)
{
    nd_program *p = sample();
    nd_strbuf sb;
    serialize(p, &sb);
    for (size_t n = 0; n < sb.len; n++) {
        /* A private copy, so that ASan sees any read past the shortened end. */
        char *cut = malloc(n ? n : 1);
        memcpy(cut, sb.data, n);
        expect_read_fail(cut, n, ND_EINVALID, n == 0 ? "not a bytecode file" : "truncated bytecode file (");
        free(cut);
    }
    /* The message names the section where the file ends. */
    expect_read_fail(sb.data, 20, ND_EINVALID, "truncated bytecode file (header)");
    expect_read_fail(sb.data, 28 + 40, ND_EINVALID, "truncated bytecode file (source name)");
    expect_read_fail(sb.data, 28 + 60, ND_EINVALID, "truncated bytecode file (constants)");
    expect_read_fail(sb.data, sb.len - 40, ND_EINVALID, "truncated bytecode file (function ");
    nd_sb_free(&sb);
    nd_program_free(p);
}
END_TEST

START_TEST(test_flip_every_byte)
{
    nd_program *p = sample();
    nd_strbuf sb;
    serialize(p, &sb);
    FILE *devnull = fopen("/dev/null", "w");
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    for (size_t i = 0; i < sb.len; i++) {
        for (size_t m = 0; m < ND_ARRAY_LEN(masks); m++) {
            char *bad = malloc(sb.len);
            memcpy(bad, sb.data, sb.len);
            bad[i] ^= (char)masks[m];
            nd_program *q = NULL;
            nd_status st = nd_nbc_read(bad, sb.len, &q);
            if (i >= 12 && i < 16) {
                /* The flags field is not covered by the CRC; the program still reads. */
                ck_assert_int_eq(st, ND_OK);
            } else {
                ck_assert_int_eq(st, ND_EINVALID);
                if (i >= 28) ck_assert_str_eq(nd_err_msg(), "checksum mismatch: the file is corrupt");
            }
            if (q) {
                nd_nbc_verify(q);
                ck_assert_int_eq(nd_nbc_disasm(q, devnull), ND_OK);
                nd_program_free(q);
            }
            free(bad);
        }
    }
    fclose(devnull);
    nd_sb_free(&sb);
    nd_program_free(p);
}
END_TEST

/* Payload bytes flipped and the file resealed: the CRC no longer helps, the parser
 * itself must hold (never a crash, never a leak). */
START_TEST(test_flip_resealed)
{
    nd_program *p = sample();
    nd_strbuf sb;
    serialize(p, &sb);
    FILE *devnull = fopen("/dev/null", "w");
    size_t live = nd_alloc_live();
    int accepted = 0, rejected = 0;
    for (size_t i = 28; i < sb.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            nd_strbuf bad;
            nd_sb_init(&bad);
            nd_sb_append(&bad, sb.data, sb.len);
            bad.data[i] ^= (char)(1u << bit);
            reseal(&bad);
            nd_program *q = NULL;
            nd_status st = nd_nbc_read(bad.data, bad.len, &q);
            ck_assert(st == ND_OK || st == ND_EINVALID);
            if (q) {
                accepted++;
                nd_nbc_verify(q);
                ck_assert_int_eq(nd_nbc_disasm(q, devnull), ND_OK);
                nd_program_free(q);
            } else {
                rejected++;
            }
            nd_sb_free(&bad);
        }
    }
    ck_assert_int_gt(accepted, 0);
    ck_assert_int_gt(rejected, 0);
    ck_assert_uint_eq(nd_alloc_live(), live);
    fclose(devnull);
    nd_sb_free(&sb);
    nd_program_free(p);
}
END_TEST

START_TEST(test_header_errors)
{
    nd_program *p = sample();
    nd_strbuf sb;
    serialize(p, &sb);
    char *bad = malloc(sb.len + 1);

    memcpy(bad, sb.data, sb.len);
    bad[0] = 'M';
    expect_read_fail(bad, sb.len, ND_EINVALID, "not a bytecode file (bad magic)");
    expect_read_fail("x = 1\n", 6, ND_EINVALID, "not a bytecode file (bad magic)");
    expect_read_fail("NOOD", 4, ND_EINVALID, "truncated bytecode file (header)");

    memcpy(bad, sb.data, sb.len);
    put32(bad + 8, 7);
    expect_read_fail(bad, sb.len, ND_EINVALID,
                     "unsupported bytecode version 7 (this build reads version 2)");
    /* The version is checked before the rest of the header. */
    expect_read_fail(bad, 12, ND_EINVALID, "unsupported bytecode version 7");

    memcpy(bad, sb.data, sb.len);
    bad[sb.len] = 0;
    expect_read_fail(bad, sb.len + 1, ND_EINVALID, "trailing garbage after the bytecode (1 bytes)");

    memcpy(bad, sb.data, sb.len);
    bad[sb.len - 1] ^= 0x10;
    expect_read_fail(bad, sb.len, ND_EINVALID, "checksum mismatch: the file is corrupt");
    memcpy(bad, sb.data, sb.len);
    bad[25] ^= 0x10;
    expect_read_fail(bad, sb.len, ND_EINVALID, "checksum mismatch: the file is corrupt");

    /* A declared payload longer than the file: the file is truncated. */
    memcpy(bad, sb.data, sb.len);
    bad[16 + 7] = 0x7f;
    expect_read_fail(bad, sb.len, ND_EINVALID, "truncated bytecode file (payload: ");
    free(bad);
    nd_sb_free(&sb);
    nd_program_free(p);
}
END_TEST

/* Crafted payloads with a valid CRC: counts that the rest of the file cannot hold are
 * errors before any allocation, and so are bad kinds, names and line tables. */
START_TEST(test_payload_errors)
{
    nd_alloc_set_limit(nd_alloc_live() + (1u << 20));  /* no big allocation may happen */
    nd_strbuf pl, f;

    payload_prefix(&pl);
    nd_sb_u32(&pl, UINT32_MAX);  /* constants */
    raw_file(&f, pl.data, pl.len);
    expect_read_fail(f.data, f.len, ND_EINVALID,
                     "corrupt bytecode file: constant count 4294967295 but only 0 bytes remain");
    nd_sb_free(&f);
    nd_sb_free(&pl);

    payload_prefix(&pl);
    nd_sb_u32(&pl, 0);
    nd_sb_u32(&pl, 0x10000000);  /* globals */
    nd_sb_u32(&pl, 0);
    raw_file(&f, pl.data, pl.len);
    expect_read_fail(f.data, f.len, ND_EINVALID, "global count 268435456 but only 4 bytes");
    nd_sb_free(&f);
    nd_sb_free(&pl);

    payload_prefix(&pl);
    nd_sb_u32(&pl, 0);
    nd_sb_u32(&pl, 0);
    nd_sb_u32(&pl, 3000000);  /* functions */
    raw_file(&f, pl.data, pl.len);
    expect_read_fail(f.data, f.len, ND_EINVALID, "function count 3000000");
    nd_sb_free(&f);
    nd_sb_free(&pl);

    /* One function claiming 2^32-1 instructions. */
    payload_prefix(&pl);
    nd_sb_u32(&pl, 0);
    nd_sb_u32(&pl, 0);
    nd_sb_u32(&pl, 1);
    nd_sb_u32(&pl, 1);
    nd_sb_puts(&pl, "f");
    nd_sb_u32(&pl, 1);
    nd_sb_u32(&pl, 0);
    nd_sb_u32(&pl, 1);
    nd_sb_u32(&pl, UINT32_MAX);
    nd_sb_append(&pl, "\x25\0\0\0\0\0\0\0\0\0", 10);
    raw_file(&f, pl.data, pl.len);
    expect_read_fail(f.data, f.len, ND_EINVALID, "instruction count 4294967295 but only 10 bytes");
    nd_sb_free(&f);
    nd_sb_free(&pl);

    /* A string constant longer than the file. */
    payload_prefix(&pl);
    nd_sb_u32(&pl, 1);
    nd_sb_u8(&pl, ND_K_STR);
    nd_sb_u32(&pl, 0xfffffff0u);
    nd_sb_u32(&pl, 0);
    nd_sb_u32(&pl, 0);
    raw_file(&f, pl.data, pl.len);
    expect_read_fail(f.data, f.len, ND_EINVALID, "truncated bytecode file (constant 0)");
    nd_sb_free(&f);
    nd_sb_free(&pl);

    payload_prefix(&pl);
    nd_sb_u32(&pl, 1);
    nd_sb_u8(&pl, 9);
    nd_sb_u64(&pl, 0);
    raw_file(&f, pl.data, pl.len);
    expect_read_fail(f.data, f.len, ND_EINVALID, "constant 0 has unknown kind 9");
    nd_sb_free(&f);
    nd_sb_free(&pl);

    /* A NUL inside a global's name. */
    payload_prefix(&pl);
    nd_sb_u32(&pl, 0);
    nd_sb_u32(&pl, 1);
    nd_sb_u32(&pl, 3);
    nd_sb_append(&pl, "a\0b", 3);
    nd_sb_u32(&pl, 0);
    raw_file(&f, pl.data, pl.len);
    expect_read_fail(f.data, f.len, ND_EINVALID, "NUL byte inside a name (global 0 name)");
    nd_sb_free(&f);
    nd_sb_free(&pl);

    /* Line tables: an over-long varint, a line below 0, the table cut short. */
    for (int c = 0; c < 3; c++) {
        payload_prefix(&pl);
        nd_sb_u32(&pl, 0);
        nd_sb_u32(&pl, 0);
        nd_sb_u32(&pl, 1);
        nd_sb_u32(&pl, 1);
        nd_sb_puts(&pl, "f");
        nd_sb_u32(&pl, 5);  /* line */
        nd_sb_u32(&pl, 0);
        nd_sb_u32(&pl, 1);
        nd_sb_u32(&pl, 1);
        nd_sb_append(&pl, "\x25\0\0\0\0\0\0\0", 8);
        if (c == 0) nd_sb_append(&pl, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f\x01", 11);
        if (c == 1) nd_sb_append(&pl, "\x0b\x01", 2);  /* delta -6 from line 5 */
        if (c == 2) nd_sb_append(&pl, "\x00\x80", 2);
        raw_file(&f, pl.data, pl.len);
        expect_read_fail(f.data, f.len, ND_EINVALID,
                         c == 0 ? "bad varint (function 0 line table)"
                         : c == 1 ? "position out of range in the line table of function 0"
                                  : "truncated bytecode file (function 0 line table)");
        nd_sb_free(&f);
        nd_sb_free(&pl);
    }

    /* Bytes after the function table, inside the checksummed payload. */
    payload_prefix(&pl);
    nd_sb_u32(&pl, 0);
    nd_sb_u32(&pl, 0);
    nd_sb_u32(&pl, 0);
    nd_sb_puts(&pl, "xyz");
    raw_file(&f, pl.data, pl.len);
    expect_read_fail(f.data, f.len, ND_EINVALID, "3 bytes of garbage after the function table");
    nd_sb_free(&f);
    nd_sb_free(&pl);

    /* A well-formed empty program reads (and the verifier, not the reader, rejects it). */
    payload_prefix(&pl);
    nd_sb_u32(&pl, 0);
    nd_sb_u32(&pl, 0);
    nd_sb_u32(&pl, 0);
    raw_file(&f, pl.data, pl.len);
    nd_program *q = NULL;
    ck_assert_int_eq(nd_nbc_read(f.data, f.len, &q), ND_OK);
    ck_assert_int_eq(nd_nbc_verify(q), ND_EINVALID);
    ck_assert_str_eq(nd_err_msg(), "invalid bytecode: no main chunk");
    nd_program_free(q);
    nd_sb_free(&f);
    nd_sb_free(&pl);
    nd_alloc_set_limit(0);
}
END_TEST

/* ---- verifier rejections ---- */

typedef struct vcase {
    const char *what;
    uint32_t func, k;  /* the instruction replaced (k == UINT32_MAX: none) */
    nd_instr in;
    int tweak;         /* a change outside the code, see apply() */
    const char *msg;
} vcase;

enum { T_NONE, T_NPARAMS, T_MAIN_PARAMS, T_NO_RET, T_NREGS0, T_NREGS_HUGE, T_NOCODE };

static void apply(nd_program *p, const vcase *c)
{
    if (c->k != UINT32_MAX) p->funcs[c->func].code[c->k] = c->in;
    nd_func *f = &p->funcs[c->func];
    switch (c->tweak) {
    case T_NPARAMS: f->nparams = f->nregs + 1; break;
    case T_MAIN_PARAMS: f->nparams = 1; break;
    case T_NO_RET: f->code[f->ncode - 1] = ins(ND_OP_NOP, 0, 0, 0, 0); break;
    case T_NREGS0: f->nregs = 0, f->nparams = 0; break;
    case T_NREGS_HUGE: f->nregs = 70000; break;
    case T_NOCODE: f->ncode = 0; break;
    default: break;
    }
}

START_TEST(test_verify_rejects)
{
    /* main has 6 registers and 14 instructions; add (function 1) has 3 registers. */
    const vcase cases[] = {
        {"unknown opcode", 0, 3, {200, 0, 0, 0, 0}, 0,
         "function 0 (<main>), instruction 3 (?): unknown opcode 200"},
        {"R in A", 0, 3, ins(ND_OP_MOVE, 0, 6, 0, 0), 0,
         "instruction 3 (MOVE): register A=6 out of range (nregs 6)"},
        {"R in C", 1, 0, ins(ND_OP_ADD, 0, 2, 0, 3), 0,
         "function 1 (add), instruction 0 (ADD): register C=3 out of range (nregs 3)"},
        {"K", 0, 0, insbx(ND_OP_LOADK, 0, 4), 0, "(LOADK): constant Bx=4 out of range (4 constants)"},
        {"G", 0, 6, insbx(ND_OP_SETG, 0, 2), 0, "(SETG): global Bx=2 out of range (2 globals)"},
        {"F", 0, 2, insbx(ND_OP_LOADFN, 0, 3), 0, "(LOADFN): function Bx=3 out of range (3 functions)"},
        {"F main", 0, 2, insbx(ND_OP_LOADFN, 0, 0), 0, "the main chunk (function 0) is not a function value"},
        {"I", 0, 2, insbx(ND_OP_LOADBI, 0, ND_NBUILTINS), 0, "(LOADBI): builtin Bx="},
        {"I in CALLB", 0, 8, ins(ND_OP_CALLB, 1, 0, 0, 1000), 0, "(CALLB): builtin C=1000 out of range"},
        {"J forward", 0, 9, insbx(ND_OP_JMP, 0, 4), 0,
         "instruction 9 (JMP): jump to 14 outside the function (14 instructions)"},
        {"J backward", 0, 12, insbx(ND_OP_TEST, 0, -14), 0, "(TEST): jump to -1 outside the function"},
        {"J far", 0, 12, insbx(ND_OP_JMPFALSY, 0, INT32_MIN), 0, "jump to -2147483635"},
        /* The safe-point invariant: only JMP, FORLOOP and ITERLOOP jump backwards. */
        {"TEST back", 0, 12, insbx(ND_OP_TEST, 0, -12), 0,
         "function 0 (<main>), instruction 12 (TEST): backward jump to 1 (only JMP, FORLOOP "
         "and ITERLOOP may jump backwards"},
        {"TEST self", 0, 12, insbx(ND_OP_TEST, 0, -1), 0, "(TEST): backward jump to 12"},
        {"JMPFALSY back", 0, 12, insbx(ND_OP_JMPFALSY, 0, -5), 0, "(JMPFALSY): backward jump to 8"},
        {"JMPTRUTHY back", 0, 12, insbx(ND_OP_JMPTRUTHY, 0, -13), 0, "(JMPTRUTHY): backward jump to 0"},
        {"FORPREP back", 0, 12, insbx(ND_OP_FORPREP, 0, -2), 0, "(FORPREP): backward jump to 11"},
        {"ITERPREP back", 0, 12, insbx(ND_OP_ITERPREP, 0, -3), 0, "(ITERPREP): backward jump to 10"},
        {"JMP x", 0, 12, withx(insbx(ND_OP_JMP, 0, -12), 2), 0, "(JMP): x=2 is not 0 or ND_X_LOCAL"},
        {"FORLOOP x", 0, 12, withx(insbx(ND_OP_FORLOOP, 0, -12), 3), 0, "(FORLOOP): x=3 is not"},
        {"ITERLOOP x", 0, 12, withx(insbx(ND_OP_ITERLOOP, 0, -12), 128), 0, "(ITERLOOP): x=128"},
        {"CALL x", 0, 5, ins(ND_OP_CALL, 2, 2, 2, 0), 0, "(CALL): x=2 is not 0 or ND_X_LOCAL"},
        {"TEST x", 0, 12, withx(insbx(ND_OP_TEST, 0, 1), 1), 0, "(TEST): unused operand x is 1"},
        {"unused B", 0, 3, ins(ND_OP_LOADNIL, 0, 0, 1, 0), 0, "(LOADNIL): unused operand B is 1, not 0"},
        {"unused C", 0, 3, ins(ND_OP_MOVE, 0, 0, 1, 2), 0, "(MOVE): unused operand C is 2, not 0"},
        {"unused A", 0, 9, insbx(ND_OP_JMP, 1, 1), 0, "(JMP): unused operand A is 1, not 0"},
        {"unused x", 0, 3, ins(ND_OP_MOVE, 5, 0, 1, 0), 0, "(MOVE): unused operand x is 5, not 0"},
        {"NOP operands", 0, 10, ins(ND_OP_NOP, 0, 0, 0, 9), 0, "(NOP): unused operand C is 9"},
        {"RET B", 1, 1, ins(ND_OP_RET, 0, 2, 2, 0), 0, "(RET): B=2 must be 0 or 1"},
        {"CALL range", 0, 5, ins(ND_OP_CALL, 0, 2, 4, 0), 0,
         "(CALL): call registers R[2..6] beyond the 6 registers of the frame"},
        {"CALL huge", 0, 5, ins(ND_OP_CALL, 0, 5, 65535, 0), 0, "call registers R[5..65540]"},
        {"CALLB arity", 0, 8, ins(ND_OP_CALLB, 2, 0, 4, ND_BI_LEN), 0, "(CALLB): len takes 1 argument, not 2"},
        {"CALLB arity range", 0, 8, ins(ND_OP_CALLB, 3, 0, 0, ND_BI_NORM), 0, "norm takes 1 to 2 arguments, not 3"},
        {"CALLB arity 0", 0, 8, ins(ND_OP_CALLB, 1, 0, 0, ND_BI_RANK), 0, "rank takes 0 arguments, not 1"},
        {"CALLB range", 0, 8, ins(ND_OP_CALLB, 3, 0, 4, ND_BI_PRINT), 0,
         "(CALLB): argument registers R[4..6] beyond the 6 registers"},
        {"NEWLIST", 0, 3, ins(ND_OP_NEWLIST, 0, 0, 3, 4), 0, "(NEWLIST): element registers R[3..6]"},
        {"NEWMAP", 0, 3, ins(ND_OP_NEWMAP, 0, 0, 3, 2), 0, "(NEWMAP): key/value registers R[3..6]"},
        {"NEWMAP over", 0, 3, ins(ND_OP_NEWMAP, 0, 0, 2, 3), 0, "(NEWMAP): key/value registers R[2..7]"},
        {"FORPREP", 0, 9, insbx(ND_OP_FORPREP, 4, 1), 0, "(FORPREP): loop registers R[4..6]"},
        {"FORLOOP", 0, 9, insbx(ND_OP_FORLOOP, 5, 1), 0, "(FORLOOP): loop registers R[5..7]"},
        {"ITERPREP", 0, 9, insbx(ND_OP_ITERPREP, 4, 1), 0, "(ITERPREP): loop registers"},
        {"ITERLOOP", 0, 9, insbx(ND_OP_ITERLOOP, 4, -9), 0, "(ITERLOOP): loop registers"},
        {"GETINDEX2", 0, 3, ins(ND_OP_GETINDEX2, 0, 0, 1, 5), 0, "(GETINDEX2): index registers R[5..6]"},
        {"SETINDEX2", 0, 3, ins(ND_OP_SETINDEX2, 0, 0, 5, 1), 0, "(SETINDEX2): index registers R[5..6]"},
        {"GETSLICE", 0, 3, ins(ND_OP_GETSLICE, 0, 0, 1, 3), 0, "(GETSLICE): slice bound registers R[3..6]"},
        {"SETSLICE", 0, 3, ins(ND_OP_SETSLICE, 0, 0, 3, 1), 0, "(SETSLICE): slice bound registers R[3..6]"},
        {"GETSLICE x", 0, 3, ins(ND_OP_GETSLICE, 4, 0, 1, 1), 0, "(GETSLICE): x=4 has flag bits"},
        {"nparams", 1, UINT32_MAX, {0}, T_NPARAMS, "function 1 (add): 4 parameters but only 3 registers"},
        {"main params", 0, UINT32_MAX, {0}, T_MAIN_PARAMS, "function 0 (<main>): the main chunk takes 1 parameters"},
        {"no RET", 1, UINT32_MAX, {0}, T_NO_RET, "function 1 (add): the last instruction (1) is not RET"},
        {"nregs 0", 2, UINT32_MAX, {0}, T_NREGS0, "function 2 (<lambda>): 0 registers (must be 1 to 65536)"},
        {"nregs huge", 2, UINT32_MAX, {0}, T_NREGS_HUGE, "70000 registers"},
        {"no code", 2, UINT32_MAX, {0}, T_NOCODE, "function 2 (<lambda>): no code"},
    };
    for (size_t i = 0; i < ND_ARRAY_LEN(cases); i++) {
        nd_program *p = sample();
        ck_assert_int_eq(nd_nbc_verify(p), ND_OK);
        uint32_t ncode = p->funcs[cases[i].func].ncode;
        apply(p, &cases[i]);
        nd_status st = nd_nbc_verify(p);
        ck_assert_msg(st == ND_EINVALID, "case '%s' was accepted", cases[i].what);
        ck_assert_msg(strstr(nd_err_msg(), cases[i].msg), "case '%s': message '%s' lacks '%s'",
                      cases[i].what, nd_err_msg(), cases[i].msg);
        ck_assert_msg(strncmp(nd_err_msg(), "invalid bytecode: ", 18) == 0, "%s", nd_err_msg());
        /* What the verifier rejects still serializes and reads back, so that the
         * rejection also happens after a round trip through a file. */
        nd_strbuf sb;
        serialize(p, &sb);
        nd_program *q = NULL;
        ck_assert_int_eq(nd_nbc_read(sb.data, sb.len, &q), ND_OK);
        ck_assert_int_eq(nd_nbc_verify(q), ND_EINVALID);
        ck_assert_msg(strstr(nd_err_msg(), cases[i].msg), "after reading: %s", nd_err_msg());
        nd_program_free(q);
        nd_sb_free(&sb);
        p->funcs[cases[i].func].ncode = ncode;  /* T_NOCODE: free what was allocated */
        nd_program_free(p);
    }
}
END_TEST

/* The boundaries that must be accepted: the last register, the last constant, jumps to
 * the first and last instruction, builtins at both ends of their arity. */
START_TEST(test_verify_accepts_limits)
{
    const nd_instr ok[] = {
        ins(ND_OP_CALL, 0, 2, 3, 0),                 /* R[2..5] */
        ins(ND_OP_CALLB, 3, 0, 3, ND_BI_PRINT),      /* R[3..5] */
        ins(ND_OP_CALLB, 0, 0, 0, ND_BI_RANK),
        ins(ND_OP_CALLB, 2, 0, 4, ND_BI_NORM),
        ins(ND_OP_CALLB, 1, 0, 5, ND_BI_NORM),
        ins(ND_OP_NEWLIST, 0, 0, 0, 0),              /* empty list: no range */
        ins(ND_OP_NEWLIST, 0, 0, 0, 6),
        ins(ND_OP_NEWMAP, 0, 0, 0, 3),
        ins(ND_OP_GETSLICE, 3, 5, 5, 2),
        insbx(ND_OP_FORPREP, 3, 0),
        insbx(ND_OP_LOADK, 5, 3),
        insbx(ND_OP_LOADI, 5, INT32_MIN),
        insbx(ND_OP_LOADBI, 0, ND_NBUILTINS - 1),
        ins(ND_OP_LOADBOOL, 0, 0, 1, 0),
        ins(ND_OP_CALL, ND_X_LOCAL, 2, 3, 0),       /* a local safe point */
    };
    for (size_t i = 0; i < ND_ARRAY_LEN(ok); i++) {
        nd_program *p = sample();
        p->funcs[0].code[3] = ok[i];
        ck_assert_msg(nd_nbc_verify(p) == ND_OK, "case %zu: %s", i, nd_err_msg());
        nd_program_free(p);
    }
    nd_program *p = sample();
    p->funcs[0].code[9] = insbx(ND_OP_JMP, 0, -10);  /* to 0 */
    ck_assert_int_eq(nd_nbc_verify(p), ND_OK);
    p->funcs[0].code[9] = insbx(ND_OP_JMP, 0, 3);    /* to 13, the RET */
    ck_assert_int_eq(nd_nbc_verify(p), ND_OK);
    /* Backward by the three safe-point instructions, local or not; conditional jumps
     * forward, including to the next instruction. */
    const nd_instr back[] = {
        insbx(ND_OP_JMP, 0, -1),             /* to itself */
        withx(insbx(ND_OP_JMP, 0, -13), ND_X_LOCAL),
        insbx(ND_OP_FORLOOP, 0, -12),
        withx(insbx(ND_OP_FORLOOP, 0, -12), ND_X_LOCAL),
        withx(insbx(ND_OP_ITERLOOP, 0, -1), ND_X_LOCAL),
        insbx(ND_OP_TEST, 0, 0),
        insbx(ND_OP_JMPTRUTHY, 0, 0),
    };
    for (size_t i = 0; i < ND_ARRAY_LEN(back); i++) {
        p->funcs[0].code[12] = back[i];
        ck_assert_msg(nd_nbc_verify(p) == ND_OK, "back case %zu: %s", i, nd_err_msg());
    }
    p->funcs[1].nparams = 3;                         /* nparams == nregs */
    ck_assert_int_eq(nd_nbc_verify(p), ND_OK);
    nd_program_free(p);
}
END_TEST

/* ---- disassembly ---- */

static char *disasm_text(const nd_program *p)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    ck_assert_int_eq(nd_nbc_disasm(p, f), ND_OK);
    fclose(f);
    return text;
}

START_TEST(test_disasm)
{
    nd_program *p = sample();
    char *text = disasm_text(p);
    char hex[65];
    nd_hex(p->source_sha256, 32, hex);
    char head[1024];
    snprintf(head, sizeof head,
             "; noodle bytecode, format version 2\n"
             "source    dir/prog.noodle\n"
             "sha256    %s\n"
             "flags     0x1 (optimized)\n"
             "\n"
             "constants (4)\n"
             "    K0     int   42\n"
             "    K1     float 2.5\n"
             "    K2     str   \"hi\\n\\x00\\\"x\\\\\"\n"
             "    K3     int   -9223372036854775808\n"
             "\n"
             "globals (2)\n"
             "    G0     x\n"
             "    G1     add\n"
             "\n"
             "function F0 <main>: line 1, 0 params, 6 regs, 14 instructions\n",
             hex);
    ck_assert_msg(strncmp(text, head, strlen(head)) == 0, "got:\n%s", text);
    static const char *const lines[] = {
        "     0  1:1       LOADK      R0 K0            ; 42\n",
        "     1  2:5       LOADI      R1 -5\n",
        "     2  3:9       LOADFN     R2 F1            ; add\n",
        "     5  1003:1    CALL       R2 2\n",
        "     6  1:5       SETG       R2 G0            ; x\n",
        "     7  2:9       LOADK      R5 K2            ; \"hi\\n\\x00\\\"x\\\\\"\n",
        "     8  3:13      CALLB      R0 R4 I",
        "; print\n",
        "     9  1:17      JMP        ->11\n",
        "    10  2:1       NOP\n",
        "    11  3:5       LOADFN     R1 F2            ; <lambda>\n",
        "    12  1:9       JMP        ->1\n",
        "    13  2:13      RET        R0 0\n",
        "\nfunction F1 add: line 3, 2 params, 3 regs, 2 instructions\n"
        "     0  3:1       ADD        R2 R0 R1\n"
        "     1  4:5       RET        R2 1\n",
        "\nfunction F2 <lambda>: line 70000, 1 params, 1 regs, 1 instructions\n",
    };
    for (size_t i = 0; i < ND_ARRAY_LEN(lines); i++)
        ck_assert_msg(strstr(text, lines[i]), "no '%s' in:\n%s", lines[i], text);
    char ops[32], callb[80];
    snprintf(ops, sizeof ops, "R0 R4 I%d x=2", (int)ND_BI_PRINT);
    snprintf(callb, sizeof callb, "CALLB      %-16s ; print\n", ops);
    ck_assert_msg(strstr(text, callb), "no '%s' in:\n%s", callb, text);
    /* Stable: the same program lists the same way twice, and after a round trip. */
    nd_strbuf sb;
    serialize(p, &sb);
    nd_program *q = NULL;
    ck_assert_int_eq(nd_nbc_read(sb.data, sb.len, &q), ND_OK);
    char *text2 = disasm_text(q);
    ck_assert_str_eq(text, text2);
    free(text2);
    nd_program_free(q);
    nd_sb_free(&sb);
    free(text);
    nd_program_free(p);
}
END_TEST

/* An unverified program lists without following bad operands. */
START_TEST(test_disasm_unverified)
{
    nd_program *p = sample();
    p->funcs[0].code[0] = insbx(ND_OP_LOADK, 0, 99);
    p->funcs[0].code[1] = ins(250, 1, 2, 3, 4);
    p->funcs[0].code[2] = insbx(ND_OP_LOADFN, 0, 99);
    p->funcs[0].code[3] = ins(ND_OP_CALLB, 0, 0, 0, 999);
    p->funcs[0].code[4] = insbx(ND_OP_GETG, 0, 7);
    char *text = disasm_text(p);
    ck_assert_ptr_nonnull(strstr(text, "LOADK      R0 K99           ; ?\n"));
    ck_assert_ptr_nonnull(strstr(text, "     1  2:5       ?          1 2 3 4\n"));
    ck_assert_ptr_nonnull(strstr(text, "LOADFN     R0 F99           ; ?\n"));
    ck_assert_ptr_nonnull(strstr(text, "CALLB      R0 R0 I999       ; ?\n"));
    ck_assert_ptr_nonnull(strstr(text, "GETG       R0 G7            ; ?\n"));
    free(text);
    nd_program_free(p);
}
END_TEST

/* ---- files ---- */

START_TEST(test_files)
{
    char dir[] = "/tmp/check_nbc_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256], missing[256];
    snprintf(path, sizeof path, "%s/prog.nbc", dir);
    snprintf(missing, sizeof missing, "%s/none.nbc", dir);
    nd_program *p = sample(), *q = NULL;

    ck_assert_int_eq(nd_nbc_read_file(missing, &q), ND_EUSAGE);
    ck_assert_ptr_null(q);
    char want[512];
    snprintf(want, sizeof want, "cannot open '%s': No such file or directory", missing);
    ck_assert_str_eq(nd_err_msg(), want);

    ck_assert_int_eq(nd_nbc_write_file(p, path), ND_OK);
    ck_assert_int_eq(nd_nbc_read_file(path, &q), ND_OK);
    assert_same(p, q);
    nd_program_free(q);

    /* Corrupt one payload byte on disk: the message names the file. */
    FILE *f = fopen(path, "r+b");
    fseek(f, 40, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    ck_assert_int_eq(nd_nbc_read_file(path, &q), ND_EINVALID);
    snprintf(want, sizeof want, "%s: checksum mismatch: the file is corrupt", path);
    ck_assert_str_eq(nd_err_msg(), want);

    /* An empty file and a directory. */
    f = fopen(path, "wb");
    fclose(f);
    ck_assert_int_eq(nd_nbc_read_file(path, &q), ND_EINVALID);
    snprintf(want, sizeof want, "%s: not a bytecode file (bad magic)", path);
    ck_assert_str_eq(nd_err_msg(), want);
    ck_assert_int_eq(nd_nbc_read_file(dir, &q), ND_EUSAGE);

    /* What the programs read as bytecode: a .nbc name whatever its bytes (an empty or
     * truncated .nbc is a bad bytecode file, not a source that compiles to nothing), or
     * the magic under any name. */
    ck_assert_int_eq(nd_nbc_file_kind(path), 1); /* the empty prog.nbc */
    ck_assert_int_eq(nd_nbc_file_kind(missing), -1);
    char src[256];
    snprintf(src, sizeof src, "%s/prog.noodle", dir);
    f = fopen(src, "wb");
    fputs("print(1)\n", f);
    fclose(f);
    ck_assert_int_eq(nd_nbc_file_kind(src), 0);
    ck_assert_int_eq(nd_nbc_write_file(p, src), ND_OK);
    ck_assert_int_eq(nd_nbc_file_kind(src), 1);
    unlink(src);


    ck_assert_int_eq(nd_nbc_write_file(p, dir), ND_EUSAGE); /* a directory */
    snprintf(want, sizeof want, "cannot write '%s': Is a directory", dir);
    ck_assert_str_eq(nd_err_msg(), want);
    ck_assert_int_eq(nd_nbc_write_file(p, "/nonexistent/dir/x.nbc"), ND_EUSAGE);
    ck_assert_ptr_nonnull(strstr(nd_err_msg(), "cannot write '/nonexistent/dir/x.nbc'"));
    unlink(path);
    rmdir(dir);
    nd_program_free(p);
}
END_TEST

/* ---- allocation failures ---- */

/* Failing each allocation in turn: the reader and writer report ND_ENOMEM and free
 * everything they had built. */
START_TEST(test_alloc_failures)
{
    nd_program *p = sample();
    nd_strbuf sb;
    serialize(p, &sb);
    size_t live = nd_alloc_live();
    bool reached_ok = false;
    for (size_t n = 1; n < 200 && !reached_ok; n++) {
        nd_alloc_fail_after(n);
        nd_program *q = NULL;
        nd_status st = nd_nbc_read(sb.data, sb.len, &q);
        nd_alloc_fail_after(0);
        if (st == ND_OK) {
            reached_ok = true;
            nd_program_free(q);
        } else {
            ck_assert_int_eq(st, ND_ENOMEM);
            ck_assert_ptr_null(q);
        }
        ck_assert_uint_eq(nd_alloc_live(), live);
    }
    ck_assert(reached_ok);
    for (size_t n = 1; n < 20; n++) {
        nd_strbuf out;
        nd_sb_init(&out);
        nd_sb_puts(&out, "prefix");
        nd_alloc_fail_after(n);
        nd_status st = nd_nbc_write(p, &out);
        nd_alloc_fail_after(0);
        ck_assert(st == ND_OK || st == ND_ENOMEM);
        if (st == ND_ENOMEM) ck_assert_str_eq(out.data, "prefix");
        nd_sb_free(&out);
    }
    nd_sb_free(&sb);
    nd_program_free(p);
}
END_TEST

static void write_text(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

/* Signed bytecode (nbc/sign.h): every byte of a signed file is covered, a signature is
 * trusted only by its key, and every bad key file is a clear ND_EUSAGE. */
START_TEST(test_signing)
{
    char dir[] = "/tmp/check_nbc_sign_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char alice[64], bob[64], path[300], pub[300], key[300], pubs[700], signer[ND_SIGN_ID_LEN + 1];
    snprintf(alice, sizeof alice, "%s/alice", dir);
    snprintf(bob, sizeof bob, "%s/bob", dir);
    ck_assert_int_eq(nd_sign_gen_key(alice), ND_OK);
    ck_assert_int_eq(nd_sign_gen_key(bob), ND_OK);
    ck_assert_int_eq(nd_sign_gen_key(alice), ND_EUSAGE); /* never replaced */
    snprintf(key, sizeof key, "%s.key", alice);
    struct stat sbuf;
    ck_assert_int_eq(stat(key, &sbuf), 0);
    ck_assert_uint_eq(sbuf.st_mode & 0777, 0600);
    uint8_t sk[64];
    ck_assert_int_eq(nd_sign_load_secret(key, sk), ND_OK);
    snprintf(pub, sizeof pub, "%s.pub", alice);
    snprintf(pubs, sizeof pubs, "%s.pub:%s.pub", bob, alice);

    nd_program *p = sample(), *q = NULL;
    nd_strbuf plain, sig, again;
    serialize(p, &plain);
    nd_sb_init(&sig), nd_sb_init(&again);
    ck_assert_int_eq(nd_nbc_sign(plain.data, plain.len, sk, &sig), ND_OK);
    ck_assert_uint_eq(sig.len, plain.len + ND_NBC_SIG_LEN);
    /* a signed file reads as the same program; re-signing replaces the signature */
    ck_assert_int_eq(nd_nbc_read(sig.data, sig.len, &q), ND_OK);
    assert_same(p, q);
    nd_program_free(q);
    ck_assert_int_eq(nd_nbc_sign(sig.data, sig.len, sk, &again), ND_OK);
    ck_assert_uint_eq(again.len, sig.len);
    ck_assert_mem_eq(again.data, sig.data, sig.len);

    ck_assert_int_eq(nd_sign_check(sig.data, sig.len, "p", pubs, true, signer), ND_OK);
    ck_assert_uint_eq(strlen(signer), ND_SIGN_ID_LEN);
    ck_assert_int_eq(nd_sign_check(sig.data, sig.len, "p", "", false, signer), ND_OK);
    ck_assert_uint_eq(strlen(signer), ND_SIGN_ID_LEN); /* recorded even when not required */
    snprintf(path, sizeof path, "%s.pub", bob);
    ck_assert_int_eq(nd_sign_check(sig.data, sig.len, "p", path, true, signer), ND_EINVALID);
    ck_assert_ptr_nonnull(strstr(nd_err_msg(), "which is not trusted"));
    ck_assert_int_eq(nd_sign_check(plain.data, plain.len, "p", pubs, true, signer), ND_EINVALID);
    ck_assert_ptr_nonnull(strstr(nd_err_msg(), "is not signed"));
    ck_assert_int_eq(nd_sign_check(plain.data, plain.len, "p", pubs, false, signer), ND_OK);
    ck_assert_str_eq(signer, "");
    ck_assert_int_eq(nd_sign_check(sig.data, sig.len, "p", "", true, signer), ND_EUSAGE);

    /* one bit flipped anywhere: never trusted, whatever the reader says */
    for (size_t i = 0; i < sig.len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            sig.data[i] ^= (char)(1 << bit);
            ck_assert_msg(nd_sign_check(sig.data, sig.len, "p", pubs, true, signer) == ND_EINVALID,
                          "a flip of bit %d at byte %zu passed", bit, i);
            sig.data[i] ^= (char)(1 << bit);
        }
    }
    /* truncated and extended */
    ck_assert_int_eq(nd_sign_check(sig.data, sig.len - 1, "p", pubs, true, signer), ND_EINVALID);
    ck_assert_int_eq(nd_sb_putc(&sig, 'x'), ND_OK);
    ck_assert_int_eq(nd_sign_check(sig.data, sig.len, "p", pubs, true, signer), ND_EINVALID);

    /* bad key files: missing, wrong type, wrong size, garbage, readable secret key */
    uint8_t pk[32];
    snprintf(path, sizeof path, "%s/none.pub", dir);
    ck_assert_int_eq(nd_sign_load_public(path, pk), ND_EUSAGE);
    ck_assert_ptr_nonnull(strstr(nd_err_msg(), "none.pub"));
    ck_assert_int_eq(nd_sign_load_public(key, pk), ND_EUSAGE);
    ck_assert_ptr_nonnull(strstr(nd_err_msg(), "is a secret key"));
    ck_assert_int_eq(nd_sign_load_secret(pub, sk), ND_EUSAGE);
    ck_assert_ptr_nonnull(strstr(nd_err_msg(), "is a public key"));
    snprintf(path, sizeof path, "%s/short.pub", dir);
    write_text(path, "noodle-sign-pub 1 0123456789abcdef x\n", 0644);
    ck_assert_int_eq(nd_sign_load_public(path, pk), ND_EUSAGE);
    ck_assert_ptr_nonnull(strstr(nd_err_msg(), "not a Noodle public key"));
    snprintf(path, sizeof path, "%s/junk.key", dir);
    write_text(path, "-----BEGIN OPENSSH PRIVATE KEY-----\n", 0600);
    ck_assert_int_eq(nd_sign_load_secret(path, sk), ND_EUSAGE);
    ck_assert_ptr_nonnull(strstr(nd_err_msg(), "not a Noodle secret key"));
    ck_assert_int_eq(chmod(key, 0640), 0);
    ck_assert_int_eq(nd_sign_load_secret(key, sk), ND_EUSAGE);
    ck_assert_ptr_nonnull(strstr(nd_err_msg(), "readable by others"));
    snprintf(pubs, sizeof pubs, "%s/none.pub:%s", dir, pub);
    ck_assert_int_eq(nd_sign_check(plain.data, plain.len, "p", pubs, false, signer), ND_EUSAGE);

    nd_sb_free(&plain), nd_sb_free(&sig), nd_sb_free(&again);
    nd_program_free(p);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *nbc_suite(void)
{
    Suite *s = suite_create("nbc");
    const TTest *tc_tests[] = {
        test_roundtrip, test_all_opcodes, test_roundtrip_edges, test_truncate_every_offset,
        test_flip_every_byte, test_flip_resealed, test_header_errors, test_payload_errors,
        test_verify_rejects, test_verify_accepts_limits, test_disasm,
        test_disasm_unverified, test_files, test_alloc_failures, test_signing, NULL};
    nd_check_tcase(s, "core", 120, tc_tests);
    return s;
}

int main(void)
{
    int failed = nd_check_run(nbc_suite(), 0);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
