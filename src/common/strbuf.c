/* strbuf.c: growable buffer, little-endian encoders/decoders, shortest double format. */
#include "strbuf.h"

#include "alloc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nd_sb_init(nd_strbuf *sb) { sb->data = NULL, sb->len = sb->cap = 0; }

void nd_sb_free(nd_strbuf *sb)
{
    nd_free(sb->data, sb->cap);
    nd_sb_init(sb);
}

nd_status nd_sb_reserve(nd_strbuf *sb, size_t extra)
{
    if (extra > SIZE_MAX - sb->len - 1) return nd_err_set(ND_ENOMEM, "buffer too large");
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap) return ND_OK;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *d = nd_realloc(sb->data, sb->cap, cap);
    if (!d) return ND_ENOMEM;
    sb->data = d;
    sb->cap = cap;
    return ND_OK;
}

nd_status nd_sb_append(nd_strbuf *sb, const void *p, size_t n)
{
    ND_TRY(nd_sb_reserve(sb, n));
    if (n) memcpy(sb->data + sb->len, p, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
    return ND_OK;
}

nd_status nd_sb_puts(nd_strbuf *sb, const char *s) { return nd_sb_append(sb, s, strlen(s)); }
nd_status nd_sb_putc(nd_strbuf *sb, char c) { return nd_sb_append(sb, &c, 1); }

nd_status nd_sb_printf(nd_strbuf *sb, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return nd_err_set(ND_EINTERNAL, "bad format");
    }
    nd_status st = nd_sb_reserve(sb, (size_t)n);
    if (st == ND_OK) {
        vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap2);
        sb->len += (size_t)n;
    }
    va_end(ap2);
    return st;
}

nd_status nd_sb_u8(nd_strbuf *sb, uint8_t v) { return nd_sb_append(sb, &v, 1); }

nd_status nd_sb_u16(nd_strbuf *sb, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    return nd_sb_append(sb, b, 2);
}

nd_status nd_sb_u32(nd_strbuf *sb, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++) b[i] = (uint8_t)(v >> (8 * i));
    return nd_sb_append(sb, b, 4);
}

nd_status nd_sb_u64(nd_strbuf *sb, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    return nd_sb_append(sb, b, 8);
}

nd_status nd_sb_f64(nd_strbuf *sb, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    return nd_sb_u64(sb, u);
}

char *nd_sb_take(nd_strbuf *sb, size_t *len)
{
    char *d = sb->data;
    if (len) *len = sb->len;
    nd_sb_init(sb);
    return d;
}

void nd_rd_init(nd_reader *r, const void *p, size_t len)
{
    r->p = p, r->len = len, r->pos = 0, r->overrun = false;
}

const uint8_t *nd_rd_bytes(nd_reader *r, size_t n)
{
    if (r->overrun || n > r->len - r->pos) {
        r->overrun = true;
        return NULL;
    }
    const uint8_t *q = r->p + r->pos;
    r->pos += n;
    return q;
}

static uint64_t rd_le(nd_reader *r, int n)
{
    const uint8_t *b = nd_rd_bytes(r, (size_t)n);
    uint64_t v = 0;
    if (!b) return 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

uint8_t nd_rd_u8(nd_reader *r) { return (uint8_t)rd_le(r, 1); }
uint16_t nd_rd_u16(nd_reader *r) { return (uint16_t)rd_le(r, 2); }
uint32_t nd_rd_u32(nd_reader *r) { return (uint32_t)rd_le(r, 4); }
uint64_t nd_rd_u64(nd_reader *r) { return rd_le(r, 8); }

double nd_rd_f64(nd_reader *r)
{
    uint64_t u = rd_le(r, 8);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

void nd_fmt_double(char *buf, size_t size, double v)
{
    if (isnan(v)) {
        snprintf(buf, size, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, v < 0 ? "-inf" : "inf");
        return;
    }
    /* Shortest digit string that round-trips (17 significant digits always do), then
     * the layout of Python's repr: fixed for decimal exponents -4 .. 15, else
     * scientific; a float always shows a point or an exponent. */
    char sci[40];
    /* Round-tripping is monotone in the precision (more correctly rounded digits only
     * get closer), so binary-search the shortest one in [1, 17]. */
    int lo = 1, hi = 17;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(sci, sizeof sci, "%.*e", mid - 1, v);
        if (strtod(sci, NULL) == v)
            hi = mid;
        else
            lo = mid + 1;
    }
    int prec = lo;
    snprintf(sci, sizeof sci, "%.*e", prec - 1, v);
    int exp10 = atoi(strchr(sci, 'e') + 1);
    if (exp10 < -4 || exp10 >= 16) {
        snprintf(buf, size, "%s", sci);
        return;
    }
    int decimals = prec - 1 - exp10;
    snprintf(buf, size, "%.*f", decimals > 0 ? decimals : 0, v);
    if (!strchr(buf, '.')) {
        size_t n = strlen(buf);
        if (n + 2 < size) memcpy(buf + n, ".0", 3);
    }
}

bool nd_parse_count(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9') return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno) return false;
    *out = v;
    return true;
}
