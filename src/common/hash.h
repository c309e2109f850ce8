/* hash.h: hashing and checksums.  FNV-1a for hash tables (strings are hashed once, when
 * created), CRC-32C for file payloads, XXH64 for checksums of bulk data (catalog result
 * files and index rows: several GB/s), SHA-256 for source and bytecode identity.
 * All Rank-local and deterministic (identical on every rank and platform). */
#ifndef ND_HASH_H
#define ND_HASH_H

#include "nd.h"

uint64_t nd_hash_bytes(const void *p, size_t n);
/* CRC-32C of n more bytes after crc (0 to start); the CPU's instruction where it has one. */
uint32_t nd_crc32c(uint32_t crc, const void *p, size_t n);
/* crc[k] := nd_crc32c(crc[k], kth buffer, n) for three buffers of n bytes, at about
 * three times the speed of three calls where the CPU has the instruction. */
void nd_crc32c_3(const void *a, const void *b, const void *c, size_t n, uint32_t crc[3]);
/* The table-driven CRC-32C alone (tests compare the two). */
uint32_t nd_crc32c_table(uint32_t crc, const void *p, size_t n);
/* XXH64 (Collet's xxHash, 64-bit) of n bytes with a seed. */
uint64_t nd_xxh64(const void *p, size_t n, uint64_t seed);

typedef struct nd_sha256 {
    uint32_t h[8];
    uint64_t nbytes;
    uint8_t buf[64];
    size_t nbuf;
} nd_sha256;

void nd_sha256_init(nd_sha256 *s);
void nd_sha256_update(nd_sha256 *s, const void *p, size_t n);
void nd_sha256_final(nd_sha256 *s, uint8_t out[32]);
void nd_sha256_buf(const void *p, size_t n, uint8_t out[32]);
/* Writes 64 lowercase hex digits and a NUL into out. */
void nd_hex(const uint8_t *in, size_t n, char *out);

#endif
