/* fuzz_nbc.c: libFuzzer harness for the .nbc reader, verifier and disassembler
 * (docs/bytecode.md).  Any input must be rejected cleanly or accepted; an accepted
 * program must serialize back to bytes that read and serialize identically, and every
 * byte allocated must be freed (the allocator's live count returns to its start).
 * An input that starts with 'P' is a bare payload: the harness adds a valid header and
 * CRC, so that mutations reach the parser instead of stopping at the checksum. */
#include "common/alloc.h"
#include "common/hash.h"
#include "nbc/nbc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

static void check_one(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!devnull) devnull = fopen("/dev/null", "w");
    if (size == 0 || data[0] != 'P') {
        check_one(data, size);
        return 0;
    }
    /* Bare payload: the header of docs/bytecode.md, built byte by byte. */
    size_t n = size - 1;
    uint8_t *file = malloc(28 + n);
    if (!file) return 0;
    memcpy(file, "NOODLEBC", 8);
    uint64_t fields[3] = {ND_NBC_VERSION, (uint64_t)(data[1 % size] & 1), n};
    for (int i = 0; i < 4; i++) file[8 + i] = (uint8_t)(fields[0] >> (8 * i));
    for (int i = 0; i < 4; i++) file[12 + i] = (uint8_t)(fields[1] >> (8 * i));
    for (int i = 0; i < 8; i++) file[16 + i] = (uint8_t)(fields[2] >> (8 * i));
    uint32_t crc = nd_crc32c(0, data + 1, n);
    for (int i = 0; i < 4; i++) file[24 + i] = (uint8_t)(crc >> (8 * i));
    memcpy(file + 28, data + 1, n);
    check_one(file, 28 + n);
    free(file);
    return 0;
}

static void check_one(const uint8_t *data, size_t size)
{
    size_t live = nd_alloc_live();
    nd_program *p = NULL;
    nd_status st = nd_nbc_read(data, size, &p);
    if (st != ND_OK) {
        if (p || (st != ND_EINVALID && st != ND_ENOMEM)) abort();
        if (nd_alloc_live() != live) abort();
        return;
    }
    nd_nbc_verify(p);
    if (nd_nbc_disasm(p, devnull) != ND_OK) abort();
    nd_strbuf w1, w2;
    nd_sb_init(&w1);
    nd_sb_init(&w2);
    if (nd_nbc_write(p, &w1) != ND_OK) abort();
    nd_program *q = NULL;
    if (nd_nbc_read(w1.data, w1.len, &q) != ND_OK) abort();
    if (nd_nbc_write(q, &w2) != ND_OK) abort();
    if (w1.len != w2.len || memcmp(w1.data, w2.data, w1.len) != 0) abort();
    if ((nd_nbc_verify(p) == ND_OK) != (nd_nbc_verify(q) == ND_OK)) abort();
    nd_sb_free(&w1);
    nd_sb_free(&w2);
    nd_program_free(q);
    nd_program_free(p);
    if (nd_alloc_live() != live) abort();
}
