/* compiler.c: the compiler's driver (compiler.h) and its diagnostics.  Runs lex -> parse
 * -> sema -> gen (-> opt inside gen); semantic checks run only on a file without syntax
 * errors, and code is generated only for a file without errors.  Diagnostics follow
 * docs/language.md "Diagnostics": `path:line:col: error: message`, the source line, a
 * caret; at most opts->max_errors (20) per run.  Rank-local. */
#include "compiler/compiler.h"
#include "nbc/nbc.h"

#include "common/alloc.h"
#include "common/hash.h"
#include "compiler/ast.h"
#include "compiler/gen.h"
#include "compiler/lex.h"
#include "compiler/parse.h"
#include "compiler/sema.h"
#include "compiler/uniform.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_MAX_ERRORS 20

/* A longer source line is shown as this many characters around the column, "..." marking
 * what is cut (a generated one-line program must not echo kilobytes per error). */
#define ECHO_MAX 160

static void print_source_line(nd_cctx *cx, int line, int col)
{
    size_t k = 0;
    for (int l = 1; l < line && k < cx->len; k++)
        if (cx->src[k] == '\n') l++;
    size_t end = k;
    while (end < cx->len && cx->src[end] != '\n') end++;
    size_t len = end - k;
    if (len && cx->src[k + len - 1] == '\r') len--;
    size_t c = col > 1 ? (size_t)col - 1 : 0, from = 0, to = len;
    if (len > ECHO_MAX) {
        from = c > ECHO_MAX / 2 ? c - ECHO_MAX / 2 : 0;
        to = from + ECHO_MAX < len ? from + ECHO_MAX : len;
    }
    const char *pre = from ? "..." : "";
    fprintf(cx->diag, "%s%.*s%s\n", pre, (int)(to - from), cx->src + k + from, to < len ? "..." : "");
    fputs(from ? "   " : "", cx->diag);
    for (size_t i = from; i < c; i++)
        fputc(i < len && cx->src[k + i] == '\t' ? '\t' : ' ', cx->diag);
    fputs("^\n", cx->diag);
}

void nd_diag_error(nd_cctx *cx, int line, int col, const char *fmt, ...)
{
    if (cx->too_many) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (cx->nerrors == 0) {
        nd_err_set(ND_EPROG, "%s", msg);
        nd_last_error.line = line;
        nd_last_error.col = col;
    }
    fprintf(cx->diag, "%s:%d:%d: error: %s\n", cx->path, line, col, msg);
    print_source_line(cx, line, col);
    if (++cx->nerrors >= cx->max_errors) cx->too_many = true;
}

nd_status nd_compile(const char *path, const char *src, size_t len,
                     const nd_compile_opts *opts, nd_program **out)
{
    *out = NULL;
    nd_cctx cx = {0};
    cx.path = path ? path : "<input>";
    cx.src = src ? src : "";
    cx.len = src ? len : 0;
    cx.diag = opts && opts->diag ? opts->diag : stderr;
    cx.max_errors = opts && opts->max_errors > 0 ? opts->max_errors : DEFAULT_MAX_ERRORS;
    cx.opt_level = opts ? opts->opt_level : 1;

    nd_tokens toks = {0};
    nd_ast ast = {0};
    nd_program *prog = NULL;
    nd_status st = nd_lex_all(&cx, &toks);
    if (st == ND_OK) st = nd_parse_program(&cx, &toks, &ast);
    if (st == ND_OK && cx.nerrors == 0) st = nd_sema_check(&cx, &ast);
    if (st == ND_OK && cx.nerrors == 0) st = nd_uniform_mark(&cx, &ast);
    if (st == ND_OK && cx.nerrors == 0) st = nd_gen_program(&cx, &ast, &prog);
    if (st == ND_ENOMEM || cx.arena.failed) {
        if (st != ND_ENOMEM) st = nd_err_set(ND_ENOMEM, "out of memory in the compiler");
        else if (nd_last_error.status != ND_ENOMEM) nd_err_set(ND_ENOMEM, "out of memory in the compiler");
    }
    nd_lex_free(&toks);
    nd_arena_free(&cx.arena);
    if (st == ND_OK && cx.nerrors > 0) st = ND_EPROG;
    if (st != ND_OK) {
        nd_program_free(prog);
        return st;
    }
    prog->source_name = nd_strdup(cx.path);
    if (!prog->source_name) {
        nd_program_free(prog);
        return nd_err_set(ND_ENOMEM, "out of memory in the compiler");
    }
    nd_sha256_buf(cx.src, cx.len, prog->source_sha256);
    prog->flags = cx.opt_level >= 1 ? ND_PROG_OPTIMIZED : 0;
    *out = prog;
    return ND_OK;
}

nd_status nd_compile_file(const char *path, const nd_compile_opts *opts, nd_program **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return nd_err_set(ND_EUSAGE, "cannot read '%s': %s", path, strerror(errno));
    size_t cap = 65536, len = 0;
    char *buf = nd_malloc(cap);
    if (!buf) {
        fclose(f);
        return ND_ENOMEM;
    }
    for (;;) {
        if (len == cap) {
            char *nb = nd_realloc(buf, cap, cap * 2);
            if (!nb) {
                nd_free(buf, cap);
                fclose(f);
                return ND_ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    bool bad = ferror(f);
    int err = errno;
    fclose(f);
    if (bad) {
        nd_free(buf, cap);
        return nd_err_set(ND_EUSAGE, "cannot read '%s': %s", path, strerror(err));
    }
    nd_status st = nd_compile(path, buf, len, opts, out);
    nd_free(buf, cap);
    return st;
}

nd_status nd_compile_or_load(const char *path, const nd_compile_opts *opts, nd_program **out,
                             bool *compiled)
{
    *out = NULL;
    int kind = nd_nbc_file_kind(path);
    if (kind < 0) return nd_err_set(ND_EUSAGE, "cannot open '%s': %s", path, strerror(errno));
    if (compiled) *compiled = kind == 0;
    if (kind == 0) return nd_compile_file(path, opts, out);
    ND_TRY(nd_nbc_read_file(path, out));
    nd_status st = nd_nbc_verify(*out);
    if (st != ND_OK) {
        nd_program_free(*out);
        *out = NULL;
    }
    return st;
}
