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

/* Rounds the 17 correctly rounded digits d (exponent e) to p digits into out (exponent
 * *oe).  Only when the dropped digits are exactly 5000... may that differ from rounding
 * the double itself (the exact tail may lie on either side); then ask printf. */
static void round_digits(double v, const char *d, int e, int p, char *out, int *oe)
{
    bool half = d[p] == '5';
    for (int k = p + 1; half && k < 17; k++) half = d[k] == '0';
    if (half) {
        char s[40];
        snprintf(s, sizeof s, "%.*e", p - 1, fabs(v));
        out[0] = s[0];
        if (p > 1) memcpy(out + 1, s + 2, (size_t)(p - 1));
        *oe = atoi(s + (p > 1 ? p + 2 : 2));
        return;
    }
    memcpy(out, d, (size_t)p);
    *oe = e;
    if (d[p] >= '5') {
        int k = p - 1;
        while (k >= 0 && out[k] == '9') out[k--] = '0';
        if (k >= 0) {
            out[k]++;
        } else {
            out[0] = '1'; /* 99.9 -> 100: one digit more in front, the last one drops */
            *oe = e + 1;
        }
    }
}

static bool round_trips(double v, const char *dig, int p, int e)
{
    char s[40];
    size_t n = 0;
    if (v < 0) s[n++] = '-';
    s[n++] = dig[0];
    s[n++] = '.';
    memcpy(s + n, dig + 1, (size_t)(p - 1));
    n += (size_t)(p - 1);
    n += (size_t)snprintf(s + n, sizeof s - n, "e%d", e);
    return strtod(s, NULL) == v;
}

__extension__ typedef unsigned __int128 u128;

static const uint64_t pow10_u64[20] = {
    UINT64_C(1), UINT64_C(10), UINT64_C(100), UINT64_C(1000), UINT64_C(10000), UINT64_C(100000),
    UINT64_C(1000000), UINT64_C(10000000), UINT64_C(100000000), UINT64_C(1000000000),
    UINT64_C(10000000000), UINT64_C(100000000000), UINT64_C(1000000000000),
    UINT64_C(10000000000000), UINT64_C(100000000000000), UINT64_C(1000000000000000),
    UINT64_C(10000000000000000), UINT64_C(100000000000000000), UINT64_C(1000000000000000000),
    UINT64_C(10000000000000000000)};

/* Whether m 2^e >= 10^k (k in -4 .. 16, e in -62 .. 0). */
static bool ge_pow10(uint64_t m, int e, int k)
{
    if (k >= 0) return (u128)m >= (u128)pow10_u64[k] << -e;
    return (u128)m * pow10_u64[-k] >= (u128)1 << -e;
}

/* The p-digit decimal nearest to a = m 2^e (ties to even, as printf rounds) is
 * *q 10^(*x - p + 1); returns whether it reads back as a, i.e. lies inside a's rounding
 * interval (bounds included when m is even, as strtod's ties-to-even decides).  In units
 * of 2^(e-2) the interval is [4m - 2, 4m + 2] ([4m - 1, ..] at a power of two).  All
 * products stay below 2^122 for the range shortest_exact takes. */
static bool nearest_reads_back(uint64_t m, int e, int x10, int p, uint64_t *q_out, int *x_out)
{
    int s = 2 - e, j = x10 - p + 1;
    u128 V = (u128)m << 2, L = V - (m == UINT64_C(1) << 52 ? 1 : 2), H = V + 2;
    u128 den, q, r;
    if (j <= 0) {
        uint64_t P = pow10_u64[-j];
        V *= P, L *= P, H *= P;
        den = (u128)1 << s;
        q = V >> s;
        r = V - (q << s);
    } else {
        den = (u128)pow10_u64[j] << s;
        q = V / den;
        r = V - q * den;
    }
    if (r > den / 2 || (r == den / 2 && (q & 1))) q++;
    u128 back = q * den;
    bool ok = m & 1 ? back > L && back < H : back >= L && back <= H;
    *x_out = x10;
    if (q == pow10_u64[p]) { /* 9.99 -> 10.0: one digit more in front, the last one drops */
        q = pow10_u64[p - 1];
        (*x_out)++;
    }
    *q_out = (uint64_t)q;
    return ok;
}

static void digits_of(uint64_t q, int p, char *out)
{
    for (int k = p - 1; k >= 0; k--, q /= 10) out[k] = (char)('0' + q % 10);
}

/* shortest_printf's digits computed with integers, no printf or strtod, for
 * 1e-3 <= a < 2^53 (the usual range of results; false outside it).  The same search
 * order as shortest_printf, so the same answer. */
static bool shortest_exact(double a, char *best, int *prec, int *exp10)
{
    if (!(a >= 1e-3 && a < 9007199254740992.0)) return false;
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    uint64_t m = (bits & ((UINT64_C(1) << 52) - 1)) | (UINT64_C(1) << 52);
    int e = (int)(bits >> 52) - 1075; /* a = m 2^e, e in -62 .. 0 */
    int x10 = (int)floor(log10(a));
    while (!ge_pow10(m, e, x10)) x10--;
    while (ge_pow10(m, e, x10 + 1)) x10++;
    uint64_t q;
    int ce;
    nearest_reads_back(m, e, x10, 17, &q, &ce);
    digits_of(q, 17, best);
    *prec = 17, *exp10 = ce;
    int lo = 1, hi = 17;
    for (int p = 16; p >= 15; p--) {
        if (!nearest_reads_back(m, e, x10, p, &q, &ce)) {
            lo = p + 1;
            break;
        }
        hi = p;
        digits_of(q, p, best), *prec = p, *exp10 = ce;
    }
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (nearest_reads_back(m, e, x10, mid, &q, &ce)) {
            hi = mid;
            digits_of(q, mid, best), *prec = mid, *exp10 = ce;
        } else {
            lo = mid + 1;
        }
    }
    return true;
}

static void shortest_printf(double v, char *best, int *prec_out, int *exp10_out);
static void layout(char *buf, size_t size, double v, const char *best, int prec, int exp10);

void nd_fmt_double(char *buf, size_t size, double v)
{
    if (isnan(v) || isinf(v) || v == 0) {
        snprintf(buf, size, "%s", isnan(v) ? "nan" : v == 0 ? (signbit(v) ? "-0.0" : "0.0")
                                   : v < 0 ? "-inf" : "inf");
        return;
    }
    char best[18];
    int prec, exp10;
    if (!shortest_exact(fabs(v), best, &prec, &exp10)) shortest_printf(v, best, &prec, &exp10);
    layout(buf, size, v, best, prec, exp10);
}

/* One printf of 17 digits (they always round-trip), then shorter candidates are rounded
 * from those and checked with strtod. */
static void shortest_printf(double v, char *best, int *prec_out, int *exp10_out)
{
    char s17[40], d[18];
    snprintf(s17, sizeof s17, "%.16e", fabs(v)); /* d.dddddddddddddddde[+-]XX */
    d[0] = s17[0];
    memcpy(d + 1, s17 + 2, 16);
    d[17] = '\0';
    int e17 = atoi(s17 + 19), prec = 17, exp10 = e17;
    memcpy(best, d, 17);
    /* The shortest precision that reads back, searched from the top: random data needs
     * 16 or 17 digits, so two checks usually decide (round-tripping is monotone in p). */
    char cand[18];
    int ce, lo = 1, hi = 17;
    for (int p = 16; p >= 15; p--) {
        round_digits(v, d, e17, p, cand, &ce);
        if (!round_trips(v, cand, p, ce)) {
            lo = p + 1;
            break;
        }
        hi = p;
        memcpy(best, cand, (size_t)p), prec = p, exp10 = ce;
    }
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        round_digits(v, d, e17, mid, cand, &ce);
        if (round_trips(v, cand, mid, ce)) {
            hi = mid;
            memcpy(best, cand, (size_t)mid), prec = mid, exp10 = ce;
        } else {
            lo = mid + 1;
        }
    }
    *prec_out = prec, *exp10_out = exp10;
}

/* Layout of nd_fmt_double (Python's repr): fixed for exponents -4 .. 15. */
static void layout(char *buf, size_t size, double v, const char *best, int prec, int exp10)
{
    char *o = buf;
    if (v < 0) *o++ = '-';
    if (exp10 < -4 || exp10 >= 16) {
        *o++ = best[0];
        if (prec > 1) {
            *o++ = '.';
            memcpy(o, best + 1, (size_t)(prec - 1));
            o += prec - 1;
        }
        snprintf(o, size - (size_t)(o - buf), "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
        return;
    }
    if (exp10 < 0) {
        *o++ = '0', *o++ = '.';
        for (int k = 0; k < -exp10 - 1; k++) *o++ = '0';
        memcpy(o, best, (size_t)prec);
        o += prec;
    } else {
        for (int k = 0; k <= exp10; k++) *o++ = k < prec ? best[k] : '0';
        *o++ = '.';
        if (prec > exp10 + 1) {
            memcpy(o, best + exp10 + 1, (size_t)(prec - exp10 - 1));
            o += prec - exp10 - 1;
        } else {
            *o++ = '0';
        }
    }
    *o = '\0';
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

nd_status nd_sb_csv_field(nd_strbuf *sb, const char *s, size_t n, bool always_quote)
{
    if (!always_quote && !memchr(s, ',', n) && !memchr(s, '"', n) && !memchr(s, '\n', n) &&
        !memchr(s, '\r', n))
        return nd_sb_append(sb, s, n);
    ND_TRY(nd_sb_putc(sb, '"'));
    for (size_t k = 0; k < n; k++)
        ND_TRY(s[k] == '"' ? nd_sb_append(sb, "\"\"", 2) : nd_sb_putc(sb, s[k]));
    return nd_sb_putc(sb, '"');
}
