/* check_config.c: unit tests of src/config: defaults, the config file search order,
 * environment and flag overrides, every error class with its exact position and key
 * path, pack/unpack, printing, the YAML emitter, job specs and sweep expansion.
 * Each test runs in a fresh temporary directory with the NOODLE_* environment cleared. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "nd_check.h"
#include "common/alloc.h"
#include "config/config.h"
#include "config/jobspec.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static void clear_env(void)
{
    for (int k = 0; k < ND_CFG_NKEYS; k++) {
        char name[96];
        nd_cfg_env_name((nd_cfg_key)k, name, sizeof name);
        unsetenv(name);
    }
    unsetenv("NOODLE_CONFIG");
    unsetenv("XDG_CONFIG_HOME");
    unsetenv("SLURM_JOB_ID");
}

static void setup(void)
{
    ck_assert_ptr_nonnull(getcwd(oldcwd, sizeof oldcwd));
    snprintf(tmpdir, sizeof tmpdir, "/tmp/check_config.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ck_assert_int_eq(chdir(tmpdir), 0);
    clear_env();
    setenv("HOME", tmpdir, 1);
    nd_err_clear();
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void teardown(void)
{
    ck_assert_int_eq(chdir(oldcwd), 0);
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    clear_env();
}

/* Value of key as canonical text (static buffer). */
static const char *val(const nd_cfg *cfg, nd_cfg_key key)
{
    static char out[512];
    nd_strbuf sb;
    nd_sb_init(&sb);
    ck_assert_int_eq(nd_cfg_value_str(cfg, key, &sb), ND_OK);
    snprintf(out, sizeof out, "%s", sb.data ? sb.data : "");
    nd_sb_free(&sb);
    return out;
}

static const char *origin(const nd_cfg *cfg, nd_cfg_key key)
{
    static char out[512];
    nd_strbuf sb;
    nd_sb_init(&sb);
    ck_assert_int_eq(nd_cfg_origin_str(cfg, key, &sb), ND_OK);
    snprintf(out, sizeof out, "%s", sb.data ? sb.data : "");
    nd_sb_free(&sb);
    return out;
}

/* Loads text as ./noodle.yaml and expects ND_EUSAGE with exactly msg. */
static void expect_file_error(const char *text, const char *msg)
{
    write_file("noodle.yaml", text);
    nd_cfg cfg;
    ck_assert_int_eq(nd_cfg_init(&cfg), ND_OK);
    nd_status st = nd_cfg_load(&cfg, NULL);
    ck_assert_msg(st == ND_EUSAGE, "expected an error for:\n%s", text);
    ck_assert_str_eq(nd_err_msg(), msg);
    nd_cfg_free(&cfg);
}

/* Loads text as ./noodle.yaml and expects success. */
static void load_text(nd_cfg *cfg, const char *text)
{
    write_file("noodle.yaml", text);
    ck_assert_int_eq(nd_cfg_init(cfg), ND_OK);
    nd_status st = nd_cfg_load(cfg, NULL);
    ck_assert_msg(st == ND_OK, "%s", nd_err_msg());
}

START_TEST(test_defaults)
{
    nd_cfg cfg;
    ck_assert_int_eq(nd_cfg_init(&cfg), ND_OK);
    ck_assert_int_eq(nd_cfg_load(&cfg, NULL), ND_OK);
    ck_assert_ptr_null(cfg.file);
    ck_assert_int_eq(cfg.grid_rows, 0);
    ck_assert_int_eq(cfg.grid_cols, 0);
    ck_assert_int_eq(cfg.block_size, 64);
    ck_assert_int_eq(cfg.threads_per_rank, 1);
    ck_assert_str_eq(cfg.checkpoint_dir, "./checkpoints");
    ck_assert(cfg.checkpoint_interval == 0.0);
    ck_assert_int_eq(cfg.checkpoint_keep, 2);
    ck_assert(cfg.checkpoint_signal_lead == 120.0);
    ck_assert_uint_eq(cfg.mpiio_hints.n, 0);
    ck_assert_str_eq(cfg.catalog_path, "./catalog");
    ck_assert_int_eq(cfg.log_level, ND_LOG_INFO);
    ck_assert_int_eq(cfg.gpu, ND_GPU_AUTO);
    ck_assert_int_eq(cfg.gpu_comm, ND_GPU_COMM_NCCL);
    ck_assert_uint_eq(cfg.memory_per_rank, 0);
    ck_assert(cfg.run_time == 0.0);
    ck_assert_uint_eq(cfg.call_depth, 100000);
    ck_assert(cfg.progress_interval == 60.0);
    ck_assert_int_eq(cfg.launcher, ND_LAUNCHER_AUTO);
    ck_assert(cfg.check_collectives);
    for (int k = 0; k < ND_CFG_NKEYS; k++) {
        ck_assert_int_eq(cfg.origin[k].src, ND_CFG_SRC_DEFAULT);
        ck_assert_str_eq(origin(&cfg, (nd_cfg_key)k), "default");
    }
    ck_assert_int_eq(nd_cfg_launcher_resolve(&cfg), ND_LAUNCHER_MPIRUN);
    setenv("SLURM_JOB_ID", "42", 1);
    ck_assert_int_eq(nd_cfg_launcher_resolve(&cfg), ND_LAUNCHER_SRUN);
    nd_cfg_free(&cfg);
}
END_TEST

START_TEST(test_key_table)
{
    char name[96];
    ck_assert_int_eq(nd_cfg_key_find("checkpoint.dir"), ND_CFG_CHECKPOINT_DIR);
    ck_assert_int_eq(nd_cfg_key_find("checkpoint"), -1);
    ck_assert_int_eq(nd_cfg_key_find("nope"), -1);
    nd_cfg_env_name(ND_CFG_CHECKPOINT_DIR, name, sizeof name);
    ck_assert_str_eq(name, "NOODLE_CHECKPOINT_DIR");
    nd_cfg_env_name(ND_CFG_GPU, name, sizeof name);
    ck_assert_str_eq(name, "NOODLE_GPU");
    nd_cfg_env_name(ND_CFG_LIMITS_MEMORY_PER_RANK, name, sizeof name);
    ck_assert_str_eq(name, "NOODLE_LIMITS_MEMORY_PER_RANK");
    for (int k = 0; k < ND_CFG_NKEYS; k++)
        ck_assert_int_eq(nd_cfg_key_find(nd_cfg_key_path((nd_cfg_key)k)), k);
}
END_TEST

/* Each location in order; the first found wins and files are never merged. */
START_TEST(test_search_order)
{
    ck_assert_int_eq(mkdir("xdg", 0755), 0);
    ck_assert_int_eq(mkdir("xdg/noodle", 0755), 0);
    ck_assert_int_eq(mkdir(".config", 0755), 0);
    ck_assert_int_eq(mkdir(".config/noodle", 0755), 0);
    write_file("flag.yaml", "block_size: 11\n");
    write_file("env.yaml", "block_size: 12\n");
    write_file("noodle.yaml", "block_size: 13\nthreads_per_rank: 3\n");
    write_file("xdg/noodle/config.yaml", "block_size: 14\n");
    write_file(".config/noodle/config.yaml", "block_size: 15\n");
    setenv("NOODLE_CONFIG", "env.yaml", 1);
    setenv("XDG_CONFIG_HOME", "xdg", 1);
    struct {
        const char *flag;
        int want;
        const char *file;
    } steps[] = {
        {"flag.yaml", 11, "flag.yaml"},
        {NULL, 12, "env.yaml"},
        {NULL, 13, "noodle.yaml"},
        {NULL, 14, "xdg/noodle/config.yaml"},
        {NULL, 15, NULL},
        {NULL, 64, NULL},
    };
    char home_cfg[512];
    snprintf(home_cfg, sizeof home_cfg, "%s/.config/noodle/config.yaml", tmpdir);
    for (size_t i = 0; i < ND_ARRAY_LEN(steps); i++) {
        if (i == 2) unsetenv("NOODLE_CONFIG");
        if (i == 3) ck_assert_int_eq(unlink("noodle.yaml"), 0);
        if (i == 4) unsetenv("XDG_CONFIG_HOME");
        if (i == 5) ck_assert_int_eq(unlink(home_cfg), 0);
        nd_cfg cfg;
        ck_assert_int_eq(nd_cfg_init(&cfg), ND_OK);
        ck_assert_msg(nd_cfg_load(&cfg, steps[i].flag) == ND_OK, "%s", nd_err_msg());
        ck_assert_int_eq(cfg.block_size, steps[i].want);
        /* no merging: only noodle.yaml sets threads_per_rank */
        ck_assert_int_eq(cfg.threads_per_rank, steps[i].want == 13 ? 3 : 1);
        if (i == 4) ck_assert_str_eq(cfg.file, home_cfg);
        else if (steps[i].file) ck_assert_str_eq(cfg.file, steps[i].file);
        else ck_assert_ptr_null(cfg.file);
        if (steps[i].want != 64)
            ck_assert_int_eq(cfg.origin[ND_CFG_BLOCK_SIZE].src, ND_CFG_SRC_FILE);
        nd_cfg_free(&cfg);
    }
}
END_TEST

START_TEST(test_named_file_missing)
{
    nd_cfg cfg;
    ck_assert_int_eq(nd_cfg_init(&cfg), ND_OK);
    write_file("noodle.yaml", "block_size: 13\n");
    ck_assert_int_eq(nd_cfg_load(&cfg, "nothere.yaml"), ND_EUSAGE);
    ck_assert_str_eq(nd_err_msg(),
                     "--config: cannot read config file 'nothere.yaml': No such file or directory");
    setenv("NOODLE_CONFIG", "gone.yaml", 1);
    ck_assert_int_eq(nd_cfg_load(&cfg, NULL), ND_EUSAGE);
    ck_assert_str_eq(nd_err_msg(),
                     "NOODLE_CONFIG: cannot read config file 'gone.yaml': No such file or directory");
    ck_assert_int_eq(mkdir("adir", 0755), 0);
    ck_assert_int_eq(nd_cfg_load(&cfg, "adir"), ND_EUSAGE);
    ck_assert_str_eq(nd_err_msg(), "adir: error: cannot read file: Is a directory");
    /* an empty NOODLE_CONFIG counts as unset */
    setenv("NOODLE_CONFIG", "", 1);
    ck_assert_int_eq(nd_cfg_load(&cfg, NULL), ND_OK);
    ck_assert_int_eq(cfg.block_size, 13);
    nd_cfg_free(&cfg);
}
END_TEST

START_TEST(test_file_values)
{
    nd_cfg cfg;
    load_text(&cfg, "# a comment\n"
                    "grid: 2x3\n"
                    "block_size: 128\n"
                    "threads_per_rank: 2\n"
                    "checkpoint:\n"
                    "  dir: /scratch/ckpt\n"
                    "  interval: 30\n"
                    "  keep: 5\n"
                    "  signal_lead: 90.5\n"
                    "  mpiio_hints:\n"
                    "    striping_factor: 4\n"
                    "    romio_cb_write: enable\n"
                    "catalog:\n"
                    "  path: results\n"
                    "log_level: debug\n"
                    "gpu: off\n"
                    "limits:\n"
                    "  memory_per_rank: 4GiB\n"
                    "  run_time: 3600\n"
                    "  call_depth: 20000\n"
                    "progress:\n"
                    "  interval: 0\n"
                    "launcher: srun\n"
                    "check_collectives: false\n");
    ck_assert_int_eq(cfg.grid_rows, 2);
    ck_assert_int_eq(cfg.grid_cols, 3);
    ck_assert_int_eq(cfg.block_size, 128);
    ck_assert_int_eq(cfg.threads_per_rank, 2);
    ck_assert_str_eq(cfg.checkpoint_dir, "/scratch/ckpt");
    ck_assert(cfg.checkpoint_interval == 30.0);
    ck_assert_int_eq(cfg.checkpoint_keep, 5);
    ck_assert(cfg.checkpoint_signal_lead == 90.5);
    ck_assert_uint_eq(cfg.mpiio_hints.n, 2);
    ck_assert_str_eq(nd_kv_get(&cfg.mpiio_hints, "striping_factor"), "4");
    ck_assert_str_eq(nd_kv_get(&cfg.mpiio_hints, "romio_cb_write"), "enable");
    ck_assert_str_eq(cfg.catalog_path, "results");
    ck_assert_int_eq(cfg.log_level, ND_LOG_DEBUG);
    ck_assert_int_eq(cfg.gpu, ND_GPU_OFF);
    ck_assert_uint_eq(cfg.memory_per_rank, 4ull << 30);
    ck_assert(cfg.run_time == 3600.0);
    ck_assert_uint_eq(cfg.call_depth, 20000);
    ck_assert(cfg.progress_interval == 0.0);
    ck_assert_int_eq(cfg.launcher, ND_LAUNCHER_SRUN);
    ck_assert(!cfg.check_collectives);
    ck_assert_str_eq(origin(&cfg, ND_CFG_GRID), "noodle.yaml:2:7");
    ck_assert_str_eq(origin(&cfg, ND_CFG_CHECKPOINT_INTERVAL), "noodle.yaml:7:13");
    ck_assert_str_eq(origin(&cfg, ND_CFG_CHECKPOINT_MPIIO_HINTS), "noodle.yaml:11:5");
    ck_assert_str_eq(val(&cfg, ND_CFG_CHECKPOINT_MPIIO_HINTS),
                     "striping_factor=4,romio_cb_write=enable");
    nd_cfg_free(&cfg);
}
END_TEST

START_TEST(test_empty_files)
{
    const char *texts[] = {"", "# only a comment\n", "---\n", "~\n"};
    for (size_t i = 0; i < ND_ARRAY_LEN(texts); i++) {
        nd_cfg cfg;
        load_text(&cfg, texts[i]);
        ck_assert_int_eq(cfg.block_size, 64);
        ck_assert_str_eq(cfg.file, "noodle.yaml");
        nd_cfg_free(&cfg);
    }
}
END_TEST

START_TEST(test_sizes)
{
    struct {
        const char *text;
        uint64_t want;
    } ok[] = {
        {"0", 0},           {"1000", 1000},          {"512MiB", 512ull << 20},
        {"4GiB", 4ull << 30}, {"4 GiB", 4ull << 30}, {"1.5G", 3ull << 29},
        {"2kB", 2000},      {"3MB", 3000000},        {"1TiB", 1ull << 40},
        {"7b", 7},          {"16k", 16384},
    };
    const char *bad[] = {"lots", "GiB", "4GiBs", "-1", "4 ", "1e3", "0x10", "4 G iB", ""};
    for (size_t i = 0; i < ND_ARRAY_LEN(ok); i++) {
        nd_cfg cfg;
        ck_assert_int_eq(nd_cfg_init(&cfg), ND_OK);
        ck_assert_msg(nd_cfg_set(&cfg, "limits.memory_per_rank", ok[i].text, NULL) == ND_OK,
                      "%s", ok[i].text);
        ck_assert_uint_eq(cfg.memory_per_rank, ok[i].want);
        nd_cfg_free(&cfg);
    }
    for (size_t i = 0; i < ND_ARRAY_LEN(bad); i++) {
        nd_cfg cfg;
        ck_assert_int_eq(nd_cfg_init(&cfg), ND_OK);
        ck_assert_msg(nd_cfg_set(&cfg, "limits.memory_per_rank", bad[i], "--mem") == ND_EUSAGE,
                      "'%s' accepted", bad[i]);
        char want[200];
        snprintf(want, sizeof want,
                 "--mem: expected a size in bytes such as 512MiB or 4GiB, got '%s'", bad[i]);
        ck_assert_str_eq(nd_err_msg(), want);
        ck_assert_uint_eq(cfg.memory_per_rank, 0);
        nd_cfg_free(&cfg);
    }
}
END_TEST

/* Flags and environment: bad values of every kind, each with its exact message. */
START_TEST(test_set_errors)
{
    struct {
        const char *key, *value, *msg;
    } cases[] = {
        {"grid", "2x0", "--x: expected auto or ROWSxCOLS (e.g. 2x3), got '2x0'"},
        {"grid", "square", "--x: expected auto or ROWSxCOLS (e.g. 2x3), got 'square'"},
        {"block_size", "0", "--x: expected an integer >= 1, got '0'"},
        {"block_size", "-3", "--x: expected an integer >= 1, got '-3'"},
        {"block_size", "64.5", "--x: expected an integer >= 1, got '64.5'"},
        {"block_size", "99999999999", "--x: expected an integer between 1 and 2147483647, got '99999999999'"},
        {"checkpoint.interval", "soon", "--x: expected a number of seconds, got 'soon'"},
        {"checkpoint.interval", "-5", "--x: expected a number of seconds >= 0, got '-5'"},
        {"checkpoint.interval", "inf", "--x: expected a finite number of seconds, got 'inf'"},
        {"checkpoint.interval", "1e400", "--x: expected a finite number of seconds, got '1e400'"},
        {"checkpoint.keep", "0", "--x: expected an integer >= 1, got '0'"},
        {"checkpoint.dir", "", "--x: expected a non-empty string, got ''"},
        {"checkpoint.mpiio_hints", "a", "--x: expected KEY=VALUE pairs separated by commas, got 'a'"},
        {"checkpoint.mpiio_hints", "a=1,", "--x: expected KEY=VALUE pairs separated by commas, got 'a=1,'"},
        {"log_level", "loud", "--x: expected error, warn, info or debug, got 'loud'"},
        {"gpu", "maybe", "--x: expected auto, on or off, got 'maybe'"},
        {"gpu_comm", "shm", "--x: expected nccl or mpi, got 'shm'"},
        {"limits.memory_per_rank", "0.5", "--x: expected a size in bytes such as 512MiB or 4GiB, got '0.5'"},
        {"limits.call_depth", "500", "--x: expected an integer >= 10000, got '500'"},
        {"launcher", "ssh", "--x: expected auto, srun or mpirun, got 'ssh'"},
        {"check_collectives", "maybe", "--x: expected true or false, got 'maybe'"},
        {"progress.interval", "1 min", "--x: expected a number of seconds, got '1 min'"},
        {"nosuch", "1", "--x: unknown config key 'nosuch'"},
    };
    for (size_t i = 0; i < ND_ARRAY_LEN(cases); i++) {
        nd_cfg cfg;
        ck_assert_int_eq(nd_cfg_init(&cfg), ND_OK);
        ck_assert_msg(nd_cfg_set(&cfg, cases[i].key, cases[i].value, "--x") == ND_EUSAGE,
                      "%s=%s accepted", cases[i].key, cases[i].value);
        ck_assert_str_eq(nd_err_msg(), cases[i].msg);
        /* a rejected value leaves the key as it was */
        int k = nd_cfg_key_find(cases[i].key);
        if (k >= 0) ck_assert_int_eq(cfg.origin[k].src, ND_CFG_SRC_DEFAULT);
        nd_cfg_free(&cfg);
    }
}
END_TEST

/* A misspelt NOODLE_* variable: one warning naming the closest known one (it was
 * silently ignored); a known one and a far-off one are told apart. */
START_TEST(test_env_unknown)
{
    setenv("NOODLE_CHEKPOINT_INTERVAL", "20", 1);
    setenv("NOODLE_ZZZZZZZZZZZZ", "1", 1);
    setenv("NOODLE_TIMING", "", 1);
    fflush(stderr);
    int saved = dup(2);
    FILE *err = tmpfile();
    ck_assert_ptr_nonnull(err);
    dup2(fileno(err), 2);
    nd_cfg cfg;
    ck_assert_int_eq(nd_cfg_init(&cfg), ND_OK);
    nd_status st = nd_cfg_load_env(&cfg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ck_assert_int_eq(st, ND_OK);
    rewind(err);
    char buf[2048] = "";
    buf[fread(buf, 1, sizeof buf - 1, err)] = '\0';
    fclose(err);
    ck_assert_msg(strstr(buf, "noodle: warning: unknown environment variable NOODLE_CHEKPOINT_INTERVAL "
                              "(did you mean NOODLE_CHECKPOINT_INTERVAL?)\n"), "%s", buf);
    ck_assert_msg(strstr(buf, "unknown environment variable NOODLE_ZZZZZZZZZZZZ (ignored)"), "%s", buf);
    ck_assert_msg(!strstr(buf, "NOODLE_TIMING"), "%s", buf);
    ck_assert(cfg.checkpoint_interval == 0.0);
    nd_cfg_free(&cfg);
    unsetenv("NOODLE_CHEKPOINT_INTERVAL");
    unsetenv("NOODLE_ZZZZZZZZZZZZ");
    unsetenv("NOODLE_TIMING");
}
END_TEST

START_TEST(test_env_and_flags)
{
    nd_cfg cfg;
    write_file("noodle.yaml", "gpu: on\ncheckpoint:\n  interval: 10\n  dir: fromfile\n");
    setenv("NOODLE_CHECKPOINT_INTERVAL", "20", 1);
    setenv("NOODLE_GPU", "off", 1);
    setenv("NOODLE_CHECKPOINT_MPIIO_HINTS", "cb_nodes=2,striping_unit=1048576", 1);
    setenv("NOODLE_LOG_LEVEL", "", 1); /* empty = unset */
    ck_assert_int_eq(nd_cfg_init(&cfg), ND_OK);
    ck_assert_msg(nd_cfg_load(&cfg, NULL) == ND_OK, "%s", nd_err_msg());
    ck_assert(cfg.checkpoint_interval == 20.0);
    ck_assert_int_eq(cfg.gpu, ND_GPU_OFF);
    ck_assert_str_eq(cfg.checkpoint_dir, "fromfile");
    ck_assert_int_eq(cfg.log_level, ND_LOG_INFO);
    ck_assert_str_eq(nd_kv_get(&cfg.mpiio_hints, "striping_unit"), "1048576");
    ck_assert_str_eq(origin(&cfg, ND_CFG_CHECKPOINT_INTERVAL), "NOODLE_CHECKPOINT_INTERVAL");
    ck_assert_str_eq(origin(&cfg, ND_CFG_GPU), "NOODLE_GPU");
    ck_assert_str_eq(origin(&cfg, ND_CFG_CHECKPOINT_DIR), "noodle.yaml:4:8");
    ck_assert_int_eq(nd_cfg_set(&cfg, "checkpoint.interval", "30", "--checkpoint-interval"),
                     ND_OK);
    ck_assert(cfg.checkpoint_interval == 30.0);
    ck_assert_str_eq(origin(&cfg, ND_CFG_CHECKPOINT_INTERVAL), "--checkpoint-interval");
    ck_assert_int_eq(nd_cfg_set(&cfg, "gpu", "auto", NULL), ND_OK);
    ck_assert_str_eq(origin(&cfg, ND_CFG_GPU), "--set gpu");
    nd_cfg_free(&cfg);

    setenv("NOODLE_GPU", "maybe", 1);
    ck_assert_int_eq(nd_cfg_init(&cfg), ND_OK);
    ck_assert_int_eq(nd_cfg_load(&cfg, NULL), ND_EUSAGE);
    ck_assert_str_eq(nd_err_msg(), "NOODLE_GPU: expected auto, on or off, got 'maybe'");
    nd_cfg_free(&cfg);
}
END_TEST

START_TEST(test_file_errors)
{
    expect_file_error("checkpoint:\n  dir: x\n  intervall: 5\n",
                      "noodle.yaml:3:3: error: unknown key 'checkpoint.intervall'");
    expect_file_error("gpu: on\nblocksize: 4\n", "noodle.yaml:2:1: error: unknown key 'blocksize'");
    expect_file_error("checkpoint:\n  interval: soon\n",
                      "noodle.yaml:2:13: error: checkpoint.interval: expected a number of seconds, got 'soon'");
    expect_file_error("checkpoint:\n  interval: -1\n",
                      "noodle.yaml:2:13: error: checkpoint.interval: expected a number of seconds >= 0, got '-1'");
    expect_file_error("block_size: [1, 2]\n",
                      "noodle.yaml:1:13: error: block_size: expected an integer >= 1, got a list");
    expect_file_error("block_size: \"64\"\n",
                      "noodle.yaml:1:13: error: block_size: expected an integer >= 1, got the string '64'");
    expect_file_error("block_size: !!str 64\n",
                      "noodle.yaml:1:13: error: YAML tags (such as !!str) are not supported");
    expect_file_error("grid: auto\nblock_size: &n !!int 64\n",
                      "noodle.yaml:2:13: error: YAML tags (such as !!str) are not supported");
    expect_file_error("block_size:\n",
                      "noodle.yaml:1:12: error: block_size: expected an integer >= 1, got nothing");
    expect_file_error("limits:\n  call_depth: 500\n",
                      "noodle.yaml:2:15: error: limits.call_depth: expected an integer >= 10000, got '500'");
    expect_file_error("checkpoint: 5\n",
                      "noodle.yaml:1:13: error: checkpoint: expected a mapping of keys, got a scalar");
    expect_file_error("gpu: maybe\n",
                      "noodle.yaml:1:6: error: gpu: expected auto, on or off, got 'maybe'");
    expect_file_error("gpu:\n  on: 1\n",
                      "noodle.yaml:2:3: error: gpu: expected auto, on or off, got a mapping");
    expect_file_error("check_collectives: 'yes'\n",
                      "noodle.yaml:1:20: error: check_collectives: expected true or false, got the string 'yes'");
    expect_file_error("limits:\n  memory_per_rank: lots\n",
                      "noodle.yaml:2:20: error: limits.memory_per_rank: expected a size in bytes such as 512MiB or 4GiB, got 'lots'");
    /* Nesting beyond 64 levels is refused before libyaml's quadratic scan: 100000
     * nested '[' (a 200 KB file) took 31 s to load. */
    {
        static char deep[200010];
        memcpy(deep, "grid: ", 6);
        memset(deep + 6, '[', 100000);
        memset(deep + 100006, ']', 100000);
        memcpy(deep + 200006, "\n", 2);
        /* the top-level mapping is level 1, the 64th '[' level 65 */
        expect_file_error(deep, "noodle.yaml:1:70: error: nested too deeply (more than 64 levels)");
        memset(deep + 6 + 63, ' ', 100000 - 63);
        memset(deep + 100006, ' ', 100000 - 63);
        expect_file_error(deep, "noodle.yaml:1:7: error: grid: expected auto or ROWSxCOLS (e.g. 2x3), got a list");
    }
    /* An alias inside its own anchor is a cycle: it overflowed the stack of the alias
     * expansion check (fuzz_config; tests/fuzz/corpus_config/alias_cycle.yaml). */
    expect_file_error("x: &a [*a]\n", "noodle.yaml:1:4: error: nested too deeply (more than 64 levels) "
                      "once aliases are expanded (an alias inside its own anchor?)");
    expect_file_error("checkpoint: &c\n  mpiio_hints: {a: *c}\n",
                      "noodle.yaml:2:16: error: nested too deeply (more than 64 levels) "
                      "once aliases are expanded (an alias inside its own anchor?)");
    expect_file_error("checkpoint:\n  mpiio_hints: [a, b]\n",
                      "noodle.yaml:2:16: error: checkpoint.mpiio_hints: expected a mapping of MPI-IO hints, got a list");
    expect_file_error("checkpoint:\n  mpiio_hints:\n    cb_nodes: [1]\n",
                      "noodle.yaml:3:15: error: checkpoint.mpiio_hints.cb_nodes: expected a scalar hint value, got a list");
    expect_file_error("checkpoint:\n  mpiio_hints:\n    cb_nodes: 1,2\n",
                      "noodle.yaml:3:15: error: checkpoint.mpiio_hints.cb_nodes: hint values must not contain ','");
    /* duplicates, at the top level and nested */
    expect_file_error("gpu: on\nblock_size: 8\ngpu: off\n",
                      "noodle.yaml:3:1: error: duplicate key 'gpu' (first at line 1)");
    expect_file_error("checkpoint:\n  dir: a\n  keep: 3\n  dir: b\n",
                      "noodle.yaml:4:3: error: duplicate key 'checkpoint.dir' (first at line 2)");
    expect_file_error("? [a]\n: 1\n", "noodle.yaml:1:3: error: keys must be scalars, got a list");
    /* non-mapping top levels */
    expect_file_error("- a\n- b\n",
                      "noodle.yaml:1:1: error: the top level of a config file must be a mapping of keys, got a list");
    expect_file_error("hello\n",
                      "noodle.yaml:1:1: error: the top level of a config file must be a mapping of keys, got a scalar");
    expect_file_error("gpu: on\n---\ngpu: off\n",
                      "noodle.yaml:3:1: error: only one YAML document is allowed in a config file");
    /* syntax errors, positioned where libyaml finds them */
    expect_file_error("gpu: [on\n",
                      "noodle.yaml:2:1: error: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence)");
    expect_file_error("checkpoint:\n  dir: a\n bad: 1\n",
                      "noodle.yaml:3:2: error: YAML syntax error: did not find expected key (while parsing a block mapping)");
    expect_file_error("gpu: on\n\tblock_size: 2\n",
                      "noodle.yaml:2:1: error: YAML syntax error: found a tab character that violates indentation (while scanning a plain scalar)");
    expect_file_error("gpu: on\nlog_level: \xff\n",
                      "noodle.yaml:2:12: error: YAML syntax error: invalid leading UTF-8 octet");
    expect_file_error("gpu: *nothing\n",
                      "noodle.yaml:1:6: error: YAML syntax error: found undefined alias");
}
END_TEST

START_TEST(test_print_sources)
{
    nd_cfg cfg;
    write_file("noodle.yaml", "checkpoint:\n  keep: 4\n");
    setenv("NOODLE_GPU", "on", 1);
    ck_assert_int_eq(nd_cfg_init(&cfg), ND_OK);
    ck_assert_int_eq(nd_cfg_load(&cfg, NULL), ND_OK);
    ck_assert_int_eq(nd_cfg_set(&cfg, "checkpoint.interval", "30", "--checkpoint-interval"),
                     ND_OK);
    nd_strbuf sb;
    nd_sb_init(&sb);
    ck_assert_int_eq(nd_cfg_format(&cfg, &sb), ND_OK);
    ck_assert_ptr_nonnull(strstr(sb.data, "# config file: noodle.yaml\n"));
    ck_assert_ptr_nonnull(strstr(
        sb.data, "checkpoint.interval      = 30.0                     (from --checkpoint-interval)\n"));
    ck_assert_ptr_nonnull(strstr(
        sb.data, "checkpoint.keep          = 4                        (from noodle.yaml:2:9)\n"));
    ck_assert_ptr_nonnull(strstr(
        sb.data, "gpu                      = on                       (from NOODLE_GPU)\n"));
    ck_assert_ptr_nonnull(strstr(
        sb.data, "block_size               = 64                       (from default)\n"));
    ck_assert_ptr_nonnull(strstr(sb.data, "launcher                 = auto (mpirun here)"));
    /* one line per key plus the header */
    size_t lines = 0;
    for (const char *p = sb.data; *p; p++) lines += *p == '\n';
    ck_assert_uint_eq(lines, ND_CFG_NKEYS + 1);
    nd_sb_free(&sb);
    FILE *fp = fopen("printed.txt", "w");
    ck_assert_int_eq(nd_cfg_print(&cfg, fp), ND_OK);
    fclose(fp);
    nd_cfg_free(&cfg);
}
END_TEST

/* Fills a config from every kind of source for the round-trip tests. */
static void busy_cfg(nd_cfg *cfg)
{
    write_file("noodle.yaml", "grid: 3x2\ncheckpoint:\n  dir: \"dir with: colon\"\n"
                              "  mpiio_hints:\n    romio_cb_write: enable\n    cb_nodes: 4\n"
                              "limits:\n  memory_per_rank: 1.5GiB\n");
    setenv("NOODLE_PROGRESS_INTERVAL", "0.1", 1);
    setenv("NOODLE_CATALOG_PATH", "true", 1);
    ck_assert_int_eq(nd_cfg_init(cfg), ND_OK);
    ck_assert_msg(nd_cfg_load(cfg, NULL) == ND_OK, "%s", nd_err_msg());
    ck_assert_int_eq(nd_cfg_set(cfg, "check_collectives", "off", "--no-check"), ND_OK);
    ck_assert_int_eq(nd_cfg_set(cfg, "checkpoint.signal_lead", "1e-3", "--lead"), ND_OK);
}

static void assert_same(const nd_cfg *a, const nd_cfg *b, bool origins)
{
    for (int k = 0; k < ND_CFG_NKEYS; k++) {
        char va[512];
        snprintf(va, sizeof va, "%s", val(a, (nd_cfg_key)k));
        ck_assert_str_eq(va, val(b, (nd_cfg_key)k));
        if (origins) {
            snprintf(va, sizeof va, "%s", origin(a, (nd_cfg_key)k));
            ck_assert_str_eq(va, origin(b, (nd_cfg_key)k));
        }
    }
}

START_TEST(test_pack_roundtrip)
{
    nd_cfg cfg, back;
    busy_cfg(&cfg);
    nd_strbuf sb;
    nd_sb_init(&sb);
    ck_assert_int_eq(nd_cfg_pack(&cfg, &sb), ND_OK);
    ck_assert_int_eq(nd_cfg_init(&back), ND_OK);
    ck_assert_int_eq(nd_cfg_unpack(&back, sb.data, sb.len), ND_OK);
    assert_same(&cfg, &back, true);
    ck_assert_str_eq(back.file, "noodle.yaml");
    ck_assert(back.progress_interval == 0.1);
    ck_assert(back.checkpoint_signal_lead == 1e-3);
    ck_assert_uint_eq(back.memory_per_rank, 3ull << 29);
    ck_assert_str_eq(back.checkpoint_dir, "dir with: colon");
    nd_strbuf a, b;
    nd_sb_init(&a);
    nd_sb_init(&b);
    ck_assert_int_eq(nd_cfg_format(&cfg, &a), ND_OK);
    ck_assert_int_eq(nd_cfg_format(&back, &b), ND_OK);
    ck_assert_str_eq(a.data, b.data);
    nd_sb_free(&a);
    nd_sb_free(&b);
    /* every truncation and a trailing byte are refused, leaving back unchanged */
    for (size_t n = 0; n < sb.len; n += 7) {
        ck_assert_int_eq(nd_cfg_unpack(&back, sb.data, n), ND_EINVALID);
        ck_assert_int_eq(back.grid_rows, 3);
    }
    ck_assert_int_eq(nd_cfg_unpack(&back, sb.data, sb.len - 1), ND_EINVALID);
    ck_assert_int_eq(nd_sb_u8(&sb, 0), ND_OK);
    ck_assert_int_eq(nd_cfg_unpack(&back, sb.data, sb.len), ND_EINVALID);
    sb.data[0] ^= 1; /* bad magic */
    ck_assert_int_eq(nd_cfg_unpack(&back, sb.data, sb.len - 1), ND_EINVALID);
    ck_assert_int_eq(back.grid_rows, 3);
    nd_sb_free(&sb);
    nd_cfg_free(&cfg);
    nd_cfg_free(&back);
}
END_TEST

START_TEST(test_pack_bad_value)
{
    /* a blob whose value text is invalid must not slip past the key rules */
    nd_cfg cfg, back;
    ck_assert_int_eq(nd_cfg_init(&cfg), ND_OK);
    nd_strbuf sb;
    nd_sb_init(&sb);
    ck_assert_int_eq(nd_cfg_pack(&cfg, &sb), ND_OK);
    char *p = NULL; /* block_size's text: length 2 (LE u32), then "64" */
    for (size_t i = 0; i + 6 <= sb.len && !p; i++)
        if (memcmp(sb.data + i, "\x02\x00\x00\x00" "64", 6) == 0) p = sb.data + i;
    ck_assert_ptr_nonnull(p);
    p[4] = '0', p[5] = '0';
    ck_assert_int_eq(nd_cfg_init(&back), ND_OK);
    ck_assert_int_eq(nd_cfg_unpack(&back, sb.data, sb.len), ND_EINVALID);
    ck_assert_int_eq(back.block_size, 64);
    nd_sb_free(&sb);
    nd_cfg_free(&cfg);
    nd_cfg_free(&back);
}
END_TEST

START_TEST(test_emit_roundtrip)
{
    nd_cfg cfg, back;
    busy_cfg(&cfg);
    nd_strbuf sb;
    nd_sb_init(&sb);
    ck_assert_int_eq(nd_cfg_emit_yaml(&cfg, &sb), ND_OK);
    ck_assert_ptr_nonnull(strstr(sb.data, "grid: 3x2\n"));
    ck_assert_ptr_nonnull(strstr(sb.data, "checkpoint:\n  dir: \"dir with: colon\"\n"));
    ck_assert_ptr_nonnull(strstr(sb.data, "check_collectives: false\n"));
    clear_env();
    write_file("emitted.yaml", sb.data);
    ck_assert_int_eq(nd_cfg_init(&back), ND_OK);
    ck_assert_msg(nd_cfg_load_file(&back, "emitted.yaml") == ND_OK, "%s\n%s", nd_err_msg(),
                  sb.data);
    assert_same(&cfg, &back, false);
    nd_sb_free(&sb);
    nd_cfg_free(&back);

    /* the defaults emit an empty hints mapping and read back too */
    nd_cfg_free(&cfg);
    ck_assert_int_eq(nd_cfg_init(&cfg), ND_OK);
    nd_sb_init(&sb);
    ck_assert_int_eq(nd_cfg_emit_yaml(&cfg, &sb), ND_OK);
    ck_assert_ptr_nonnull(strstr(sb.data, "mpiio_hints: {}\n"));
    write_file("emitted.yaml", sb.data);
    ck_assert_int_eq(nd_cfg_init(&back), ND_OK);
    ck_assert_int_eq(nd_cfg_load_file(&back, "emitted.yaml"), ND_OK);
    assert_same(&cfg, &back, false);
    nd_sb_free(&sb);
    nd_cfg_free(&back);
    nd_cfg_free(&cfg);
}
END_TEST

/* Every allocation on the load, pack and emit paths may fail: the status says so and
 * nothing leaks. */
static const char *full_job;

/* One full pass over a config: load, pack, unpack, emit, print. */
static nd_status config_pass(void)
{
    nd_cfg cfg, back;
    nd_strbuf sb;
    nd_sb_init(&sb);
    nd_status st = nd_cfg_init(&cfg);
    if (st != ND_OK) return st;
    st = nd_cfg_init(&back);
    if (st != ND_OK) {
        nd_cfg_free(&cfg);
        return st;
    }
    st = nd_cfg_load(&cfg, NULL);
    if (st == ND_OK) st = nd_cfg_set(&cfg, "checkpoint.mpiio_hints", "a=1,b=2", "--h");
    if (st == ND_OK) st = nd_cfg_pack(&cfg, &sb);
    if (st == ND_OK) st = nd_cfg_unpack(&back, sb.data, sb.len);
    if (st == ND_OK) st = nd_cfg_emit_yaml(&back, &sb);
    if (st == ND_OK) st = nd_cfg_format(&back, &sb);
    nd_sb_free(&sb);
    nd_cfg_free(&cfg);
    nd_cfg_free(&back);
    return st;
}

static nd_status job_pass(void)
{
    nd_cfg_jobspec job;
    nd_status st = nd_cfg_jobspec_load("job.yaml", &job);
    if (st == ND_OK) nd_cfg_jobspec_free(&job);
    return st;
}

/* Every allocation on the load, pack, emit and job paths may fail: the status says so
 * and nothing leaks. */
START_TEST(test_out_of_memory)
{
    nd_cfg tmp;
    busy_cfg(&tmp); /* writes noodle.yaml and sets the environment */
    nd_cfg_free(&tmp);
    write_file("job.yaml", full_job);
    nd_status (*passes[])(void) = {config_pass, job_pass};
    for (size_t p = 0; p < ND_ARRAY_LEN(passes); p++) {
        size_t base = nd_alloc_live(), n;
        nd_status st = ND_ENOMEM;
        for (n = 1; n < 2000 && st != ND_OK; n++) {
            nd_alloc_fail_after(n);
            st = passes[p]();
            nd_alloc_fail_after(0);
            ck_assert_msg(st == ND_OK || st == ND_ENOMEM, "pass %zu, failing allocation %zu: %s",
                          p, n, nd_err_msg());
            ck_assert_uint_eq(nd_alloc_live(), base);
        }
        ck_assert_int_eq(st, ND_OK);
        ck_assert_uint_gt(n, 10); /* the injection really hit something */
    }
}
END_TEST

/* ---- job specs ---- */

static const char *full_job =
    "name: bench-1\n"
    "program: examples/solve.noodle\n"
    "ranks: 8\n"
    "nodes: 2\n"
    "time: 1:30:00\n"
    "partition: debug\n"
    "account: proj42\n"
    "gpus: 1\n"
    "modules: [openmpi, hdf5/1.10]\n"
    "environment:\n"
    "  OMP_PROC_BIND: close\n"
    "config:\n"
    "  checkpoint:\n"
    "    interval: 600\n"
    "    mpiio_hints: {striping_factor: 4}\n"
    "  block_size: 128\n"
    "params:\n"
    "  tol: 1e-8\n"
    "  label: \"run a\"\n"
    "sweep:\n"
    "  n: [100, 200]\n"
    "  seed: [1, 2, 3]\n"
    "throttle: 2\n";

START_TEST(test_job_full)
{
    write_file("job.yaml", full_job);
    nd_cfg_jobspec job;
    ck_assert_msg(nd_cfg_jobspec_load("job.yaml", &job) == ND_OK, "%s", nd_err_msg());
    ck_assert_str_eq(job.name, "bench-1");
    ck_assert_str_eq(job.program, "examples/solve.noodle");
    ck_assert_int_eq(job.ranks, 8);
    ck_assert_int_eq(job.nodes, 2);
    ck_assert_int_eq(job.time, 5400);
    char t[32];
    nd_cfg_jobspec_time_str(&job, t, sizeof t);
    ck_assert_str_eq(t, "1:30:00");
    ck_assert_str_eq(job.partition, "debug");
    ck_assert_str_eq(job.account, "proj42");
    ck_assert_int_eq(job.gpus, 1);
    ck_assert_uint_eq(job.n_modules, 2);
    ck_assert_str_eq(job.modules[1], "hdf5/1.10");
    ck_assert_str_eq(nd_kv_get(&job.environment, "OMP_PROC_BIND"), "close");
    ck_assert_uint_eq(job.config.n, 3);
    ck_assert_str_eq(nd_kv_get(&job.config, "checkpoint.interval"), "600.0");
    ck_assert_str_eq(nd_kv_get(&job.config, "checkpoint.mpiio_hints"), "striping_factor=4");
    ck_assert_str_eq(nd_kv_get(&job.config, "block_size"), "128");
    ck_assert_str_eq(nd_kv_get(&job.params, "tol"), "1e-8");
    ck_assert_str_eq(nd_kv_get(&job.params, "label"), "run a");
    ck_assert_int_eq(job.throttle, 2);
    ck_assert_uint_eq(job.n_sweep, 2);
    ck_assert_uint_eq(nd_cfg_jobspec_count(&job), 6);
    /* row-major: the last sweep entry varies fastest */
    const char *want[6][2] = {{"100", "1"}, {"100", "2"}, {"100", "3"},
                              {"200", "1"}, {"200", "2"}, {"200", "3"}};
    for (uint64_t i = 0; i < 6; i++) {
        const char *names[8], *values[8];
        size_t n;
        ck_assert_int_eq(nd_cfg_jobspec_task(&job, i, names, values, 8, &n), ND_OK);
        ck_assert_uint_eq(n, 4);
        ck_assert_str_eq(names[0], "tol");
        ck_assert_str_eq(names[1], "label");
        ck_assert_str_eq(names[2], "n");
        ck_assert_str_eq(names[3], "seed");
        ck_assert_str_eq(values[2], want[i][0]);
        ck_assert_str_eq(values[3], want[i][1]);
    }
    const char *names[2], *values[2];
    size_t n;
    ck_assert_int_eq(nd_cfg_jobspec_task(&job, 6, names, values, 2, &n), ND_EUSAGE);
    ck_assert_str_eq(nd_err_msg(), "job.yaml: task 6 out of range (the sweep has 6 tasks)");
    /* a short array gets what fits and the full count */
    ck_assert_int_eq(nd_cfg_jobspec_task(&job, 5, names, values, 2, &n), ND_OK);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(values[1], "run a");
    nd_cfg_jobspec_free(&job);
}
END_TEST

START_TEST(test_job_defaults)
{
    write_file("job.yaml", "program: ../progs/heat-2d.nbc\ntime: 90\n");
    nd_cfg_jobspec job;
    ck_assert_msg(nd_cfg_jobspec_load("job.yaml", &job) == ND_OK, "%s", nd_err_msg());
    ck_assert_str_eq(job.name, "heat-2d");
    ck_assert_int_eq(job.ranks, 1);
    ck_assert_int_eq(job.nodes, 0);
    ck_assert_int_eq(job.gpus, 0);
    ck_assert_int_eq(job.throttle, 0);
    ck_assert_int_eq(job.time, 5400);
    ck_assert_ptr_null(job.partition);
    ck_assert_uint_eq(job.n_modules, 0);
    ck_assert_uint_eq(job.n_sweep, 0);
    ck_assert_uint_eq(nd_cfg_jobspec_count(&job), 1);
    const char *names[1], *values[1];
    size_t n = 9;
    ck_assert_int_eq(nd_cfg_jobspec_task(&job, 0, names, values, 1, &n), ND_OK);
    ck_assert_uint_eq(n, 0);
    char t[32];
    nd_cfg_jobspec_time_str(&job, t, sizeof t);
    ck_assert_str_eq(t, "1:30:00");
    nd_cfg_jobspec_free(&job);

    write_file("job.yaml", "program: \"my prog!.noodle\"\n");
    ck_assert_int_eq(nd_cfg_jobspec_load("job.yaml", &job), ND_OK);
    ck_assert_str_eq(job.name, "my_prog_");
    nd_cfg_jobspec_time_str(&job, t, sizeof t);
    ck_assert_str_eq(t, "");
    nd_cfg_jobspec_free(&job);

    /* A default name is cut to 128 characters before it is copied: cutting the copy made
     * nd_strfree free fewer bytes than were allocated (fuzz_jobspec; seed
     * tests/fuzz/corpus_jobspec/long_default_name.yaml). */
    char spec[400] = "program: ";
    memset(spec + 9, 'p', 300);
    strcpy(spec + 309, ".noodle\n");
    write_file("job.yaml", spec);
    size_t live = nd_alloc_live();
    ck_assert_int_eq(nd_cfg_jobspec_load("job.yaml", &job), ND_OK);
    ck_assert_uint_eq(strlen(job.name), 128);
    nd_cfg_jobspec_free(&job);
    ck_assert_uint_eq(nd_alloc_live(), live);
}
END_TEST

static void expect_job_error(const char *text, const char *msg)
{
    write_file("job.yaml", text);
    nd_cfg_jobspec job;
    nd_status st = nd_cfg_jobspec_load("job.yaml", &job);
    ck_assert_msg(st == ND_EUSAGE, "expected an error for:\n%s", text);
    ck_assert_str_eq(nd_err_msg(), msg);
    ck_assert_ptr_null(job.program);
    ck_assert_ptr_null(job.path);
}

START_TEST(test_job_errors)
{
    const char *P = "program: a.noodle\n";
    char buf[512];
#define WITH(extra) (snprintf(buf, sizeof buf, "%s%s", P, extra), buf)
    expect_job_error("", "job.yaml:1:1: error: missing required key 'program'");
    expect_job_error("ranks: 2\n", "job.yaml:1:1: error: missing required key 'program'");
    expect_job_error("- a\n", "job.yaml:1:1: error: the top level of a job spec must be a mapping of keys, got a list");
    expect_job_error(WITH("rank: 2\n"), "job.yaml:2:1: error: unknown key 'rank'");
    expect_job_error(WITH("program: b.noodle\n"),
                     "job.yaml:2:1: error: duplicate key 'program' (first at line 1)");
    expect_job_error("program: a.py\n",
                     "job.yaml:1:10: error: program: expected a .noodle or .nbc file, got 'a.py'");
    expect_job_error("program: [a.noodle]\n",
                     "job.yaml:1:10: error: program: expected a string, got a list");
    expect_job_error(WITH("name: my job\n"),
                     "job.yaml:2:7: error: name: expected 1 to 128 letters, digits, '_', '.' or '-', "
                     "not starting with '.' or '-', got 'my job'");
    expect_job_error(WITH("name: ..\n"),
                     "job.yaml:2:7: error: name: expected 1 to 128 letters, digits, '_', '.' or '-', "
                     "not starting with '.' or '-', got '..'");
    expect_job_error(WITH("name: -x\n"),
                     "job.yaml:2:7: error: name: expected 1 to 128 letters, digits, '_', '.' or '-', "
                     "not starting with '.' or '-', got '-x'");
    expect_job_error(WITH("ranks: 0\n"), "job.yaml:2:8: error: ranks: expected an integer >= 1, got '0'");
    { /* an alias bomb: a 100 KB list referenced 1,000 times (100 MB once expanded) */
        nd_strbuf y;
        nd_sb_init(&y);
        ck_assert_int_eq(nd_sb_puts(&y, "program: a.noodle\nparams:\n  base: &b ["), ND_OK);
        for (int k = 0; k < 9000; k++) ck_assert_int_eq(nd_sb_puts(&y, k ? ", aaaaaaaaaa" : "aaaaaaaaaa"), ND_OK);
        ck_assert_int_eq(nd_sb_puts(&y, "]\nenvironment:\n"), ND_OK);
        for (int k = 0; k < 1000; k++) ck_assert_int_eq(nd_sb_printf(&y, "  V%d: *b\n", k), ND_OK);
        expect_job_error(y.data, "job.yaml: the YAML holds more than 100000 values (an alias counted "
                                 "at each use) or 4 MiB of text: refused");
        nd_sb_free(&y);
    }
    expect_job_error(WITH("params: &a {p: *a}\n"),
                     "job.yaml:2:9: error: nested too deeply (more than 64 levels) once aliases "
                     "are expanded (an alias inside its own anchor?)");
    expect_job_error(WITH("ranks: two\n"), "job.yaml:2:8: error: ranks: expected an integer >= 1, got 'two'");
    expect_job_error(WITH("ranks: \"4\"\n"),
                     "job.yaml:2:8: error: ranks: expected an integer >= 1, got the string '4'");
    expect_job_error(WITH("ranks:\n"), "job.yaml:2:7: error: ranks: expected an integer >= 1, got nothing");
    expect_job_error(WITH("ranks: 2\nnodes: 3\n"), "job.yaml:3:8: error: nodes: 3 nodes for 2 ranks");
    expect_job_error(WITH("gpus: -1\n"), "job.yaml:2:7: error: gpus: expected an integer >= 0, got '-1'");
    expect_job_error(WITH("throttle: 0\n"),
                     "job.yaml:2:11: error: throttle: expected an integer >= 1, got '0'");
    expect_job_error(WITH("time: 1:5\n"),
                     "job.yaml:2:7: error: time: expected H:MM:SS or a number of minutes, got '1:5'");
    expect_job_error(WITH("time: 1:60:00\n"),
                     "job.yaml:2:7: error: time: expected H:MM:SS or a number of minutes, got '1:60:00'");
    expect_job_error(WITH("time: 0\n"),
                     "job.yaml:2:7: error: time: expected H:MM:SS or a number of minutes, got '0'");
    expect_job_error(WITH("modules: openmpi\n"),
                     "job.yaml:2:10: error: modules: expected a list of module names, got a scalar");
    expect_job_error(WITH("modules:\n  - openmpi\n  - {a: 1}\n"),
                     "job.yaml:4:5: error: modules[1]: expected a string, got a mapping");
    expect_job_error(WITH("environment:\n  1BAD: x\n"),
                     "job.yaml:3:3: error: environment: bad name '1BAD' (letters, digits and '_', not starting with a digit)");
    expect_job_error(WITH("environment: [A]\n"),
                     "job.yaml:2:14: error: environment: expected a mapping, got a list");
    expect_job_error(WITH("params:\n  n: [1, 2]\n"),
                     "job.yaml:3:6: error: params.n: expected a scalar value, got a list");
    expect_job_error(WITH("params:\n  n: 1\n  n: 2\n"),
                     "job.yaml:4:3: error: duplicate key 'params.n' (first at line 3)");
    expect_job_error(WITH("config:\n  checkpoint:\n    intervall: 5\n"),
                     "job.yaml:4:5: error: unknown key 'config.checkpoint.intervall'");
    expect_job_error(WITH("config:\n  gpu: maybe\n"),
                     "job.yaml:3:8: error: config.gpu: expected auto, on or off, got 'maybe'");
    expect_job_error(WITH("config:\n  gpu: on\n  gpu: off\n"),
                     "job.yaml:4:3: error: duplicate key 'config.gpu' (first at line 3)");
    expect_job_error(WITH("config: 3\n"),
                     "job.yaml:2:9: error: config: expected a mapping of config keys, got a scalar");
    expect_job_error(WITH("sweep:\n  n: 5\n"),
                     "job.yaml:3:6: error: sweep.n: expected a list of values, got a scalar");
    expect_job_error(WITH("sweep:\n  n: []\n"), "job.yaml:3:6: error: sweep.n: the list of values is empty");
    expect_job_error(WITH("sweep:\n  n: [1, [2]]\n"),
                     "job.yaml:3:10: error: sweep.n[1]: expected a string, got a list");
    expect_job_error(WITH("sweep:\n  n: [1]\nparams:\n  n: 2\n"),
                     "job.yaml:3:3: error: sweep.n: also set in params (a parameter is either fixed or swept)");
    expect_job_error(WITH("sweep:\n  a: [1,2,3,4,5,6,7,8,9,10]\n  b: [1,2,3,4,5,6,7,8,9,10]\n"
                          "  c: [1,2,3,4,5,6,7,8,9,10]\n  d: [1,2,3,4,5,6,7,8,9,10]\n"
                          "  e: [1,2,3,4,5,6,7,8,9,10]\n  f: [1,2,3,4,5,6,7,8,9,10]\n"
                          "  g: [1,2]\n"),
                     "job.yaml:2:1: error: sweep: more than 1000000 combinations");
    expect_job_error(WITH("sweep: {n: [1}\n"),
                     "job.yaml:2:14: error: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence)");
#undef WITH
    nd_cfg_jobspec job;
    ck_assert_int_eq(nd_cfg_jobspec_load("missing.yaml", &job), ND_EUSAGE);
    ck_assert_str_eq(nd_err_msg(), "missing.yaml: error: cannot read file: No such file or directory");
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    const TTest *tc_tests[] = {
        test_defaults, test_key_table, test_search_order, test_named_file_missing,
        test_file_values, test_empty_files, test_sizes, test_set_errors,
        test_env_and_flags, test_env_unknown, test_file_errors, test_print_sources, test_pack_roundtrip,
        test_pack_bad_value, test_emit_roundtrip, test_out_of_memory, NULL};
    TCase *tc = nd_check_tcase(s, "config", 0, tc_tests);
    tcase_add_checked_fixture(tc, setup, teardown);
    const TTest *tj_tests[] = {test_job_full, test_job_defaults, test_job_errors, NULL};
    TCase *tj = nd_check_tcase(s, "jobs", 0, tj_tests);
    tcase_add_checked_fixture(tj, setup, teardown);
    return s;
}

int main(void)
{
    int failed = nd_check_run(config_suite(), 0);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
