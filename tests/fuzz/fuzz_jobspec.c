/* fuzz_jobspec.c: libFuzzer harness for job specs (src/config/jobspec.c, jobs/README.md):
 * any bytes loaded as job.yaml through nd_cfg_jobspec_load_text are accepted or rejected
 * with ND_EUSAGE, a message that names the file and an empty spec.  An accepted spec goes
 * on as in noodle-submit (src/slurm/submit.c): its config overrides are set on a default
 * config (they must pass: the spec validated them), its sweep maps every task index, and
 * the batch script is rendered from slurm/noodle.sbatch.in into memory (nothing is written
 * or run).  Every byte allocated is freed. */
#include "common/alloc.h"
#include "config/jobspec.h"
#include "slurm/slurm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static nd_strbuf tmpl;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_jobspec: %s: %s\n", what, nd_err_msg());
    abort();
}

/* submit.c's nd_slurm_abspath(dir) + "/" + name, without the working directory. */
static void under(nd_strbuf *out, const char *dir, const char *name)
{
    nd_status st = dir[0] == '/' ? nd_sb_puts(out, dir) : nd_sb_printf(out, "/fuzz/%s", dir);
    if (st == ND_OK && name) st = nd_sb_printf(out, "/%s", name);
    if (st != ND_OK) fail("path");
}

static void check_task(const nd_cfg_jobspec *job, uint64_t index)
{
    nd_strbuf sb;
    nd_sb_init(&sb);
    if (nd_slurm_task_shell(job, index, &sb) != ND_OK) fail("task_shell");
    nd_sb_free(&sb);
}

static void submit(const nd_cfg_jobspec *job)
{
    nd_cfg cfg;
    if (nd_cfg_init(&cfg) != ND_OK) fail("init");
    for (size_t k = 0; k < job->config.n; k++)
        if (nd_cfg_set(&cfg, job->config.keys[k], job->config.vals[k], "config (job spec)") != ND_OK)
            fail("a config override of an accepted spec");
    uint64_t n = nd_cfg_jobspec_count(job);
    if (n < 1) fail("no tasks");
    check_task(job, 0);
    check_task(job, n - 1);
    const char *names[4], *vals[4];
    size_t got;
    if (nd_cfg_jobspec_task(job, n, names, vals, 4, &got) != ND_EUSAGE) fail("task out of range");
    char t[48];
    nd_cfg_jobspec_time_str(job, t, sizeof t);

    nd_strbuf ckpt, cat, script;
    nd_sb_init(&ckpt), nd_sb_init(&cat), nd_sb_init(&script);
    under(&ckpt, cfg.checkpoint_dir, job->name);
    under(&cat, cfg.catalog_path, NULL);
    nd_slurm_spec sp = {
        .job = job,
        .spec_path = "/fuzz/jobs/job.yaml",
        .program = "/fuzz/.noodle-jobs/job.nbc",
        .source = "/fuzz/examples/prog.noodle",
        .checkpoint_dir = ckpt.data,
        .catalog = cat.data,
        .noodle_run = "/usr/bin/noodle-run",
        .noodle_mql = "/usr/bin/noodle-mql",
        .noodle_submit = "/usr/bin/noodle-submit",
        .launcher = cfg.launcher,
        .signal_lead = cfg.checkpoint_signal_lead,
        .threads_per_rank = cfg.threads_per_rank,
    };
    nd_status st = nd_slurm_render(&sp, tmpl.data, "noodle.sbatch.in", &script);
    /* refused: odd characters in a partition or account, a line break in a path, a
     * signal lead beyond Slurm's */
    if (st != ND_OK && st != ND_EUSAGE) fail("render");
    if (st == ND_OK && (!script.data || strncmp(script.data, "#!/bin/bash\n", 12) != 0))
        fail("rendered script");
    nd_sb_free(&ckpt), nd_sb_free(&cat), nd_sb_free(&script);
    nd_cfg_free(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tmpl.data && nd_slurm_read_file(ND_FUZZ_TEMPLATE, &tmpl) != ND_OK) fail("template");
    size_t live = nd_alloc_live();
    nd_cfg_jobspec job;
    nd_status st = nd_cfg_jobspec_load_text("job.yaml", (const char *)data, size, &job);
    if (st == ND_OK) {
        if (!job.program || !job.name || !job.path) fail("accepted spec without a program");
        submit(&job);
        nd_cfg_jobspec_free(&job);
    } else {
        if (st != ND_EUSAGE && st != ND_ENOMEM) fail("unexpected status");
        if (st == ND_EUSAGE && strncmp(nd_err_msg(), "job.yaml:", 9) != 0)
            fail("the message does not name the file");
        if (job.path || job.program || job.name || job.n_sweep || job.modules)
            fail("a rejected spec is not empty");
    }
    if (nd_alloc_live() != live) fail("allocations left behind");
    return 0;
}
