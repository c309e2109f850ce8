/* fuzz_compile.c: libFuzzer harness for the compiler (src/compiler/compiler.h): any
 * bytes must either compile to a program that passes nd_nbc_verify, or be rejected with
 * ND_EPROG and diagnostics; nothing may crash or leak
 * (leaks are LeakSanitizer's to find).  The verifier includes the safe-point invariant
 * (only JMP, FORLOOP and ITERLOOP jump backwards: docs/vm.md "Safe points"), so every
 * program the fuzzer compiles, at -O0 or -O1 by the input's length, is checked for it. */
#include "common/alloc.h"
#include "compiler/compiler.h"
#include "nbc/nbc.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!devnull) devnull = fopen("/dev/null", "w");
    nd_compile_opts opts = {.opt_level = (size & 1) ? 1 : 0, .diag = devnull, .max_errors = 0};
    nd_program *p = NULL;
    nd_status st = nd_compile("fuzz.noodle", (const char *)data, size, &opts, &p);
    if (st == ND_OK) {
        if (!p) abort();
        /* The compiler must never emit bytecode the VM would refuse. */
        if (nd_nbc_verify(p) != ND_OK) {
            fprintf(stderr, "compiled program fails verification: %s\n", nd_err_msg());
            abort();
        }
        nd_program_free(p);
    } else if (p || (st != ND_EPROG && st != ND_ENOMEM)) {
        abort();
    }
    return 0;
}
