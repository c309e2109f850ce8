/* disasm.c: the human-readable listing of a program (noodlec --disasm, golden tests of
 * the code generator).  The output is stable: it depends only on the program, never on
 * addresses or the locale, and its layout is documented in docs/bytecode.md.  It never
 * trusts the program: operands out of range print as "?" instead of being followed. */
#include "nbc/nbc.h"

#include "common/hash.h"
#include "nbc/builtin_ids.h"
#include "nbc/opinfo.h"

#include <inttypes.h>
#include <string.h>

/* Appends s (n bytes) quoted, with C escapes for anything not printable ASCII; at most
 * `max` source bytes are shown (0 = all), then "...". */
static nd_status put_quoted(nd_strbuf *sb, const char *s, size_t n, size_t max)
{
    ND_TRY(nd_sb_putc(sb, '"'));
    size_t shown = max && n > max ? max : n;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': ND_TRY(nd_sb_puts(sb, "\\\"")); break;
        case '\\': ND_TRY(nd_sb_puts(sb, "\\\\")); break;
        case '\n': ND_TRY(nd_sb_puts(sb, "\\n")); break;
        case '\t': ND_TRY(nd_sb_puts(sb, "\\t")); break;
        case '\r': ND_TRY(nd_sb_puts(sb, "\\r")); break;
        default:
            if (c < 0x20 || c >= 0x7f) ND_TRY(nd_sb_printf(sb, "\\x%02x", c));
            else ND_TRY(nd_sb_putc(sb, (char)c));
        }
    }
    ND_TRY(nd_sb_putc(sb, '"'));
    if (shown < n) ND_TRY(nd_sb_puts(sb, "..."));
    return ND_OK;
}

/* The value of constant i: 42, 2.5, "text". */
static nd_status put_const(nd_strbuf *sb, const nd_program *p, uint32_t i, size_t max)
{
    if (i >= p->nconsts || !p->consts) return nd_sb_puts(sb, "?");
    const nd_const *k = &p->consts[i];
    char num[40];
    switch (k->kind) {
    case ND_K_INT: return nd_sb_printf(sb, "%" PRId64, k->i);
    case ND_K_FLOAT:
        nd_fmt_double(num, sizeof num, k->f);
        return nd_sb_puts(sb, num);
    case ND_K_STR: return k->s ? put_quoted(sb, k->s, k->slen, max) : nd_sb_puts(sb, "?");
    default: return nd_sb_puts(sb, "?");
    }
}

static const char *safe(const char *s) { return s ? s : "?"; }

/* One operand: the field text into ops, what it refers to into note. */
static nd_status put_operand(nd_strbuf *ops, nd_strbuf *note, const nd_program *p, uint32_t k,
                             nbc_kind kind, uint32_t val, bool wide_signed)
{
    if (kind == NBC_K__) return ND_OK;
    if (ops->len) ND_TRY(nd_sb_putc(ops, ' '));
    if (note->len && (kind == NBC_K_K || kind == NBC_K_G || kind == NBC_K_F || kind == NBC_K_I))
        ND_TRY(nd_sb_puts(note, ", "));
    switch (kind) {
    case NBC_K_R: return nd_sb_printf(ops, "R%" PRIu32, val);
    case NBC_K_K:
        ND_TRY(nd_sb_printf(ops, "K%" PRIu32, val));
        return put_const(note, p, val, 40);
    case NBC_K_G:
        ND_TRY(nd_sb_printf(ops, "G%" PRIu32, val));
        return nd_sb_puts(note, val < p->nglobals && p->globals ? safe(p->globals[val]) : "?");
    case NBC_K_F:
        ND_TRY(nd_sb_printf(ops, "F%" PRIu32, val));
        return nd_sb_puts(note, val < p->nfuncs && p->funcs ? safe(p->funcs[val].name) : "?");
    case NBC_K_I:
        ND_TRY(nd_sb_printf(ops, "I%" PRIu32, val));
        return nd_sb_puts(note, val < ND_NBUILTINS ? nd_builtin_table[val].name : "?");
    case NBC_K_J:
        return nd_sb_printf(ops, "->%" PRId64, (int64_t)k + 1 + (int32_t)val);
    case NBC_K_N:
        if (wide_signed) return nd_sb_printf(ops, "%" PRId32, (int32_t)val);
        return nd_sb_printf(ops, "%" PRIu32, val);
    case NBC_K__: break;
    }
    return ND_OK;
}

static nd_status put_instr(nd_strbuf *sb, const nd_program *p, const nd_func *f, uint32_t k)
{
    const nd_instr *in = &f->code[k];
    nd_pos pos = f->pos ? f->pos[k] : (nd_pos){0, 0};
    char where[32];
    snprintf(where, sizeof where, "%" PRIu32 ":%" PRIu32, pos.line, pos.col);
    ND_TRY(nd_sb_printf(sb, "%6" PRIu32 "  %-9s ", k, where));
    if (in->op >= ND_NUM_OPCODES)
        return nd_sb_printf(sb, "%-10s %u %u %u %u\n", "?", in->x, in->a, in->b, in->c);
    const nbc_opinfo *oi = &nd_nbc_opinfo[in->op];
    nd_strbuf ops, note;
    nd_sb_init(&ops);
    nd_sb_init(&note);
    nd_status st = put_operand(&ops, &note, p, k, oi->kind[0], in->a, false);
    if (st == ND_OK && oi->fmt == NBC_FMT_ABC) {
        st = put_operand(&ops, &note, p, k, oi->kind[1], in->b, false);
        if (st == ND_OK) st = put_operand(&ops, &note, p, k, oi->kind[2], in->c, false);
    } else if (st == ND_OK) {
        st = put_operand(&ops, &note, p, k, oi->kind[1], ND_BX(*in), oi->fmt == NBC_FMT_ASBX);
    }
    if (st == ND_OK && in->x) st = nd_sb_printf(&ops, "%sx=%u", ops.len ? " " : "", in->x);
    if (st == ND_OK) {
        if (note.len)
            st = nd_sb_printf(sb, "%-10s %-16s ; %s\n", oi->name, ops.data, note.data);
        else if (ops.len)
            st = nd_sb_printf(sb, "%-10s %s\n", oi->name, ops.data);
        else
            st = nd_sb_printf(sb, "%s\n", oi->name);
    }
    nd_sb_free(&ops);
    nd_sb_free(&note);
    return st;
}

static nd_status listing(const nd_program *p, nd_strbuf *sb)
{
    char hex[65];
    nd_hex(p->source_sha256, 32, hex);
    ND_TRY(nd_sb_printf(sb, "; noodle bytecode, format version %u\n", ND_NBC_VERSION));
    ND_TRY(nd_sb_printf(sb, "source    %s\nsha256    %s\nflags     0x%" PRIx32 "%s\n",
                        safe(p->source_name), hex, p->flags,
                        (p->flags & ND_PROG_OPTIMIZED) ? " (optimized)" : ""));
    ND_TRY(nd_sb_printf(sb, "\nconstants (%" PRIu32 ")\n", p->nconsts));
    for (uint32_t i = 0; p->consts && i < p->nconsts; i++) {
        static const char *const kinds[] = {"?", "int", "float", "str"};
        uint8_t kind = p->consts[i].kind;
        char label[16];
        snprintf(label, sizeof label, "K%" PRIu32, i);
        ND_TRY(nd_sb_printf(sb, "    %-6s %-5s ", label, kinds[kind <= ND_K_STR ? kind : 0]));
        ND_TRY(put_const(sb, p, i, 0));
        ND_TRY(nd_sb_putc(sb, '\n'));
    }
    ND_TRY(nd_sb_printf(sb, "\nglobals (%" PRIu32 ")\n", p->nglobals));
    for (uint32_t i = 0; p->globals && i < p->nglobals; i++) {
        char label[16];
        snprintf(label, sizeof label, "G%" PRIu32, i);
        ND_TRY(nd_sb_printf(sb, "    %-6s %s\n", label, safe(p->globals[i])));
    }
    for (uint32_t i = 0; p->funcs && i < p->nfuncs; i++) {
        const nd_func *f = &p->funcs[i];
        ND_TRY(nd_sb_printf(sb,
                            "\nfunction F%" PRIu32 " %s: line %" PRIu32 ", %" PRIu32
                            " params, %" PRIu32 " regs, %" PRIu32 " instructions\n",
                            i, safe(f->name), f->line, f->nparams, f->nregs, f->ncode));
        for (uint32_t k = 0; f->code && k < f->ncode; k++) ND_TRY(put_instr(sb, p, f, k));
    }
    return ND_OK;
}

/* Rank-local.  Builds the whole listing first so that a failure writes nothing. */
nd_status nd_nbc_disasm(const nd_program *p, FILE *out)
{
    nd_strbuf sb;
    nd_sb_init(&sb);
    nd_status st = listing(p, &sb);
    if (st == ND_OK && sb.len && fwrite(sb.data, 1, sb.len, out) != sb.len)
        st = nd_err_set(ND_EIO, "cannot write the disassembly");
    nd_sb_free(&sb);
    return st;
}
