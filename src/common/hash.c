/* hash.c: FNV-1a, CRC-32C (Castagnoli, reflected, table-driven), XXH64 (the xxHash
 * specification, version 0.1.1) and SHA-256 (FIPS 180-4).
 * Written from the published definitions; checked against their test vectors in
 * tests/unit/check_common.c. */
#include "hash.h"

#include <stdio.h>
#include <string.h>

uint64_t nd_hash_bytes(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint32_t crc_table[256];
static int crc_ready;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
    crc_ready = 1;
}

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *b, size_t n)
{
    if (!crc_ready) crc_init();
    for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define ND_CRC_HW 1
/* SSE4.2's crc32 instruction computes the same CRC-32C (about 20x the table). */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *b, size_t n)
{
    uint64_t c = crc;
    for (; n >= 8; b += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        c = _mm_crc32_u64(c, w);
    }
    crc = (uint32_t)c;
    for (; n > 0; b++, n--) crc = _mm_crc32_u8(crc, *b);
    return crc;
}

/* Three independent CRCs in one loop: the instruction's latency (3 cycles) is hidden
 * behind the other two chains, so this runs near one word a cycle. */
__attribute__((target("sse4.2"))) static void crc32c_hw3(const uint8_t *a, const uint8_t *b,
                                                         const uint8_t *c, size_t n, uint32_t out[3])
{
    uint64_t x = ~out[0] & 0xffffffffu, y = ~out[1] & 0xffffffffu, z = ~out[2] & 0xffffffffu;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t u, v, w;
        memcpy(&u, a + i, 8);
        memcpy(&v, b + i, 8);
        memcpy(&w, c + i, 8);
        x = _mm_crc32_u64(x, u);
        y = _mm_crc32_u64(y, v);
        z = _mm_crc32_u64(z, w);
    }
    out[0] = ~crc32c_hw((uint32_t)x, a + i, n - i);
    out[1] = ~crc32c_hw((uint32_t)y, b + i, n - i);
    out[2] = ~crc32c_hw((uint32_t)z, c + i, n - i);
}

static int crc_hw = -1; /* -1: not probed yet (the probe is idempotent, so races are harmless) */
#endif

uint32_t nd_crc32c(uint32_t crc, const void *p, size_t n)
{
#ifdef ND_CRC_HW
    if (crc_hw < 0) crc_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    if (crc_hw) return ~crc32c_hw(~crc, p, n);
#endif
    return ~crc32c_sw(~crc, p, n);
}

uint32_t nd_crc32c_table(uint32_t crc, const void *p, size_t n) { return ~crc32c_sw(~crc, p, n); }

void nd_crc32c_3(const void *a, const void *b, const void *c, size_t n, uint32_t crc[3])
{
#ifdef ND_CRC_HW
    if (crc_hw < 0) crc_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    if (crc_hw) {
        crc32c_hw3(a, b, c, n, crc);
        return;
    }
#endif
    crc[0] = nd_crc32c(crc[0], a, n);
    crc[1] = nd_crc32c(crc[1], b, n);
    crc[2] = nd_crc32c(crc[2], c, n);
}

#define XP1 UINT64_C(0x9E3779B185EBCA87)
#define XP2 UINT64_C(0xC2B2AE3D27D4EB4F)
#define XP3 UINT64_C(0x165667B19E3779F9)
#define XP4 UINT64_C(0x85EBCA77C2B2AE63)
#define XP5 UINT64_C(0x27D4EB2F165667C5)

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* Little-endian loads whatever the host: memcpy is one load; big-endian hosts swap. */
static inline uint64_t le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline uint32_t le32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

static inline uint64_t xround(uint64_t acc, uint64_t in) { return rotl64(acc + in * XP2, 31) * XP1; }

static inline uint64_t xmerge(uint64_t h, uint64_t v) { return (h ^ xround(0, v)) * XP1 + XP4; }

uint64_t nd_xxh64(const void *data, size_t n, uint64_t seed)
{
    const uint8_t *p = data, *end = p + n;
    uint64_t h;
    if (n >= 32) {
        uint64_t v1 = seed + XP1 + XP2, v2 = seed + XP2, v3 = seed, v4 = seed - XP1;
        for (; end - p >= 32; p += 32) {
            v1 = xround(v1, le64(p));
            v2 = xround(v2, le64(p + 8));
            v3 = xround(v3, le64(p + 16));
            v4 = xround(v4, le64(p + 24));
        }
        h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
        h = xmerge(xmerge(xmerge(xmerge(h, v1), v2), v3), v4);
    } else {
        h = seed + XP5;
    }
    h += (uint64_t)n;
    for (; end - p >= 8; p += 8) h = rotl64(h ^ xround(0, le64(p)), 27) * XP1 + XP4;
    if (end - p >= 4) {
        h = rotl64(h ^ (uint64_t)le32(p) * XP1, 23) * XP2 + XP3;
        p += 4;
    }
    for (; p < end; p++) h = rotl64(h ^ *p * XP5, 11) * XP1;
    h ^= h >> 33;
    h *= XP2;
    h ^= h >> 29;
    h *= XP3;
    return h ^ (h >> 32);
}

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(nd_sha256 *s, const uint8_t *b)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
               (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s->h[0], bb = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4], f = s->h[5],
             g = s->h[6], h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) +
                      K256[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c));
        h = g, g = f, f = e, e = d + t1, d = c, c = bb, bb = a, a = t1 + t2;
    }
    s->h[0] += a, s->h[1] += bb, s->h[2] += c, s->h[3] += d;
    s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

void nd_sha256_init(nd_sha256 *s)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv);
    s->nbytes = 0;
    s->nbuf = 0;
}

void nd_sha256_update(nd_sha256 *s, const void *p, size_t n)
{
    const uint8_t *b = p;
    s->nbytes += n;
    while (n) {
        size_t take = 64 - s->nbuf < n ? 64 - s->nbuf : n;
        memcpy(s->buf + s->nbuf, b, take);
        s->nbuf += take, b += take, n -= take;
        if (s->nbuf == 64) {
            sha_block(s, s->buf);
            s->nbuf = 0;
        }
    }
}

void nd_sha256_final(nd_sha256 *s, uint8_t out[32])
{
    uint64_t bits = s->nbytes * 8;
    uint8_t pad = 0x80, zero = 0, len[8];
    nd_sha256_update(s, &pad, 1);
    while (s->nbuf != 56) nd_sha256_update(s, &zero, 1);
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)(bits >> (56 - 8 * i));
    nd_sha256_update(s, len, 8);
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < 4; k++) out[4 * i + k] = (uint8_t)(s->h[i] >> (24 - 8 * k));
}

void nd_sha256_buf(const void *p, size_t n, uint8_t out[32])
{
    nd_sha256 s;
    nd_sha256_init(&s);
    nd_sha256_update(&s, p, n);
    nd_sha256_final(&s, out);
}

void nd_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}
