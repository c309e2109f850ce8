/* check_slurm.c: unit tests of src/slurm without a Slurm cluster: shell quoting (checked
 * by running bash on the result), MQL literals, template expansion, rendering of single
 * jobs and arrays (directives, case tables, bash -n), the generated script's behaviour
 * with fake srun / noodle-run / scontrol / noodle-mql on PATH (parameters, requeue on
 * exit 75, SIGUSR1 forwarding, the skip check), spec errors through noodle-submit's
 * dry run, and the status helpers (scontrol parsing, checkpoints, progress lines).
 * Each test runs in a fresh temporary directory. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "nd_check.h"
#include "ckpt/mark.h"
#include "common/alloc.h"
#include "config/config.h"
#include "config/jobspec.h"
#include "slurm/slurm.h"

#include <ftw.h>
#include <signal.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];
static char oldcwd[4096];

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fputs(text, fp);
    fclose(fp);
}

static void write_exec(const char *path, const char *text)
{
    write_file(path, text);
    ck_assert_int_eq(chmod(path, 0755), 0);
}

/* Buffers handed out by the helpers below, freed by teardown (no leaks under LSan). */
static nd_strbuf kept[128];
static size_t nkept;

static char *keep(nd_strbuf *sb)
{
    ck_assert_uint_lt(nkept, sizeof kept / sizeof kept[0]);
    kept[nkept] = *sb;
    nd_sb_init(sb);
    return kept[nkept++].data;
}

static char *slurp(const char *path)
{
    nd_strbuf sb;
    nd_sb_init(&sb);
    if (nd_slurm_read_file(path, &sb) != ND_OK) {
        nd_sb_free(&sb);
        nd_err_clear();
        return NULL;
    }
    return keep(&sb);
}

static void setup(void)
{
    ck_assert_ptr_nonnull(getcwd(oldcwd, sizeof oldcwd));
    snprintf(tmpdir, sizeof tmpdir, "/tmp/check_slurm.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ck_assert_int_eq(chdir(tmpdir), 0);
    for (int k = 0; k < ND_CFG_NKEYS; k++) {
        char name[96];
        nd_cfg_env_name((nd_cfg_key)k, name, sizeof name);
        unsetenv(name);
    }
    unsetenv("NOODLE_CONFIG");
    unsetenv("NOODLE_NO_SKIP");
    unsetenv("SLURM_RESTART_COUNT");
    unsetenv("SLURM_ARRAY_TASK_ID");
    setenv("XDG_CONFIG_HOME", tmpdir, 1);
    setenv("SLURM_JOB_ID", "4242", 1);
    nd_err_clear();
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void teardown(void)
{
    for (size_t k = 0; k < nkept; k++) nd_sb_free(&kept[k]);
    nkept = 0;
    ck_assert_int_eq(chdir(oldcwd), 0);
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Runs bash -c SCRIPT with the given argument and returns its stdout (owned). */
static char *bash_out(const char *script, const char *arg)
{
    char *argv[] = {(char *)"bash", (char *)"-c", (char *)script, (char *)"x", (char *)arg, NULL};
    nd_strbuf out;
    nd_sb_init(&out);
    int rc = -1;
    ck_assert_int_eq(nd_slurm_run(argv, &out, NULL, &rc), ND_OK);
    ck_assert_int_eq(rc, 0);
    return keep(&out);
}

/* ---- quoting and literals ---- */

START_TEST(test_shell_quote_roundtrip)
{
    static const char *const cases[] = {
        "plain", "", "two words", "it's", "'", "''", "a\"b", "$HOME `id` $(id)", "back\\slash",
        "new\nline", "semi;colon && rm -rf /", "*?[glob]", "tab\there", "-n",
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        nd_strbuf q, script;
        nd_sb_init(&q);
        nd_sb_init(&script);
        ck_assert_int_eq(nd_slurm_shell_quote(&q, cases[k]), ND_OK);
        /* the quoted word, read back by bash, is exactly the original text */
        ck_assert_int_eq(nd_sb_printf(&script, "printf '%%s' %s", q.data), ND_OK);
        char *got = bash_out(script.data, "");
        ck_assert_str_eq(got ? got : "", cases[k]);
        nd_sb_free(&q);
        nd_sb_free(&script);
    }
}
END_TEST

static void literal_is(const char *text, const char *want)
{
    nd_strbuf sb;
    nd_sb_init(&sb);
    bool ok = false;
    ck_assert_int_eq(nd_slurm_mql_literal(&sb, text, &ok), ND_OK);
    if (want) {
        ck_assert_msg(ok, "literal of '%s' should be usable", text);
        ck_assert_str_eq(sb.data, want);
    } else {
        ck_assert_msg(!ok, "literal of '%s' should be refused", text);
        ck_assert_uint_eq(sb.len, 0);
    }
    nd_sb_free(&sb);
}

START_TEST(test_mql_literal)
{
    literal_is("100", "100");
    literal_is("-5", "-5");
    literal_is("+7", "7");
    literal_is("0.1", "0.1");
    literal_is("1e3", "1000.0");
    literal_is("2.50", "2.5");
    literal_is("abc", "'abc'");
    literal_is("it's", "'it''s'");
    literal_is("two words", "'two words'");
    literal_is("", "''");
    literal_is("nan", "'nan'");   /* the catalog keeps nan/inf texts as strings */
    literal_is("inf", "'inf'");
    literal_is("-inf", NULL);     /* stored as a float -inf: no MQL literal matches */
    literal_is("1e999", NULL);
    literal_is("12abc", "'12abc'");
}
END_TEST

START_TEST(test_where)
{
    const char *names[] = {"n", "msg"};
    const char *vals[] = {"200", "a b"};
    nd_strbuf sb;
    nd_sb_init(&sb);
    bool ok = false;
    ck_assert_int_eq(nd_slurm_where(&sb, names, vals, 2, &ok), ND_OK);
    ck_assert(ok);
    ck_assert_str_eq(sb.data, "params.\"n\" = 200 AND params.\"msg\" = 'a b'");
    nd_sb_free(&sb);
    const char *bad[] = {"1", "-inf"};
    ck_assert_int_eq(nd_slurm_where(&sb, names, bad, 2, &ok), ND_OK);
    ck_assert(!ok);
    ck_assert_uint_eq(sb.len, 0); /* nothing half-written */
    nd_sb_free(&sb);
}
END_TEST

/* ---- template expansion ---- */

START_TEST(test_expand)
{
    nd_kv vars;
    nd_kv_init(&vars);
    ck_assert_int_eq(nd_kv_set(&vars, "NAME", "job1"), ND_OK);
    ck_assert_int_eq(nd_kv_set(&vars, "LEAD_2", "90"), ND_OK);
    nd_strbuf out;
    nd_sb_init(&out);
    ck_assert_int_eq(nd_slurm_expand("a @NAME@ b @LEAD_2@ @@x mail user@host ${A[@]} @\n",
                                     "t.in", &vars, &out),
                     ND_OK);
    ck_assert_str_eq(out.data, "a job1 b 90 @x mail user@host ${A[@]} @\n");
    nd_sb_free(&out);
    ck_assert_int_eq(nd_slurm_expand("line1\nline2 @NOPE@\n", "t.in", &vars, &out), ND_EUSAGE);
    ck_assert_str_eq(nd_err_msg(), "t.in:2: unknown template variable @NOPE@");
    nd_sb_free(&out);
    nd_kv_free(&vars);
}
END_TEST

/* ---- rendering ---- */

typedef struct fixture {
    nd_cfg_jobspec job;
    nd_slurm_spec spec;
    char spec_path[512], prog[512], ckpt[512], cat[512], run[512], mql[512], sub[512];
} fixture;

/* Loads SPEC_TEXT from job.yaml and fills a render spec pointing at fakes in tmpdir. */
static void fixture_load(fixture *f, const char *spec_text)
{
    memset(f, 0, sizeof *f);
    write_file("job.yaml", spec_text);
    ck_assert_msg(nd_cfg_jobspec_load("job.yaml", &f->job) == ND_OK, "%s", nd_err_msg());
    snprintf(f->spec_path, sizeof f->spec_path, "%s/job.yaml", tmpdir);
    snprintf(f->prog, sizeof f->prog, "%s/prog.nbc", tmpdir);
    snprintf(f->ckpt, sizeof f->ckpt, "%s/ckpt/%s", tmpdir, f->job.name);
    snprintf(f->cat, sizeof f->cat, "%s/catalog", tmpdir);
    snprintf(f->run, sizeof f->run, "%s/fake-run", tmpdir);
    snprintf(f->mql, sizeof f->mql, "%s/fake-mql", tmpdir);
    snprintf(f->sub, sizeof f->sub, "%s/fake-submit", tmpdir);
    f->spec = (nd_slurm_spec){
        .job = &f->job, .spec_path = f->spec_path, .program = f->prog, .source = "prog.noodle",
        .checkpoint_dir = f->ckpt, .catalog = f->cat, .noodle_run = f->run,
        .noodle_mql = f->mql, .noodle_submit = f->sub, .launcher = ND_LAUNCHER_AUTO,
        .signal_lead = 120, .threads_per_rank = 1,
    };
}

static char *render(fixture *f)
{
    nd_strbuf out;
    nd_sb_init(&out);
    char *tmpl = slurp(ND_SLURM_TEMPLATE);
    ck_assert_ptr_nonnull(tmpl);
    nd_status st = nd_slurm_render(&f->spec, tmpl, "noodle.sbatch.in", &out);
    ck_assert_msg(st == ND_OK, "render: %s", nd_err_msg());
    write_exec("job.sbatch", out.data);
    /* the script is valid bash */
    char *argv[] = {(char *)"bash", (char *)"-n", (char *)"job.sbatch", NULL};
    int rc = -1;
    ck_assert_int_eq(nd_slurm_run(argv, NULL, NULL, &rc), ND_OK);
    ck_assert_int_eq(rc, 0);
    return keep(&out);
}

static void has(const char *text, const char *needle)
{
    ck_assert_msg(strstr(text, needle) != NULL, "missing '%s' in:\n%s", needle, text);
}

static void lacks(const char *text, const char *needle)
{
    ck_assert_msg(strstr(text, needle) == NULL, "unexpected '%s' in:\n%s", needle, text);
}

static const char single_spec[] =
    "name: gp-big\n"
    "program: prog.noodle\n"
    "ranks: 4\n"
    "nodes: 2\n"
    "time: 90\n"
    "partition: compute\n"
    "account: proj42\n"
    "gpus: 1\n"
    "modules: [openmpi/4.1, \"hdf5 1.10\"]\n"
    "environment:\n"
    "  OMP_PROC_BIND: close\n"
    "  GREETING: \"it's a 'test'\"\n"
    "config:\n"
    "  checkpoint:\n"
    "    interval: 30\n"
    "  block_size: 128\n"
    "params:\n"
    "  n: 400\n"
    "  label: \"two words\"\n";

START_TEST(test_render_single)
{
    fixture f;
    fixture_load(&f, single_spec);
    f.spec.signal_lead = 299.5;
    char *s = render(&f);
    has(s, "#!/bin/bash\n");
    has(s, "#SBATCH --job-name=gp-big\n");
    has(s, "#SBATCH --output=%x-%j.out\n");
    has(s, "#SBATCH --open-mode=append\n");
    has(s, "#SBATCH --requeue\n");
    has(s, "#SBATCH --signal=B:USR1@300\n"); /* rounded up: never later than asked */
    has(s, "#SBATCH --ntasks=4\n#SBATCH --nodes=2\n");
    has(s, "#SBATCH --time=1:30:00\n");
    has(s, "#SBATCH --partition=compute\n");
    has(s, "#SBATCH --account=proj42\n");
    has(s, "#SBATCH --gpus-per-node=1\n");
    lacks(s, "--array");
    lacks(s, "--cpus-per-task");
    has(s, "module load 'openmpi/4.1' ||");
    has(s, "module load 'hdf5 1.10' ||");
    has(s, "export OMP_PROC_BIND='close'\n");
    has(s, "export GREETING='it'\\''s a '\\''test'\\'''\n");
    has(s, "export NOODLE_CHECKPOINT_INTERVAL='30.0'\n");
    has(s, "export NOODLE_BLOCK_SIZE='128'\n");
    has(s, "PARAMS=(--param 'n=400' --param 'label=two words')\n");
    has(s, "LAUNCH=(srun)\n");
    has(s, "# noodle-job: checkpoint_dir=");
    has(s, "scontrol requeue \"$SLURM_JOB_ID\"");
    has(s, "--restart --checkpoint-dir \"$CHECKPOINT_DIR\"");
    lacks(s, "@NAME@");
    nd_cfg_jobspec_free(&f.job);
}
END_TEST

START_TEST(test_render_mpirun_threads)
{
    fixture f;
    fixture_load(&f, "program: prog.nbc\nranks: 3\n");
    f.spec.launcher = ND_LAUNCHER_MPIRUN;
    f.spec.threads_per_rank = 2;
    char *s = render(&f);
    has(s, "LAUNCH=(mpirun -n \"${SLURM_NTASKS:-3}\")\n");
    has(s, "#SBATCH --cpus-per-task=2\n");
    has(s, "#SBATCH --job-name=prog\n");
    has(s, "PARAMS=()\n");
    lacks(s, "--time");
    lacks(s, "--partition");
    nd_cfg_jobspec_free(&f.job);
}
END_TEST

static const char sweep_spec[] =
    "name: sweep\n"
    "program: prog.noodle\n"
    "params:\n"
    "  steps: 10\n"
    "sweep:\n"
    "  n: [100, 200]\n"
    "  seed: [1, 2, \"x y\"]\n"
    "throttle: 2\n";

START_TEST(test_render_array)
{
    fixture f;
    fixture_load(&f, sweep_spec);
    char *s = render(&f);
    has(s, "#SBATCH --array=0-5%2\n");
    has(s, "#SBATCH --output=%x-%A_%a.out\n");
    has(s, "  0) TASK_PARAMS=(--param 'n=100' --param 'seed=1'); "
           "TASK_WHERE='params.\"n\" = 100 AND params.\"seed\" = 1' ;;\n");
    /* row-major: the last entry varies fastest; task 5 = n 200, seed "x y" */
    has(s, "  5) TASK_PARAMS=(--param 'n=200' --param 'seed=x y'); "
           "TASK_WHERE='params.\"n\" = 200 AND params.\"seed\" = '\\''x y'\\''' ;;\n");
    lacks(s, "  6)");
    has(s, "PARAMS=(--param 'steps=10')\n");
    has(s, "CHECKPOINT_DIR=\"$CHECKPOINT_DIR/task-$SLURM_ARRAY_TASK_ID\"");
    has(s, "# noodle-job: tasks=6 (array)");
    nd_cfg_jobspec_free(&f.job);

    /* without a throttle: no %N */
    fixture g;
    fixture_load(&g, "program: p.nbc\nsweep:\n  a: [1, 2, 3, 4]\n");
    s = render(&g);
    has(s, "#SBATCH --array=0-3\n");
    nd_cfg_jobspec_free(&g.job);
}
END_TEST

START_TEST(test_render_large_array)
{
    fixture f;
    fixture_load(&f, sweep_spec);
    f.spec.case_table_max = 4; /* 6 tasks: too many for a table of 4 */
    char *s = render(&f);
    lacks(s, "case \"${SLURM_ARRAY_TASK_ID");
    has(s, "--task-params ");
    has(s, "eval \"$TASK_LINE\"");
    nd_cfg_jobspec_free(&f.job);
}
END_TEST

START_TEST(test_render_refuses_unsafe)
{
    fixture f;
    fixture_load(&f, "program: p.nbc\npartition: \"a b\"\n");
    nd_strbuf out;
    nd_sb_init(&out);
    ck_assert_int_eq(nd_slurm_render(&f.spec, "@JOB_NAME@", "t", &out), ND_EUSAGE);
    ck_assert_ptr_nonnull(strstr(nd_err_msg(), "partition: 'a b'"));
    nd_cfg_jobspec_free(&f.job);

    fixture g;
    fixture_load(&g, "program: p.nbc\naccount: \"x\\ny\"\n");
    ck_assert_int_eq(nd_slurm_render(&g.spec, "@JOB_NAME@", "t", &out), ND_EUSAGE);
    nd_cfg_jobspec_free(&g.job);

    fixture h;
    fixture_load(&h, "program: p.nbc\n");
    h.spec.catalog = "/tmp/a\nrm -rf /";
    ck_assert_int_eq(nd_slurm_render(&h.spec, "@JOB_NAME@", "t", &out), ND_EUSAGE);
    ck_assert_ptr_nonnull(strstr(nd_err_msg(), "line break"));
    h.spec.catalog = h.cat;
    h.spec.signal_lead = 70000;
    ck_assert_int_eq(nd_slurm_render(&h.spec, "@JOB_NAME@", "t", &out), ND_EUSAGE);
    nd_cfg_jobspec_free(&h.job);
    nd_sb_free(&out);
}
END_TEST

START_TEST(test_task_shell_and_params)
{
    fixture f;
    fixture_load(&f, sweep_spec);
    nd_strbuf sb;
    nd_sb_init(&sb);
    ck_assert_int_eq(nd_slurm_task_shell(&f.job, 4, &sb), ND_OK);
    ck_assert_str_eq(sb.data, "TASK_PARAMS=(--param 'n=200' --param 'seed=2'); "
                              "TASK_WHERE='params.\"n\" = 200 AND params.\"seed\" = 2'");
    nd_sb_free(&sb);
    ck_assert_int_eq(nd_slurm_task_shell(&f.job, 6, &sb), ND_EUSAGE);
    nd_sb_free(&sb);

    /* --param: overrides a fixed one, refuses a swept one and a bad name */
    ck_assert_int_eq(nd_slurm_job_set_param(&f.job, "steps", "20"), ND_OK);
    ck_assert_str_eq(nd_kv_get(&f.job.params, "steps"), "20");
    ck_assert_int_eq(nd_slurm_job_set_param(&f.job, "seed", "9"), ND_EUSAGE);
    ck_assert_ptr_nonnull(strstr(nd_err_msg(), "'seed' is swept"));
    ck_assert_int_eq(nd_slurm_job_set_param(&f.job, "9lives", "1"), ND_EUSAGE);
    ck_assert_int_eq(nd_slurm_job_set_param(&f.job, "extra", "it's"), ND_OK);
    nd_cfg_jobspec_free(&f.job);

    /* --task-params prints the same line, and checks its arguments */
    FILE *out = tmpfile();
    ck_assert_int_eq(nd_slurm_task_params("job.yaml", "3", out), 0);
    rewind(out);
    char line[512] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof line, out));
    ck_assert_str_eq(line, "TASK_PARAMS=(--param 'n=200' --param 'seed=1'); "
                           "TASK_WHERE='params.\"n\" = 200 AND params.\"seed\" = 1'\n");
    fclose(out);
    ck_assert_int_eq(nd_slurm_task_params("job.yaml", "6", stdout), 2);
    ck_assert_int_eq(nd_slurm_task_params("job.yaml", "-1", stdout), 2);
    ck_assert_int_eq(nd_slurm_task_params("job.yaml", "x", stdout), 2);
    ck_assert_int_eq(nd_slurm_task_params("missing.yaml", "0", stdout), 2);
}
END_TEST

/* ---- the generated script, run against fakes ---- */

/* fake srun runs its command; fake noodle-run logs its argv and exits with $FAKE_RC
 * (or, with FAKE_WAIT set, waits for SIGUSR1 and exits 75); fake scontrol logs. */
static void make_fakes(void)
{
    ck_assert_int_eq(mkdir("bin", 0755), 0);
    write_exec("bin/srun", "#!/bin/bash\nexec \"$@\"\n");
    write_exec("bin/scontrol", "#!/bin/bash\necho \"$*\" >> scontrol.log\n");
    write_exec("fake-run",
               "#!/bin/bash\n"
               "for a in \"$@\"; do printf '%s\\n' \"$a\"; done > run.args\n"
               "if [ -n \"${FAKE_WAIT:-}\" ]; then\n"
               "  trap 'echo got-usr1 > run.sig; exit 75' USR1\n"
               "  touch run.ready\n"
               "  for i in $(seq 1 300); do sleep 0.05; done\n"
               "  exit 9\n"
               "fi\n"
               "exit ${FAKE_RC:-0}\n");
    write_exec("fake-mql", "#!/bin/bash\nprintf '%s\\n' \"$@\" > mql.args\n"
                           "printf 'name\\n'; [ -n \"${FAKE_FOUND:-}\" ] && printf 'res\\n'\n"
                           "exit 0\n");
    char path[4096];
    snprintf(path, sizeof path, "%s/bin:%s", tmpdir, getenv("PATH") ? getenv("PATH") : "");
    setenv("PATH", path, 1);
}

static int run_script(void)
{
    char *argv[] = {(char *)"bash", (char *)"job.sbatch", NULL};
    int rc = -1;
    ck_assert_int_eq(nd_slurm_run(argv, NULL, NULL, &rc), ND_OK);
    return rc;
}

START_TEST(test_script_runs_step)
{
    fixture f;
    fixture_load(&f, single_spec);
    make_fakes();
    /* modules would need the `module` command: give the script a no-op one */
    write_exec("bin/module", "#!/bin/bash\nexit 0\n");
    render(&f);
    setenv("FAKE_RC", "0", 1);
    ck_assert_int_eq(run_script(), 0);
    char want[2048];
    snprintf(want, sizeof want, "--restart\n--checkpoint-dir\n%s\n--catalog\n%s\n--param\nn=400\n"
                                "--param\nlabel=two words\n%s\n", f.ckpt, f.cat, f.prog);
    char *args = slurp("run.args");
    ck_assert_ptr_nonnull(args);
    ck_assert_str_eq(args, want);
    struct stat sb;
    ck_assert_int_eq(stat(f.ckpt, &sb), 0); /* the checkpoint directory is created */
    ck_assert_ptr_null(slurp("scontrol.log"));

    /* a program error is passed through, no requeue */
    setenv("FAKE_RC", "1", 1);
    ck_assert_int_eq(run_script(), 1);
    ck_assert_ptr_null(slurp("scontrol.log"));

    /* exit 75: the script requeues the job itself */
    setenv("FAKE_RC", "75", 1);
    ck_assert_int_eq(run_script(), 75);
    char *log = slurp("scontrol.log");
    ck_assert_ptr_nonnull(log);
    ck_assert_str_eq(log, "requeue 4242\n");
    nd_cfg_jobspec_free(&f.job);
}
END_TEST

START_TEST(test_script_forwards_usr1)
{
    fixture f;
    fixture_load(&f, "program: p.nbc\n");
    make_fakes();
    render(&f);
    setenv("FAKE_WAIT", "1", 1);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execlp("bash", "bash", "job.sbatch", (char *)NULL);
        _exit(127);
    }
    struct stat sb;
    int tries = 0;
    while (stat("run.ready", &sb) != 0 && tries++ < 400) {
        struct timespec ts = {0, 25 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ck_assert_int_eq(stat("run.ready", &sb), 0);
    /* what Slurm does with --signal=B:USR1@LEAD: signal the batch shell only */
    ck_assert_int_eq(kill(pid, SIGUSR1), 0);
    int wst = 0;
    ck_assert_int_eq(waitpid(pid, &wst, 0), pid);
    ck_assert(WIFEXITED(wst));
    ck_assert_int_eq(WEXITSTATUS(wst), 75);
    ck_assert_ptr_nonnull(slurp("run.sig"));
    char *log = slurp("scontrol.log");
    ck_assert_ptr_nonnull(log);
    ck_assert_str_eq(log, "requeue 4242\n");
    unsetenv("FAKE_WAIT");
    nd_cfg_jobspec_free(&f.job);
}
END_TEST

START_TEST(test_script_array_task_and_skip)
{
    fixture f;
    fixture_load(&f, sweep_spec);
    make_fakes();
    render(&f);
    ck_assert_int_eq(mkdir("catalog", 0755), 0);
    setenv("SLURM_ARRAY_TASK_ID", "4", 1);
    setenv("FAKE_RC", "0", 1);
    ck_assert_int_eq(run_script(), 0);
    char want[2048];
    snprintf(want, sizeof want, "--restart\n--checkpoint-dir\n%s/task-4\n--catalog\n%s\n"
                                "--param\nsteps=10\n--param\nn=200\n--param\nseed=2\n%s\n",
                 f.ckpt, f.cat, f.prog);
    ck_assert_str_eq(slurp("run.args"), want);
    /* the skip check asked the catalog for exactly this task's parameters */
    snprintf(want, sizeof want, "%s\nSELECT name FROM results WHERE params.\"steps\" = 10 "
                                "AND params.\"n\" = 200 AND params.\"seed\" = 2 LIMIT 1\n"
                                "--format\ncsv\n", f.cat);
    ck_assert_str_eq(slurp("mql.args"), want);

    /* a result with these parameters exists: the task is skipped */
    unlink("run.args");
    setenv("FAKE_FOUND", "1", 1);
    ck_assert_int_eq(run_script(), 0);
    ck_assert_ptr_null(slurp("run.args"));
    /* ... but never after a requeue (the run must finish), nor with NOODLE_NO_SKIP */
    setenv("SLURM_RESTART_COUNT", "1", 1);
    ck_assert_int_eq(run_script(), 0);
    ck_assert_ptr_nonnull(slurp("run.args"));
    unlink("run.args");
    setenv("SLURM_RESTART_COUNT", "0", 1);
    setenv("NOODLE_NO_SKIP", "1", 1);
    ck_assert_int_eq(run_script(), 0);
    ck_assert_ptr_nonnull(slurp("run.args"));
    unsetenv("NOODLE_NO_SKIP");
    unsetenv("FAKE_FOUND");

    /* an index outside the table is an error, not a run with no parameters */
    unlink("run.args");
    setenv("SLURM_ARRAY_TASK_ID", "6", 1);
    ck_assert_int_eq(run_script(), 2);
    ck_assert_ptr_null(slurp("run.args"));
    unsetenv("SLURM_ARRAY_TASK_ID");
    nd_cfg_jobspec_free(&f.job);
}
END_TEST

/* ---- noodle-submit's dry run: spec errors come first, nothing is written ---- */

static int dry_run(const char *spec, const char *const *params, size_t n, char **out_text)
{
    nd_slurm_submit_opts o = {.spec = spec, .params = params, .nparams = n,
                              .template_path = ND_SLURM_TEMPLATE, .dry_run = true};
    FILE *out = tmpfile();
    ck_assert_ptr_nonnull(out);
    int rc = nd_slurm_submit(&o, out);
    rewind(out);
    nd_strbuf sb;
    nd_sb_init(&sb);
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, out)) > 0) ck_assert_int_eq(nd_sb_append(&sb, buf, got), ND_OK);
    ck_assert_int_eq(nd_sb_puts(&sb, ""), ND_OK);
    fclose(out);
    char *text = keep(&sb);
    if (out_text) *out_text = text;
    return rc;
}

START_TEST(test_submit_dry_run)
{
    write_file("prog.nbc", "not really bytecode: .nbc files are not compiled\n");
    write_file("job.yaml", "program: prog.nbc\nname: dry\nsweep:\n  k: [1, 2]\n");
    const char *params[] = {"msg=hello 'world'"};
    char *text = NULL;
    ck_assert_int_eq(dry_run("job.yaml", params, 1, &text), 0);
    has(text, "#SBATCH --array=0-1\n");
    has(text, "PARAMS=(--param 'msg=hello '\\''world'\\''')\n");
    char want[600];
    snprintf(want, sizeof want, "PROGRAM='%s/prog.nbc'\n", tmpdir);
    has(text, want);
    snprintf(want, sizeof want, "CHECKPOINT_DIR='%s/checkpoints/dry'\n", tmpdir);
    has(text, want);
    snprintf(want, sizeof want, "CATALOG='%s/catalog'\n", tmpdir);
    has(text, want);
    struct stat sb;
    ck_assert_int_ne(stat(".noodle-jobs", &sb), 0); /* a dry run writes nothing */

    /* effective config: the signal lead and launcher come from noodle.yaml and the spec */
    write_file("noodle.yaml", "checkpoint:\n  signal_lead: 45\nlauncher: mpirun\n");
    ck_assert_int_eq(dry_run("job.yaml", NULL, 0, &text), 0);
    has(text, "#SBATCH --signal=B:USR1@45\n");
    has(text, "LAUNCH=(mpirun ");
    write_file("job.yaml", "program: prog.nbc\nconfig:\n  checkpoint:\n    signal_lead: 600\n");
    ck_assert_int_eq(dry_run("job.yaml", NULL, 0, &text), 0);
    has(text, "#SBATCH --signal=B:USR1@600\n");
    has(text, "export NOODLE_CHECKPOINT_SIGNAL_LEAD='600.0'\n");
}
END_TEST

/* The batch script kept under .noodle-jobs holds the spec's environment: no read or
 * execute bits beyond the umask (it was 0755 whatever the umask).  sbatch is a stub on
 * PATH that prints a job id. */
START_TEST(test_submit_script_mode)
{
    write_file("prog.nbc", "x\n");
    write_file("job.yaml", "program: prog.nbc\nname: modes\nenvironment:\n  TOKEN: secret\n");
    ck_assert_int_eq(mkdir("bin", 0755), 0);
    write_exec("bin/sbatch", "#!/bin/sh\necho 4242\n");
    char path[1200];
    snprintf(path, sizeof path, "%s/bin:%s", tmpdir, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    char *saved_path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    setenv("PATH", path, 1);
    const mode_t masks[] = {077, 022, 027};
    for (size_t k = 0; k < 3; k++) {
        mode_t old = umask(masks[k]);
        nd_slurm_submit_opts o = {.spec = "job.yaml", .template_path = ND_SLURM_TEMPLATE};
        FILE *out = tmpfile();
        int rc = nd_slurm_submit(&o, out);
        fclose(out);
        umask(old);
        ck_assert_msg(rc == 0, "noodle-submit: exit %d: %s", rc, nd_err_msg());
        DIR *d = opendir(".noodle-jobs");
        ck_assert_ptr_nonnull(d);
        struct dirent *e;
        int seen = 0;
        while ((e = readdir(d)) != NULL) {
            if (!strstr(e->d_name, ".sbatch")) continue;
            char p[600];
            snprintf(p, sizeof p, ".noodle-jobs/%s", e->d_name);
            struct stat sb;
            ck_assert_int_eq(stat(p, &sb), 0);
            ck_assert_msg((sb.st_mode & 0777) == (0777 & ~masks[k]), "%s: mode %o under umask %o",
                          e->d_name, (unsigned)(sb.st_mode & 0777), (unsigned)masks[k]);
            unlink(p);
            seen++;
        }
        closedir(d);
        ck_assert_int_eq(seen, 1);
    }
    /* sbatch output that is not a job id: exit 1, nothing passed on as an id */
    const char *bad[] = {"#!/bin/sh\necho 'Submitted batch job 12'\n", "#!/bin/sh\necho '12; rm -rf /'\n",
                         "#!/bin/sh\nprintf ''\n", "#!/bin/sh\necho 12abc\n"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        write_exec("bin/sbatch", bad[k]);
        nd_slurm_submit_opts o = {.spec = "job.yaml", .template_path = ND_SLURM_TEMPLATE};
        FILE *out = tmpfile();
        int rc = nd_slurm_submit(&o, out);
        long pos = ftell(out);
        fclose(out);
        ck_assert_msg(rc == 1 && strstr(nd_err_msg(), "sbatch printed no job id"), "%s: exit %d, %s",
                      bad[k], rc, nd_err_msg());
        ck_assert_int_eq(pos, 0);
    }
    write_exec("bin/sbatch", "#!/bin/sh\necho '77;clusterA'\n");
    nd_slurm_submit_opts o = {.spec = "job.yaml", .template_path = ND_SLURM_TEMPLATE};
    FILE *out = tmpfile();
    ck_assert_int_eq(nd_slurm_submit(&o, out), 0);
    rewind(out);
    char idbuf[32] = "";
    ck_assert_ptr_nonnull(fgets(idbuf, sizeof idbuf, out));
    ck_assert_str_eq(idbuf, "77\n");
    fclose(out);
    setenv("PATH", saved_path, 1);
    free(saved_path);
}
END_TEST

/* A job whose checkpoint directory holds a completed run: its batch script (always
 * --restart) would exit at once, so noodle-submit warns; --fresh clears the directory. */
START_TEST(test_submit_completed)
{
    write_file("prog.nbc", "x\n");
    write_file("job.yaml", "program: prog.nbc\nname: done\n");
    ck_assert_int_eq(mkdir("checkpoints", 0755), 0);
    ck_assert_int_eq(mkdir("checkpoints/done", 0755), 0);
    write_file("checkpoints/done/COMPLETE", "noodle run complete\nfinished: 2026-12-01T00:00:00Z\n");
    write_file("checkpoints/done/ckpt-7.h5", "x");
    write_file("checkpoints/done/ckpt-8.h5.tmp", "x");
    write_file("checkpoints/done/notes.txt", "kept");
    /* stderr into a file for the warning */
    fflush(stderr);
    int saved = dup(2);
    FILE *err = tmpfile();
    ck_assert_ptr_nonnull(err);
    dup2(fileno(err), 2);
    char *text = NULL;
    ck_assert_int_eq(dry_run("job.yaml", NULL, 0, &text), 0);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(err);
    char buf[2048] = "";
    size_t got = fread(buf, 1, sizeof buf - 1, err);
    buf[got] = '\0';
    fclose(err);
    has(buf, "/checkpoints/done holds a run that completed at 2026-12-01T00:00:00Z: the job "
             "will exit at once without running the program (noodle-submit --fresh runs it again)");
    char when[64];
    ck_assert(nd_ckpt_dir_complete("checkpoints/done", when, sizeof when));
    ck_assert_str_eq(when, "2026-12-01T00:00:00Z");
    bool had = false;
    ck_assert_int_eq(nd_ckpt_dir_clear("checkpoints/done", &had), 1);
    ck_assert(had);
    ck_assert(!nd_ckpt_dir_complete("checkpoints/done", when, sizeof when));
    struct stat sb;
    ck_assert_int_ne(stat("checkpoints/done/ckpt-7.h5", &sb), 0);
    ck_assert_int_ne(stat("checkpoints/done/ckpt-8.h5.tmp", &sb), 0);
    ck_assert_int_eq(stat("checkpoints/done/notes.txt", &sb), 0); /* only checkpoints go */
}
END_TEST

START_TEST(test_submit_spec_errors)
{
    write_file("prog.nbc", "x\n");
    char *text = NULL;
    write_file("job.yaml", "program: prog.nbc\nrank: 2\n");
    ck_assert_int_eq(dry_run("job.yaml", NULL, 0, &text), 2);
    ck_assert_str_eq(text, ""); /* nothing printed on stdout */
    ck_assert_ptr_nonnull(strstr(nd_err_msg(), "job.yaml:2:1: error: unknown key 'rank'"));

    write_file("job.yaml", "name: x\n");
    ck_assert_int_eq(dry_run("job.yaml", NULL, 0, &text), 2);
    ck_assert_ptr_nonnull(strstr(nd_err_msg(), "missing required key 'program'"));

    ck_assert_int_eq(dry_run("nothere.yaml", NULL, 0, &text), 2);

    write_file("job.yaml", "program: missing.noodle\n");
    ck_assert_int_eq(dry_run("job.yaml", NULL, 0, &text), 2);
    ck_assert_ptr_nonnull(strstr(nd_err_msg(), "program: cannot read 'missing.noodle'"));

    write_file("job.yaml", "program: prog.nbc\nsweep:\n  n: [1, 2]\n");
    const char *swept[] = {"n=5"};
    ck_assert_int_eq(dry_run("job.yaml", swept, 1, &text), 2);
    const char *bad[] = {"novalue"};
    ck_assert_int_eq(dry_run("job.yaml", bad, 1, &text), 2);
    ck_assert_ptr_nonnull(strstr(nd_err_msg(), "expected NAME=VALUE"));

    /* a bad config file is a usage error before anything else */
    write_file("noodle.yaml", "checkpoint:\n  signal_lead: soon\n");
    write_file("job.yaml", "program: prog.nbc\n");
    ck_assert_int_eq(dry_run("job.yaml", NULL, 0, &text), 2);
    unlink("noodle.yaml");

    /* a template with an unknown variable */
    write_file("bad.in", "#!/bin/bash\n@NOT_A_VARIABLE@\n");
    nd_slurm_submit_opts o = {.spec = "job.yaml", .template_path = "bad.in", .dry_run = true};
    FILE *out = tmpfile();
    ck_assert_int_eq(nd_slurm_submit(&o, out), 2);
    ck_assert_ptr_nonnull(strstr(nd_err_msg(), "bad.in:2: unknown template variable"));
    o.template_path = "nothere.in";
    ck_assert_int_eq(nd_slurm_submit(&o, out), 2);
    fclose(out);
}
END_TEST

/* ---- status helpers ---- */

static const char scontrol_text[] =
    "JobId=77 JobName=gp-big UserId=root(0) GroupId=root(0) Priority=1 JobState=RUNNING "
    "Reason=None Dependency=(null) Requeue=1 Restarts=2 BatchFlag=1 ExitCode=0:0 "
    "RunTime=00:01:05 TimeLimit=01:30:00 NodeList=vm NumTasks=4 "
    "TRES=cpu=4,mem=1G,node=1 Command=/home/a b/.noodle-jobs/gp.sbatch "
    "WorkDir=/home/a b StdErr=/home/a b/gp-big-77.out StdOut=/home/a b/gp-big-77.out\n"
    "\n"
    "JobId=80 ArrayJobId=79 ArrayTaskId=1 JobName=sweep JobState=PENDING Reason=Resources\n";

START_TEST(test_parse_jobs)
{
    nd_slurm_jobrec *r = NULL;
    size_t n = 0;
    ck_assert_int_eq(nd_slurm_parse_jobs(scontrol_text, &r, &n), ND_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(nd_slurm_field(&r[0], "JobState"), "RUNNING");
    ck_assert_str_eq(nd_slurm_field(&r[0], "Restarts"), "2");
    ck_assert_str_eq(nd_slurm_field(&r[0], "TRES"), "cpu=4,mem=1G,node=1");
    ck_assert_str_eq(nd_slurm_field(&r[0], "Command"), "/home/a b/.noodle-jobs/gp.sbatch");
    ck_assert_str_eq(nd_slurm_field(&r[0], "StdOut"), "/home/a b/gp-big-77.out");
    ck_assert_str_eq(nd_slurm_field(&r[0], "Dependency"), "(null)");
    ck_assert_ptr_null(nd_slurm_field(&r[0], "ArrayJobId"));
    ck_assert_str_eq(nd_slurm_field(&r[1], "ArrayTaskId"), "1");
    ck_assert_str_eq(nd_slurm_field(&r[1], "Reason"), "Resources");
    nd_slurm_jobrecs_free(r, n);

    ck_assert_int_eq(nd_slurm_parse_jobs("", &r, &n), ND_OK);
    ck_assert_uint_eq(n, 0);
    nd_slurm_jobrecs_free(r, n);
    ck_assert_int_eq(nd_slurm_parse_jobs("No jobs in the system\n", &r, &n), ND_OK);
    ck_assert_uint_eq(n, 0);
    nd_slurm_jobrecs_free(r, n);
    ck_assert_int_eq(nd_slurm_parse_jobs("slurm_load_jobs error: Invalid job id\n", &r, &n),
                     ND_EINVALID);
}
END_TEST

START_TEST(test_script_meta)
{
    nd_kv m;
    nd_kv_init(&m);
    ck_assert_int_eq(nd_slurm_script_meta("#!/bin/bash\n# noodle-job: name=a\n"
                                          "# noodle-job: catalog=/x y/cat\n"
                                          "# noodle-job: bogus\n#noodle-job: nope=1\n"
                                          "# noodle-job: checkpoint_dir=/c",
                                          &m),
                     ND_OK);
    ck_assert_str_eq(nd_kv_get(&m, "name"), "a");
    ck_assert_str_eq(nd_kv_get(&m, "catalog"), "/x y/cat");
    ck_assert_str_eq(nd_kv_get(&m, "checkpoint_dir"), "/c");
    ck_assert_ptr_null(nd_kv_get(&m, "nope"));
    ck_assert_uint_eq(m.n, 3);
    nd_kv_free(&m);
}
END_TEST

START_TEST(test_newest_checkpoint)
{
    nd_strbuf p;
    nd_sb_init(&p);
    bool found = true;
    ck_assert_int_eq(nd_slurm_newest_checkpoint("nodir", &p, &found), ND_OK);
    ck_assert(!found);
    ck_assert_int_eq(mkdir("c", 0755), 0);
    ck_assert_int_eq(nd_slurm_newest_checkpoint("c", &p, &found), ND_OK);
    ck_assert(!found);
    write_file("c/ckpt-2.h5", "x");
    write_file("c/ckpt-10.h5", "x");
    write_file("c/ckpt-11.h5.tmp", "x"); /* a writer that has not finished */
    write_file("c/ckpt-12.h5.bak", "x");
    write_file("c/notes.txt", "x");
    ck_assert_int_eq(nd_slurm_newest_checkpoint("c", &p, &found), ND_OK);
    ck_assert(found);
    ck_assert_str_eq(p.data, "c/ckpt-10.h5");
    nd_sb_free(&p);
}
END_TEST

START_TEST(test_progress_tail)
{
    write_file("out.txt", "hello from print\n"
                          "noodle: job 1 starting (restart count 0)\n"
                          "value 3\n"
                          "noodle-run: progress: 10 s, 1000 safe points\n"
                          "noodle-run: info: restarting from 'c/ckpt-1.h5'\r\n"
                          "last line without newline progress");
    nd_strbuf sb;
    nd_sb_init(&sb);
    ck_assert_int_eq(nd_slurm_progress_tail("out.txt", 2, &sb), ND_OK);
    ck_assert_str_eq(sb.data, "noodle-run: info: restarting from 'c/ckpt-1.h5'\n"
                              "last line without newline progress\n");
    nd_sb_free(&sb);
    ck_assert_int_eq(nd_slurm_progress_tail("out.txt", 10, &sb), ND_OK);
    ck_assert_ptr_nonnull(strstr(sb.data, "noodle: job 1 starting"));
    ck_assert_ptr_null(strstr(sb.data, "hello from print"));
    nd_sb_free(&sb);
    ck_assert_int_eq(nd_slurm_progress_tail("missing.txt", 3, &sb), ND_OK);
    ck_assert_uint_eq(sb.len, 0);
    nd_sb_free(&sb);
}
END_TEST

START_TEST(test_status_unknown_job)
{
    /* a fake scontrol that knows no jobs, like Slurm's for an unknown id */
    ck_assert_int_eq(mkdir("bin", 0755), 0);
    write_exec("bin/scontrol", "#!/bin/bash\n"
                               "if [ $# -ge 4 ]; then echo 'slurm_load_jobs error: Invalid "
                               "job id specified' >&2; exit 1; fi\n"
                               "echo 'No jobs in the system'\n");
    char path[4096];
    snprintf(path, sizeof path, "%s/bin:%s", tmpdir, getenv("PATH") ? getenv("PATH") : "");
    setenv("PATH", path, 1);
    FILE *out = tmpfile();
    ck_assert_int_eq(nd_slurm_status("999", out), 2);
    ck_assert_int_eq(nd_slurm_status("no-such-name", out), 2);
    ck_assert_int_eq(ftell(out), 0);
    fclose(out);
}
END_TEST

static Suite *slurm_suite(void)
{
    Suite *s = suite_create("slurm");
    const TTest *tc_tests[] = {
        test_shell_quote_roundtrip, test_mql_literal, test_where, test_expand,
        test_render_single, test_render_mpirun_threads, test_render_array,
        test_render_large_array, test_render_refuses_unsafe, test_task_shell_and_params,
        test_script_runs_step, test_script_forwards_usr1, test_script_array_task_and_skip,
        test_submit_dry_run, test_submit_spec_errors, test_submit_completed, test_submit_script_mode,
        test_parse_jobs, test_script_meta, test_newest_checkpoint, test_progress_tail,
        test_status_unknown_job, NULL};
    TCase *tc = nd_check_tcase(s, "slurm", 60, tc_tests);
    tcase_add_checked_fixture(tc, setup, teardown);
    return s;
}

int main(void)
{
    int failed = nd_check_run(slurm_suite(), 0);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
