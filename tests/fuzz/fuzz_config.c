/* fuzz_config.c: libFuzzer harness for config files (src/config, docs/config.md): any
 * bytes loaded as noodle.yaml through nd_cfg_load_text (nd_cfg_load_file's parser, in
 * memory) are accepted or rejected with ND_EUSAGE and a message that names the file.
 * Either way the config then goes where noodle-run sends it: pack, unpack (the other
 * ranks' copy, which must pack to the same bytes), --print-config, and the YAML emitted
 * into checkpoints, which must load back to the same values.  Every byte allocated is
 * freed (the allocator's live count returns to its start). */
#include "common/alloc.h"
#include "config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_config: %s: %s\n", what, nd_err_msg());
    abort();
}

/* The canonical text of every key, one a line. */
static void values(const nd_cfg *cfg, nd_strbuf *out)
{
    for (int k = 0; k < ND_CFG_NKEYS; k++) {
        if (nd_cfg_value_str(cfg, (nd_cfg_key)k, out) != ND_OK) fail("value_str");
        if (nd_sb_putc(out, '\n') != ND_OK) fail("putc");
    }
}

/* What noodle-run does with a loaded (or partly loaded) config. */
static void downstream(const nd_cfg *cfg)
{
    nd_strbuf p1, p2, v1, v2, y;
    nd_sb_init(&p1), nd_sb_init(&p2), nd_sb_init(&v1), nd_sb_init(&v2), nd_sb_init(&y);
    /* rank 0 packs, the others unpack: the same values and origins */
    nd_cfg back;
    if (nd_cfg_init(&back) != ND_OK) fail("init");
    if (nd_cfg_pack(cfg, &p1) != ND_OK) fail("pack");
    if (nd_cfg_unpack(&back, p1.data, p1.len) != ND_OK) fail("unpack of a packed config");
    if (nd_cfg_pack(&back, &p2) != ND_OK) fail("pack");
    if (p1.len != p2.len || memcmp(p1.data, p2.data, p1.len) != 0) fail("pack round trip");
    /* --print-config */
    if (nd_cfg_format(&back, &p2) != ND_OK) fail("format");
    (void)nd_cfg_launcher_resolve(&back);
    nd_cfg_free(&back);
    /* the YAML of checkpoint provenance reads back to the same values */
    if (nd_cfg_emit_yaml(cfg, &y) != ND_OK) fail("emit_yaml");
    if (nd_cfg_init(&back) != ND_OK) fail("init");
    if (nd_cfg_load_text(&back, "emitted.yaml", y.data, y.len) != ND_OK) {
        fprintf(stderr, "%s\n", y.data);
        fail("emitted YAML does not load");
    }
    values(cfg, &v1);
    values(&back, &v2);
    if (strcmp(v1.data, v2.data) != 0) {
        fprintf(stderr, "loaded:\n%s\nread back:\n%s\n", v1.data, v2.data);
        fail("emitted YAML reads back different values");
    }
    nd_cfg_free(&back);
    nd_sb_free(&p1), nd_sb_free(&p2), nd_sb_free(&v1), nd_sb_free(&v2), nd_sb_free(&y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t live = nd_alloc_live();
    nd_cfg cfg;
    if (nd_cfg_init(&cfg) != ND_OK) fail("init");
    nd_status st = nd_cfg_load_text(&cfg, "noodle.yaml", (const char *)data, size);
    if (st != ND_OK) {
        if (st != ND_EUSAGE && st != ND_ENOMEM) fail("unexpected status");
        if (st == ND_EUSAGE && strncmp(nd_err_msg(), "noodle.yaml:", 12) != 0)
            fail("the message does not name the file");
    }
    /* on error cfg still holds valid values (config.h) */
    downstream(&cfg);
    nd_cfg_free(&cfg);
    if (nd_alloc_live() != live) fail("allocations left behind");
    return 0;
}
