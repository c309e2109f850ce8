/* reader.c: parses a .nbc file (docs/bytecode.md) into an nd_program.  The input is
 * untrusted: every read is bounds-checked (nd_reader), every count is compared with the
 * bytes that remain before anything is allocated, and every failure is ND_EINVALID with
 * a message naming the section, after freeing the half-built program.  Operands are
 * not checked here; nd_nbc_verify does that. */
#include "nbc/nbc.h"
#include "nbc/sign.h"

#include "common/alloc.h"
#include "common/hash.h"
#include "nbc/opinfo.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* Parsing state: the reader over the payload and a label of the section being read, so
 * that an overrun can say where the file ended ("function 3 code"). */
typedef struct parse {
    nd_reader r;
    bool short_file;  /* the file ends before its declared payload length */
    char where[64];
} parse;

static size_t left(const parse *ps) { return ps->r.len - ps->r.pos; }

static nd_status truncated(const parse *ps)
{
    return nd_err_set(ND_EINVALID, "truncated bytecode file (%s)", ps->where);
}

#define WHERE(ps, ...) snprintf((ps)->where, sizeof (ps)->where, __VA_ARGS__)
#define OVERRUN_CHECK(ps)                                                                \
    do {                                                                                 \
        if ((ps)->r.overrun) return truncated(ps);                                       \
    } while (0)

/* A count of items that each take at least `min_size` bytes: a count the remaining bytes
 * cannot hold is rejected before it is used to allocate. */
static nd_status get_count(parse *ps, uint32_t *n, size_t min_size, const char *what)
{
    *n = nd_rd_u32(&ps->r);
    OVERRUN_CHECK(ps);
    if ((uint64_t)*n * min_size > left(ps)) {
        if (ps->short_file) return truncated(ps);
        return nd_err_set(ND_EINVALID,
                          "corrupt bytecode file: %s count %" PRIu32 " but only %zu bytes remain",
                          what, *n, left(ps));
    }
    return ND_OK;
}

/* A name: u32 length then bytes, no NUL inside.  *out is a new nd_strndup string. */
static nd_status get_name(parse *ps, char **out)
{
    uint32_t n = nd_rd_u32(&ps->r);
    const uint8_t *b = nd_rd_bytes(&ps->r, n);
    OVERRUN_CHECK(ps);
    if (memchr(b, 0, n))
        return nd_err_set(ND_EINVALID, "corrupt bytecode file: NUL byte inside a name (%s)",
                          ps->where);
    *out = nd_strndup((const char *)b, n);
    return *out ? ND_OK : ND_ENOMEM;
}

static nd_status get_varint(parse *ps, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        uint8_t b = nd_rd_u8(&ps->r);
        OVERRUN_CHECK(ps);
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (shift == 63 && b > 1) break;  /* more than 64 bits */
            return ND_OK;
        }
    }
    return nd_err_set(ND_EINVALID, "corrupt bytecode file: bad varint (%s)", ps->where);
}

static nd_status get_consts(parse *ps, nd_program *p)
{
    uint32_t n;
    WHERE(ps, "constants");
    /* The smallest constant is an empty string: a kind byte and a u32 length. */
    ND_TRY(get_count(ps, &n, 5, "constant"));
    p->consts = ND_ALLOC_N(nd_const, n);
    if (!p->consts) return ND_ENOMEM;
    p->nconsts = n;
    for (uint32_t i = 0; i < n; i++) {
        nd_const *k = &p->consts[i];
        WHERE(ps, "constant %" PRIu32, i);
        uint8_t kind = nd_rd_u8(&ps->r);
        OVERRUN_CHECK(ps);
        switch (kind) {
        case ND_K_INT: k->i = (int64_t)nd_rd_u64(&ps->r); break;
        case ND_K_FLOAT: k->f = nd_rd_f64(&ps->r); break;
        case ND_K_STR: {
            uint32_t len = nd_rd_u32(&ps->r);
            const uint8_t *b = nd_rd_bytes(&ps->r, len);
            OVERRUN_CHECK(ps);
            k->s = nd_malloc((size_t)len + 1);
            if (!k->s) return ND_ENOMEM;
            memcpy(k->s, b, len);
            k->s[len] = '\0';
            k->slen = len;
            break;
        }
        default:
            return nd_err_set(ND_EINVALID,
                              "corrupt bytecode file: constant %" PRIu32 " has unknown kind %u",
                              i, kind);
        }
        k->kind = kind;  /* set last: nd_program_free frees s only for a complete string */
        OVERRUN_CHECK(ps);
    }
    return ND_OK;
}

static nd_status get_globals(parse *ps, nd_program *p)
{
    uint32_t n;
    WHERE(ps, "globals");
    ND_TRY(get_count(ps, &n, 4, "global"));
    p->globals = ND_ALLOC_N(char *, n);
    if (!p->globals) return ND_ENOMEM;
    p->nglobals = n;
    for (uint32_t i = 0; i < n; i++) {
        WHERE(ps, "global %" PRIu32 " name", i);
        ND_TRY(get_name(ps, &p->globals[i]));
    }
    return ND_OK;
}

static nd_status get_lines(parse *ps, nd_func *f, uint32_t fi)
{
    int64_t line = f->line;
    for (uint32_t k = 0; k < f->ncode; k++) {
        uint64_t zz, col;
        ND_TRY(get_varint(ps, &zz));
        ND_TRY(get_varint(ps, &col));
        int64_t d = (zz & 1) ? -(int64_t)(zz >> 1) - 1 : (int64_t)(zz >> 1);
        if (zz >> 1 > UINT32_MAX || line + d < 0 || line + d > UINT32_MAX || col > UINT32_MAX)
            return nd_err_set(ND_EINVALID,
                              "corrupt bytecode file: position out of range in the line "
                              "table of function %" PRIu32 " (instruction %" PRIu32 ")",
                              fi, k);
        line += d;
        f->pos[k].line = (uint32_t)line;
        f->pos[k].col = (uint32_t)col;
    }
    return ND_OK;
}

static nd_status get_func(parse *ps, nd_func *f, uint32_t fi)
{
    WHERE(ps, "function %" PRIu32 " header", fi);
    ND_TRY(get_name(ps, &f->name));
    f->line = nd_rd_u32(&ps->r);
    f->nparams = nd_rd_u32(&ps->r);
    f->nregs = nd_rd_u32(&ps->r);
    WHERE(ps, "function %" PRIu32 " code", fi);
    uint32_t ncode;
    /* Each instruction takes 8 bytes of code and at least 2 of line table. */
    ND_TRY(get_count(ps, &ncode, NBC_INSTR_SIZE + 2, "instruction"));
    f->code = ND_ALLOC_N(nd_instr, ncode);
    f->pos = f->code ? ND_ALLOC_N(nd_pos, ncode) : NULL;
    if (!f->pos) {
        if (f->code) ND_FREE_N(f->code, ncode);
        f->code = NULL;
        return ND_ENOMEM;
    }
    f->ncode = ncode;
    for (uint32_t k = 0; k < ncode; k++) {
        nd_instr *in = &f->code[k];
        in->op = nd_rd_u8(&ps->r);
        in->x = nd_rd_u8(&ps->r);
        in->a = nd_rd_u16(&ps->r);
        in->b = nd_rd_u16(&ps->r);
        in->c = nd_rd_u16(&ps->r);
    }
    OVERRUN_CHECK(ps);
    WHERE(ps, "function %" PRIu32 " line table", fi);
    return get_lines(ps, f, fi);
}

static nd_status get_funcs(parse *ps, nd_program *p)
{
    uint32_t n;
    WHERE(ps, "functions");
    /* The smallest function: empty name (4) and four u32 fields. */
    ND_TRY(get_count(ps, &n, 20, "function"));
    p->funcs = ND_ALLOC_N(nd_func, n);
    if (!p->funcs) return ND_ENOMEM;
    p->nfuncs = n;
    for (uint32_t i = 0; i < n; i++) ND_TRY(get_func(ps, &p->funcs[i], i));
    return ND_OK;
}

static nd_status get_payload(parse *ps, nd_program *p)
{
    WHERE(ps, "source hash");
    const uint8_t *h = nd_rd_bytes(&ps->r, 32);
    OVERRUN_CHECK(ps);
    memcpy(p->source_sha256, h, 32);
    WHERE(ps, "source name");
    ND_TRY(get_name(ps, &p->source_name));
    ND_TRY(get_consts(ps, p));
    ND_TRY(get_globals(ps, p));
    return get_funcs(ps, p);
}

/* Parses the payload bytes into a new program; on failure frees it. */
static nd_status parse_payload(const uint8_t *b, size_t n, uint32_t flags, bool short_file,
                               nd_program **out)
{
    parse ps;
    nd_rd_init(&ps.r, b, n);
    ps.short_file = short_file;
    ps.where[0] = '\0';
    nd_program *p = ND_ALLOC_N(nd_program, 1);
    if (!p) return ND_ENOMEM;
    p->flags = flags;
    nd_status st = get_payload(&ps, p);
    if (st == ND_OK && left(&ps) != 0)
        st = nd_err_set(ND_EINVALID,
                        "corrupt bytecode file: %zu bytes of garbage after the function table",
                        left(&ps));
    if (st != ND_OK) {
        nd_program_free(p);
        return st;
    }
    *out = p;
    return ND_OK;
}

/* Rank-local.  *out is set only on success. */
nd_status nd_nbc_read(const void *buf, size_t len, nd_program **out)
{
    const uint8_t *b = buf;
    *out = NULL;
    if (len < 8) {
        if (len > 0 && memcmp(b, ND_NBC_MAGIC, len) == 0)
            return nd_err_set(ND_EINVALID, "truncated bytecode file (header)");
        return nd_err_set(ND_EINVALID, "not a bytecode file (bad magic)");
    }
    if (!nd_nbc_is_nbc(b, len)) return nd_err_set(ND_EINVALID, "not a bytecode file (bad magic)");
    nd_reader r;
    nd_rd_init(&r, b, len);
    nd_rd_bytes(&r, 8);
    uint32_t version = nd_rd_u32(&r);
    if (r.overrun) return nd_err_set(ND_EINVALID, "truncated bytecode file (header)");
    if (version != ND_NBC_VERSION)
        return nd_err_set(ND_EINVALID,
                          "unsupported bytecode version %" PRIu32
                          " (this build reads version %u); recompile the source",
                          version, ND_NBC_VERSION);
    uint32_t flags = nd_rd_u32(&r);
    uint64_t plen = nd_rd_u64(&r);
    uint32_t crc = nd_rd_u32(&r);
    if (r.overrun) return nd_err_set(ND_EINVALID, "truncated bytecode file (header)");
    const uint8_t *payload = b + NBC_HEADER_SIZE;
    size_t have = len - NBC_HEADER_SIZE;
    /* A signed file ends in its signature (nbc/sign.h), checked by nd_sign_check. */
    if ((flags & ND_NBC_FLAG_SIGNED) && have >= ND_NBC_SIG_LEN &&
        memcmp(b + len - ND_NBC_SIG_LEN, ND_NBC_SIG_MAGIC, 8) == 0)
        have -= ND_NBC_SIG_LEN;
    flags &= ~ND_NBC_FLAG_SIGNED;
    if (plen > have) {
        /* Parse what is there to name the section where the file ends. */
        nd_program *p = NULL;
        nd_status st = parse_payload(payload, have, flags, true, &p);
        if (st == ND_ENOMEM) return st;
        nd_program_free(p);
        if (st == ND_OK || strncmp(nd_err_msg(), "truncated", 9) != 0)
            return nd_err_set(ND_EINVALID,
                              "truncated bytecode file (payload: %zu of %" PRIu64 " bytes)",
                              have, plen);
        return st;
    }
    if (plen < have)
        return nd_err_set(ND_EINVALID, "trailing garbage after the bytecode (%zu bytes)",
                          (size_t)(have - plen));
    if (nd_crc32c(0, payload, have) != crc)
        return nd_err_set(ND_EINVALID, "checksum mismatch: the file is corrupt");
    return parse_payload(payload, have, flags, false, out);
}

/* Rank-local.  Errors name the file: "x.nbc: checksum mismatch: ...". */
nd_status nd_nbc_read_bytes(const char *path, nd_strbuf *sb)
{
    FILE *f = fopen(path, "rb");
    if (!f) return nd_err_set(ND_EUSAGE, "cannot open '%s': %s", path, strerror(errno));
    char chunk[65536];
    size_t n;
    nd_status st = ND_OK;
    while (st == ND_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        st = nd_sb_append(sb, chunk, n);
    if (st == ND_OK && ferror(f))
        st = nd_err_set(ND_EUSAGE, "cannot read '%s': %s", path, strerror(errno));
    fclose(f);
    return st;
}

nd_status nd_nbc_read_file(const char *path, nd_program **out)
{
    *out = NULL;
    nd_strbuf sb;
    nd_sb_init(&sb);
    nd_status st = nd_nbc_read_bytes(path, &sb);
    if (st == ND_OK) {
        st = nd_nbc_read(sb.data ? sb.data : "", sb.len, out);
        if (st == ND_EINVALID) nd_err_set(st, "%s: %s", path, nd_err_msg());
    }
    nd_sb_free(&sb);
    return st;
}
