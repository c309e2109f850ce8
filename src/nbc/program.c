/* program.c: freeing programs, the opcode tables expanded from noodle/opcodes.def, and
 * the bytecode hash.  nd_program_free accepts any partially built program: arrays are
 * sized exactly by their counts (nbc.h) and unset pointers are NULL.  Format and
 * layout: docs/bytecode.md. */
#include "nbc/nbc.h"

#include "common/alloc.h"
#include "common/hash.h"
#include "common/path.h"
#include "nbc/opinfo.h"

#include <string.h>

const nbc_opinfo nd_nbc_opinfo[ND_NUM_OPCODES] = {
#define OP(name, fmt, ka, kb, kc, doc) \
    {#name, NBC_FMT_##fmt, {NBC_K_##ka, NBC_K_##kb, NBC_K_##kc}},
#include "noodle/opcodes.def"
#undef OP
};

const char *nd_nbc_opname(unsigned op)
{
    return op < ND_NUM_OPCODES ? nd_nbc_opinfo[op].name : NULL;
}

void nd_program_free(nd_program *p)
{
    if (!p) return;
    nd_strfree(p->source_name);
    if (p->consts) {
        for (uint32_t i = 0; i < p->nconsts; i++)
            if (p->consts[i].kind == ND_K_STR && p->consts[i].s)
                nd_free(p->consts[i].s, (size_t)p->consts[i].slen + 1);
        ND_FREE_N(p->consts, p->nconsts);
    }
    if (p->funcs) {
        for (uint32_t i = 0; i < p->nfuncs; i++) {
            nd_func *f = &p->funcs[i];
            nd_strfree(f->name);
            if (f->code) ND_FREE_N(f->code, f->ncode);
            if (f->pos) ND_FREE_N(f->pos, f->ncode);
        }
        ND_FREE_N(p->funcs, p->nfuncs);
    }
    if (p->globals) {
        for (uint32_t i = 0; i < p->nglobals; i++) nd_strfree(p->globals[i]);
        ND_FREE_N(p->globals, p->nglobals);
    }
    nd_free(p, sizeof *p);
}

bool nd_nbc_is_nbc(const void *buf, size_t len)
{
    return buf && len >= 8 && memcmp(buf, ND_NBC_MAGIC, 8) == 0;
}

int nd_nbc_file_kind(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    unsigned char magic[8];
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    return nd_nbc_is_nbc(magic, got) || nd_path_is_bytecode(path);
}

/* The hash covers the whole serialized file (header included), so it changes with the
 * format version as well as with the program. */
nd_status nd_nbc_hash(const nd_program *p, uint8_t out[32])
{
    nd_strbuf sb;
    nd_sb_init(&sb);
    nd_status st = nd_nbc_write(p, &sb);
    if (st == ND_OK) nd_sha256_buf(sb.data, sb.len, out);
    nd_sb_free(&sb);
    return st;
}
