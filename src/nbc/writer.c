/* writer.c: serializes an nd_program into the .nbc format of docs/bytecode.md.
 * Every field is written explicitly little-endian through nd_sb_u*; nothing is dumped
 * raw, so the bytes are identical on every platform and the file hash is stable.
 * The header's payload length and CRC-32C are patched in once the payload is known. */
#include "nbc/nbc.h"

#include "common/hash.h"
#include "common/outfile.h"
#include "nbc/opinfo.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static nd_status put_str(nd_strbuf *sb, const char *s, size_t n)
{
    ND_CHECK(n <= UINT32_MAX, ND_EINVALID, "string of %zu bytes is too long for bytecode", n);
    ND_TRY(nd_sb_u32(sb, (uint32_t)n));
    return nd_sb_append(sb, s, n);
}

static nd_status put_name(nd_strbuf *sb, const char *s)
{
    return s ? put_str(sb, s, strlen(s)) : put_str(sb, "", 0);
}

/* Unsigned LEB128: 7 bits a byte, low groups first, high bit = more follows. */
static nd_status put_varint(nd_strbuf *sb, uint64_t v)
{
    do {
        uint8_t b = (uint8_t)(v & 0x7f);
        v >>= 7;
        ND_TRY(nd_sb_u8(sb, (uint8_t)(b | (v ? 0x80 : 0))));
    } while (v);
    return ND_OK;
}

static uint64_t zigzag(int64_t d)
{
    return d < 0 ? ((uint64_t)(-(d + 1)) << 1) | 1 : (uint64_t)d << 1;
}

/* The line table: per instruction, the line as a zigzag delta from the previous
 * instruction's line (the declaration line for the first) and the column as is. */
static nd_status put_lines(nd_strbuf *sb, const nd_func *f)
{
    int64_t prev = f->line;
    for (uint32_t k = 0; k < f->ncode; k++) {
        nd_pos pos = f->pos ? f->pos[k] : (nd_pos){0, 0};
        ND_TRY(put_varint(sb, zigzag((int64_t)pos.line - prev)));
        ND_TRY(put_varint(sb, pos.col));
        prev = pos.line;
    }
    return ND_OK;
}

static nd_status put_func(nd_strbuf *sb, const nd_func *f)
{
    ND_CHECK(f->ncode == 0 || f->code, ND_EINTERNAL, "function without code");
    ND_TRY(put_name(sb, f->name));
    ND_TRY(nd_sb_u32(sb, f->line));
    ND_TRY(nd_sb_u32(sb, f->nparams));
    ND_TRY(nd_sb_u32(sb, f->nregs));
    ND_TRY(nd_sb_u32(sb, f->ncode));
    ND_TRY(nd_sb_reserve(sb, (size_t)f->ncode * NBC_INSTR_SIZE));
    for (uint32_t k = 0; k < f->ncode; k++) {
        const nd_instr *in = &f->code[k];
        ND_TRY(nd_sb_u8(sb, in->op));
        ND_TRY(nd_sb_u8(sb, in->x));
        ND_TRY(nd_sb_u16(sb, in->a));
        ND_TRY(nd_sb_u16(sb, in->b));
        ND_TRY(nd_sb_u16(sb, in->c));
    }
    return put_lines(sb, f);
}

static nd_status put_payload(const nd_program *p, nd_strbuf *sb)
{
    ND_TRY(nd_sb_append(sb, p->source_sha256, 32));
    ND_TRY(put_name(sb, p->source_name));
    ND_TRY(nd_sb_u32(sb, p->nconsts));
    for (uint32_t i = 0; i < p->nconsts; i++) {
        const nd_const *k = &p->consts[i];
        ND_TRY(nd_sb_u8(sb, k->kind));
        switch (k->kind) {
        case ND_K_INT: ND_TRY(nd_sb_u64(sb, (uint64_t)k->i)); break;
        case ND_K_FLOAT: ND_TRY(nd_sb_f64(sb, k->f)); break;
        case ND_K_STR:
            ND_CHECK(k->s || k->slen == 0, ND_EINTERNAL, "string constant %u without bytes", i);
            ND_TRY(put_str(sb, k->s ? k->s : "", k->slen));
            break;
        default: return nd_err_set(ND_EINTERNAL, "constant %u has unknown kind %u", i, k->kind);
        }
    }
    ND_TRY(nd_sb_u32(sb, p->nglobals));
    for (uint32_t i = 0; i < p->nglobals; i++) ND_TRY(put_name(sb, p->globals[i]));
    ND_TRY(nd_sb_u32(sb, p->nfuncs));
    for (uint32_t i = 0; i < p->nfuncs; i++) ND_TRY(put_func(sb, &p->funcs[i]));
    return ND_OK;
}

static void patch_u32(char *d, uint32_t v)
{
    for (int i = 0; i < 4; i++) d[i] = (char)(uint8_t)(v >> (8 * i));
}

static void patch_u64(char *d, uint64_t v)
{
    for (int i = 0; i < 8; i++) d[i] = (char)(uint8_t)(v >> (8 * i));
}

/* Rank-local.  Appends the file to out; on failure out keeps its old length. */
nd_status nd_nbc_write(const nd_program *p, nd_strbuf *out)
{
    size_t start = out->len;
    nd_status st = nd_sb_append(out, ND_NBC_MAGIC, 8);
    if (st == ND_OK) st = nd_sb_u32(out, ND_NBC_VERSION);
    if (st == ND_OK) st = nd_sb_u32(out, p->flags);
    if (st == ND_OK) st = nd_sb_u64(out, 0);  /* payload length, patched below */
    if (st == ND_OK) st = nd_sb_u32(out, 0);  /* CRC-32C, patched below */
    if (st == ND_OK) st = put_payload(p, out);
    if (st != ND_OK) {
        if (out->data) out->data[out->len = start] = '\0';
        return st;
    }
    char *h = out->data + start;
    size_t plen = out->len - start - NBC_HEADER_SIZE;
    patch_u64(h + NBC_OFF_PAYLOAD_LEN, plen);
    patch_u32(h + NBC_OFF_CRC, nd_crc32c(0, h + NBC_HEADER_SIZE, plen));
    return ND_OK;
}

/* Rank-local.  Writes to a temporary name and renames, so that a reader never sees a
 * half-written file (common/outfile.h: a device such as /dev/null is written in place). */
nd_status nd_nbc_write_file(const nd_program *p, const char *path)
{
    nd_strbuf sb;
    nd_sb_init(&sb);
    nd_outfile o;
    nd_status st = nd_nbc_write(p, &sb);
    if (st == ND_OK) st = nd_out_open(path, &o);
    if (st == ND_OK) {
        st = nd_out_write(&o, sb.data, sb.len);
        nd_status cst = nd_out_close(&o, st == ND_OK);
        if (st == ND_OK) st = cst;
    }
    nd_sb_free(&sb);
    return st;
}
