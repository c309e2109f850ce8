/* strbuf.h: a growable byte buffer used for building strings and serialized files.
 * Invariant: data[len] == '\0' whenever data != NULL, so data is always a C string
 * (it may also hold embedded NULs).  Rank-local. */
#ifndef ND_STRBUF_H
#define ND_STRBUF_H

#include "nd.h"

typedef struct nd_strbuf {
    char *data;
    size_t len, cap;
} nd_strbuf;

void nd_sb_init(nd_strbuf *sb);
void nd_sb_free(nd_strbuf *sb);
nd_status nd_sb_reserve(nd_strbuf *sb, size_t extra);
nd_status nd_sb_append(nd_strbuf *sb, const void *p, size_t n);
nd_status nd_sb_puts(nd_strbuf *sb, const char *s);
nd_status nd_sb_putc(nd_strbuf *sb, char c);
/* Appends n bytes of s as one CSV field (RFC 4180): in double quotes, inner quotes
 * doubled, when it holds a comma, a quote or a line break, or when always_quote. */
nd_status nd_sb_csv_field(nd_strbuf *sb, const char *s, size_t n, bool always_quote);
nd_status nd_sb_printf(nd_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Little-endian fixed-width writers (file formats are explicit LE, never struct dumps). */
nd_status nd_sb_u8(nd_strbuf *sb, uint8_t v);
nd_status nd_sb_u16(nd_strbuf *sb, uint16_t v);
nd_status nd_sb_u32(nd_strbuf *sb, uint32_t v);
nd_status nd_sb_u64(nd_strbuf *sb, uint64_t v);
nd_status nd_sb_f64(nd_strbuf *sb, double v);
/* Gives the buffer away (caller owns data, allocated with nd_malloc, size cap). */
char *nd_sb_take(nd_strbuf *sb, size_t *len);

/* Little-endian readers over a bounded buffer; every read checks the bound. */
typedef struct nd_reader {
    const uint8_t *p;
    size_t len, pos;
    bool overrun; /* set by any read past the end; values read then are 0 */
} nd_reader;

void nd_rd_init(nd_reader *r, const void *p, size_t len);
uint8_t nd_rd_u8(nd_reader *r);
uint16_t nd_rd_u16(nd_reader *r);
uint32_t nd_rd_u32(nd_reader *r);
uint64_t nd_rd_u64(nd_reader *r);
double nd_rd_f64(nd_reader *r);
/* Returns a pointer to the next n bytes, or NULL (and overrun) when fewer remain. */
const uint8_t *nd_rd_bytes(nd_reader *r, size_t n);

/* Formats a double in the shortest form that reads back to the same value, always
 * with a point or exponent ("2.0", "0.1", "1e-06", "1e+300", "inf", "-inf", "nan").
 * buf must hold at least 32 bytes. */
void nd_fmt_double(char *buf, size_t size, double v);

/* A decimal count: digits only (no sign, no spaces), within uint64_t.  For the numeric
 * environment variables, where garbage must be an error rather than 0. */
bool nd_parse_count(const char *s, uint64_t *out);

#endif
