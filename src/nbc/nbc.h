/* nbc.h: the .nbc bytecode file: writer, reader, verifier, disassembler (docs/bytecode.md).
 * Rank-local.  The reader never trusts its input: any truncation, checksum mismatch,
 * unknown version or out-of-range operand is ND_EINVALID with a clear message, and the
 * VM only runs programs that nd_nbc_verify accepted. */
#ifndef ND_NBC_H
#define ND_NBC_H

#include "common/nd.h"
#include "common/strbuf.h"
#include "noodle/bytecode.h"

#include <stdio.h>

/* Frees a program built by the compiler or the reader, including one the reader abandoned
 * half-built; NULL is accepted.  Ownership convention (whoever builds a program follows
 * it so that the allocator's byte count stays exact): every array is allocated with
 * exactly its count of elements (ND_ALLOC_N(T, n)), names with nd_strdup/nd_strndup, and
 * a string constant's bytes with nd_malloc(slen + 1). */
void nd_program_free(nd_program *p);

/* Serializes p (explicit little-endian, CRC-32C over the payload) and appends to out. */
nd_status nd_nbc_write(const nd_program *p, nd_strbuf *out);
nd_status nd_nbc_write_file(const nd_program *p, const char *path);
/* Parses a buffer into a new program; does not verify operands (nd_nbc_verify does). */
nd_status nd_nbc_read(const void *buf, size_t len, nd_program **out);
nd_status nd_nbc_read_file(const char *path, nd_program **out);
/* Appends the bytes of the file at path to sb (ND_EUSAGE naming it when unreadable). */
nd_status nd_nbc_read_bytes(const char *path, nd_strbuf *sb);
/* Checks every invariant in noodle/bytecode.h; ND_EINVALID with a message naming the
 * function and instruction on failure. */
nd_status nd_nbc_verify(const nd_program *p);
/* True when the first bytes of buf are the .nbc magic. */
bool nd_nbc_is_nbc(const void *buf, size_t len);
/* Whether the file at path is to be read as bytecode: its name ends in ".nbc" or it
 * starts with the magic (so a truncated or empty .nbc is a bad bytecode file, exit 3,
 * never source that compiles to nothing).  1 bytecode, 0 source, -1 cannot be opened
 * (errno set). */
int nd_nbc_file_kind(const char *path);
/* Lists functions, constants and instructions with their source lines. */
nd_status nd_nbc_disasm(const nd_program *p, FILE *out);
/* SHA-256 of the serialized program (its identity in checkpoints and the catalog). */
nd_status nd_nbc_hash(const nd_program *p, uint8_t out[32]);

/* The name of opcode op as spelled in opcodes.def ("LOADK"), or NULL when op is not an
 * opcode.  For traces and messages outside src/nbc. */
const char *nd_nbc_opname(unsigned op);

#endif
