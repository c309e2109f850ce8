/* bytecode.h: the in-memory form of a compiled program, shared by the compiler (which
 * builds it), src/nbc (which writes, reads, verifies and disassembles it) and the VM
 * (which runs it).  The file format is in docs/bytecode.md; nothing here is dumped raw.
 *
 * Invariants after nd_nbc_verify: every operand is in range for its kind
 * (opcodes.def), every jump lands inside its function, funcs[0] is the main chunk with
 * no parameters, nparams <= nregs, and every function ends in RET.
 */
#ifndef NOODLE_BYTECODE_H
#define NOODLE_BYTECODE_H

#include <stdint.h>

#define ND_NBC_MAGIC "NOODLEBC"  /* 8 bytes at offset 0 */
/* 2: only JMP, FORLOOP and ITERLOOP jump backwards (each passes a safe point), and their
 * x field and CALL's carry ND_X_LOCAL.  Version 1 files are refused: recompile. */
#define ND_NBC_VERSION 2u
/* x of JMP, FORLOOP, ITERLOOP and CALL: the instruction sits under rank-dependent control
 * (the compiler's uniformity analysis), so its safe point is local: it never joins the
 * ranks' agreement, and a CALL makes the callee's frame local (docs/checkpoint.md). */
#define ND_X_LOCAL 1u

typedef enum nd_opcode {
#define OP(name, fmt, ka, kb, kc, doc) ND_OP_##name,
#include "noodle/opcodes.def"
#undef OP
    ND_NUM_OPCODES
} nd_opcode;

/* One instruction: 8 bytes.  See opcodes.def for the formats. */
typedef struct nd_instr {
    uint8_t op;
    uint8_t x;
    uint16_t a, b, c;
} nd_instr;

#define ND_BX(i) ((uint32_t)(i).b | (uint32_t)(i).c << 16)
#define ND_SBX(i) ((int32_t)ND_BX(i))

typedef enum nd_const_kind { ND_K_INT = 1, ND_K_FLOAT = 2, ND_K_STR = 3 } nd_const_kind;

typedef struct nd_const {
    uint8_t kind;
    int64_t i;
    double f;
    char *s;       /* ND_K_STR: bytes (NUL-terminated, may hold NULs) */
    uint32_t slen;
} nd_const;

/* Source position of one instruction, counted from 1. */
typedef struct nd_pos {
    uint32_t line, col;
} nd_pos;

typedef struct nd_func {
    char *name;        /* "<main>" for funcs[0], "<lambda>" for an anonymous function */
    uint32_t line;     /* line of the declaration */
    uint32_t nparams;  /* parameters are R[0 .. nparams-1] on entry */
    uint32_t nregs;    /* registers the frame needs (>= nparams, >= 1) */
    uint32_t ncode;
    nd_instr *code;
    nd_pos *pos;       /* pos[k] is the position of code[k] */
} nd_func;

typedef struct nd_program {
    char *source_name;        /* the path as given to the compiler */
    uint8_t source_sha256[32];
    uint32_t flags;           /* bit 0: optimized */
    uint32_t nconsts;
    nd_const *consts;
    uint32_t nfuncs;
    nd_func *funcs;
    uint32_t nglobals;
    char **globals;           /* names of the global slots, for messages and checkpoints */
} nd_program;

#define ND_PROG_OPTIMIZED 1u

#endif
