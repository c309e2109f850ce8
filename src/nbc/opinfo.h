/* opinfo.h: private to src/nbc.  The operand format and kinds of each opcode, expanded
 * from noodle/opcodes.def (the single definition of the instruction set) for the
 * verifier and the disassembler.  docs/bytecode.md explains the kinds. */
#ifndef ND_NBC_OPINFO_H
#define ND_NBC_OPINFO_H

#include "noodle/bytecode.h"

#include <stdint.h>

typedef enum { NBC_FMT_ABC, NBC_FMT_ABX, NBC_FMT_ASBX } nbc_fmt;

/* Operand kinds, named as in opcodes.def ('_' is unused). */
typedef enum {
    NBC_K_R, NBC_K_K, NBC_K_G, NBC_K_F, NBC_K_I, NBC_K_J, NBC_K_N, NBC_K__
} nbc_kind;

typedef struct nbc_opinfo {
    const char *name;
    uint8_t fmt;       /* nbc_fmt */
    uint8_t kind[3];   /* nbc_kind of the a, b (or Bx/sBx) and c fields */
} nbc_opinfo;

/* The fixed header: magic (8), version (u32), flags (u32), payload length (u64),
 * CRC-32C of the payload (u32). */
#define NBC_HEADER_SIZE 28u
#define NBC_OFF_VERSION 8u
#define NBC_OFF_PAYLOAD_LEN 16u
#define NBC_OFF_CRC 24u
/* Bytes of one serialized instruction: op, x, a, b, c. */
#define NBC_INSTR_SIZE 8u

/* Indexed by opcode; defined in program.c. */
extern const nbc_opinfo nd_nbc_opinfo[ND_NUM_OPCODES];

#endif
