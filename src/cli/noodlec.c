/* noodlec.c: the Noodle compiler program (man/noodlec.1, docs/language.md).
 *   noodlec prog.noodle [-o prog.nbc] [-O0|-O1] [--check] [--disasm]
 *   noodlec --disasm prog.nbc
 *   noodlec --gen-key NAME;  noodlec prog.noodle|prog.nbc --sign NAME.key [-o out.nbc]
 * Only parses arguments and calls the compiler and src/nbc.  Exit codes: 0 ok, 1 compile
 * error, 2 usage (bad flag, missing or unreadable file), 3 invalid .nbc. */
#include "ac_config.h"

#include "cli/cli.h"
#include "common/alloc.h"
#include "common/outfile.h"
#include "common/path.h"
#include "common/nd.h"
#include "compiler/compiler.h"
#include "nbc/nbc.h"
#include "nbc/sign.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: noodlec PROG.noodle [-o PROG.nbc] [-O0|-O1] [--check] [--disasm]\n"
    "       noodlec --disasm PROG.nbc\n"
    "       noodlec PROG.noodle|PROG.nbc --sign NAME.key [-o OUT.nbc]\n"
    "       noodlec --gen-key NAME\n"
    "\n"
    "Compiles a Noodle program to bytecode (by default PROG.nbc next to the source).\n"
    "  -o FILE     write the bytecode to FILE\n"
    "  -O0         no optimization (-O1, the default, folds constants, removes dead\n"
    "              code, threads jumps and runs a peephole pass)\n"
    "  --check     only check the program; write nothing\n"
    "  --disasm    print the disassembly (of the compiled program, or of a .nbc\n"
    "              file); with a source file nothing is written unless -o is given\n"
    "  --sign KEY  sign the bytecode with the secret key KEY (NAME.key); a .nbc input\n"
    "              is signed in place unless -o is given\n"
    "  --gen-key NAME  write a new signing key pair: NAME.key (mode 0600) and NAME.pub\n"
    "  --help      this text\n"
    "  --version   print the version\n"
    "Exit status: 0 ok, 1 compile error, 2 usage error, 3 invalid .nbc file.\n";

static const nd_cli cli = {.prog = "noodlec", .usage = usage};

static int fail(nd_status st)
{
    fprintf(stderr, "noodlec: error: %s\n", nd_err_msg());
    return nd_status_exit_code(st);
}

/* Writes p's bytecode to path, signed with the key in key_path when given. */
static nd_status write_nbc(const void *bytes, size_t len, const char *path, const char *key_path)
{
    nd_strbuf sb;
    nd_sb_init(&sb);
    nd_status st = ND_OK;
    if (key_path) {
        uint8_t sk[64];
        st = nd_sign_load_secret(key_path, sk);
        if (st == ND_OK) st = nd_nbc_sign(bytes, len, sk, &sb);
        memset(sk, 0, sizeof sk);
        bytes = sb.data, len = sb.len;
    }
    nd_outfile o;
    if (st == ND_OK) st = nd_out_open(path, &o);
    if (st == ND_OK) {
        st = nd_out_write(&o, bytes, len);
        nd_status cst = nd_out_close(&o, st == ND_OK);
        if (st == ND_OK) st = cst;
    }
    nd_sb_free(&sb);
    return st;
}

/* --sign of an existing .nbc: read and verified first, so that only sound bytecode
 * is ever signed. */
static int sign_nbc(const char *in, const char *out, const char *key)
{
    nd_strbuf sb;
    nd_sb_init(&sb);
    nd_status st = nd_nbc_read_bytes(in, &sb);
    nd_program *p = NULL;
    if (st == ND_OK) st = nd_nbc_read(sb.data ? sb.data : "", sb.len, &p);
    if (st == ND_OK) st = nd_nbc_verify(p);
    nd_program_free(p);
    if (st == ND_EINVALID) st = nd_err_set(ND_EINVALID, "%s: %s", in, nd_err_msg());
    if (st == ND_OK) st = write_nbc(sb.data, sb.len, out ? out : in, key);
    nd_sb_free(&sb);
    return st == ND_OK ? ND_EXIT_OK : fail(st);
}

static int disasm_nbc(const char *path)
{
    nd_program *p = NULL;
    nd_status st = nd_nbc_read_file(path, &p);
    if (st == ND_OK) st = nd_nbc_verify(p);
    if (st == ND_OK) st = nd_nbc_disasm(p, stdout);
    nd_program_free(p);
    return st == ND_OK ? ND_EXIT_OK : fail(st);
}

int main(int argc, char **argv)
{
    const char *input = NULL, *output = NULL, *sign_key = NULL, *gen_key = NULL;
    bool check = false, disasm = false;
    int opt_level = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (nd_cli_help_version(&cli, a)) {
            return ND_EXIT_OK;
        } else if (strcmp(a, "-o") == 0) {
            if (++i >= argc) return nd_cli_usage_error(&cli, "%s needs a file name", a);
            output = argv[i];
        } else if (strcmp(a, "-O0") == 0) {
            opt_level = 0;
        } else if (strcmp(a, "-O1") == 0 || strcmp(a, "-O") == 0) {
            opt_level = 1;
        } else if (strcmp(a, "--check") == 0) {
            check = true;
        } else if (strcmp(a, "--disasm") == 0) {
            disasm = true;
        } else if (strcmp(a, "--sign") == 0 || strcmp(a, "--gen-key") == 0) {
            if (++i >= argc) return nd_cli_usage_error(&cli, "%s needs a %s", a, a[2] == 's' ? "key file" : "key name");
            *(a[2] == 's' ? &sign_key : &gen_key) = argv[i];
        } else if (a[0] == '-' && a[1] != '\0') {
            return nd_cli_usage_error(&cli, "unknown option '%s'", a);
        } else if (input) {
            return nd_cli_usage_error(&cli, "more than one input file ('%s')", a);
        } else {
            input = a;
        }
    }
    if (gen_key) {
        if (input || output || sign_key || check || disasm)
            return nd_cli_usage_error(&cli, "--gen-key takes only the key name");
        nd_status st = nd_sign_gen_key(gen_key);
        if (st != ND_OK) return fail(st);
        fprintf(stderr, "noodlec: wrote %s.key (secret, mode 0600) and %s.pub\n", gen_key, gen_key);
        return ND_EXIT_OK;
    }
    if (!input) return nd_cli_usage_error(&cli, "no input file");
    int is_nbc = nd_nbc_file_kind(input);
    if (is_nbc < 0) {
        return nd_cli_usage_error(&cli, "cannot read '%s': %s", input, strerror(errno));
    }
    if (is_nbc && sign_key) {
        if (disasm || check) return nd_cli_usage_error(&cli, "--sign of a .nbc takes only -o");
        return sign_nbc(input, output, sign_key);
    }
    if (sign_key && check) return nd_cli_usage_error(&cli, "--check writes nothing to sign");
    if (is_nbc) {
        if (!disasm)
            return nd_cli_usage_error(
                &cli, "'%s' is already bytecode (use --disasm to list it)", input);
        if (output || check)
            return nd_cli_usage_error(&cli, "-o and --check take a source file");
        return disasm_nbc(input);
    }

    nd_compile_opts opts = {.opt_level = opt_level, .diag = stderr, .max_errors = 0};
    nd_program *p = NULL;
    nd_status st = nd_compile_file(input, &opts, &p);
    if (st == ND_EPROG) return ND_EXIT_PROGRAM; /* the diagnostics are printed */
    if (st != ND_OK) {
        if (st == ND_EUSAGE) {
            return nd_cli_usage_error(&cli, "%s", nd_err_msg());
        }
        return fail(st);
    }
    int rc = ND_EXIT_OK;
    if (disasm) {
        st = nd_nbc_disasm(p, stdout);
        if (st != ND_OK) rc = fail(st);
    }
    if (rc == ND_EXIT_OK && !check && (!disasm || output)) {
        char *def = output ? NULL : nd_path_nbc_for(input);
        const char *path = output ? output : def;
        nd_strbuf sb;
        nd_sb_init(&sb);
        if (!path) st = ND_ENOMEM;
        else if (!sign_key) st = nd_nbc_write_file(p, path);
        else if ((st = nd_nbc_write(p, &sb)) == ND_OK) st = write_nbc(sb.data, sb.len, path, sign_key);
        nd_sb_free(&sb);
        if (st != ND_OK) rc = fail(st);
        nd_strfree(def);
    }
    nd_program_free(p);
    return rc;
}
