#!/bin/sh
# mpirun_cli.sh: noodle-mpirun (man/noodle-mpirun.1): compiles once, refuses bad input
# before launching anything, picks the launcher from --launcher, else the config key
# launcher (file, --config among noodle-run's options, NOODLE_LAUNCHER; auto = srun
# inside a Slurm allocation), and runs the job.
set -u
builddir=$(cd "${top_builddir:-.}" && pwd)
nm="$builddir/noodle-mpirun"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
unset NOODLE_LAUNCHER NOODLE_CONFIG SLURM_JOB_ID
export XDG_CONFIG_HOME=/nonexistent
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nd_mpirun_cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
cd "$tmp" || exit 1
fail=0
check() { # what cond
    if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi
}
printf 'let A = rand(50, 40, 1)\nprint(rows(A.T @ A), sum(A) > 0)\n' >prog.noodle
printf 'let x = \nprint(x)\n' >bad.noodle

"$nm" --help >out 2>err
check "--help: exit 0, usage on stdout" '[ $? = 0 ] && grep -q "^usage: noodle-mpirun" out'
"$nm" >out 2>err
check "no program: exit 2" '[ $? = 2 ] && grep -q "error: no program given" err'
"$nm" -n zero prog.noodle >out 2>err
check "-n zero: exit 2" '[ $? = 2 ] && grep -q "bad rank count: zero" err'
"$nm" --launcher ssh prog.noodle >out 2>err
check "--launcher ssh: exit 2" '[ $? = 2 ] && grep -q "must be mpirun or srun, not ssh" err'
"$nm" --bogus prog.noodle >out 2>err
check "unknown option: exit 2" '[ $? = 2 ] && grep -q "unknown option --bogus" err'
"$nm" -n 2 missing.noodle >out 2>err
check "missing file: exit 2, named" '[ $? = 2 ] && grep -q "cannot open .missing.noodle." err'
"$nm" -n 2 bad.noodle >out 2>err
rc=$?
check "compile error: exit 1, position, nothing run or written" \
    '[ $rc = 1 ] && grep -q "bad.noodle:1:" err && [ ! -s out ] && [ ! -e bad.nbc ]'

# The launcher: dry runs print the command (after compiling).
first() { "$nm" "$@" 2>err | cut -d' ' -f1; }
check "auto outside Slurm: mpirun" '[ "$(first --dry-run -n 2 prog.noodle)" = mpirun ]'
check "dry run compiled prog.nbc" '[ -s prog.nbc ]'
: >empty.nbc
"$nm" -n 2 empty.nbc >out 2>err
check "empty .nbc: exit 3, bad magic, nothing run" \
    '[ $? = 3 ] && [ ! -s out ] && grep -q "empty.nbc: not a bytecode file (bad magic)" err'
head -c 40 prog.nbc >truncated.nbc
"$nm" -n 2 truncated.nbc >out 2>err
check "truncated .nbc: exit 3, nothing run" '[ $? = 3 ] && [ ! -s out ] && grep -q "error:" err'
out=$("$nm" --dry-run -n 2 prog.noodle --grid 2x1 2>&1)
check "dry run: the whole command ($out)" \
    '[ "$out" = "mpirun -n 2 $builddir/noodle-run prog.nbc --grid 2x1" ]'
check "auto inside Slurm: srun" '[ "$(SLURM_JOB_ID=7 first --dry-run prog.noodle)" = srun ]'
check "NOODLE_LAUNCHER=srun: srun" '[ "$(NOODLE_LAUNCHER=srun first --dry-run prog.noodle)" = srun ]'
check "NOODLE_LAUNCHER=mpirun inside Slurm: mpirun" \
    '[ "$(SLURM_JOB_ID=7 NOODLE_LAUNCHER=mpirun first --dry-run prog.noodle)" = mpirun ]'
check "--launcher beats NOODLE_LAUNCHER" \
    '[ "$(NOODLE_LAUNCHER=srun first --launcher mpirun --dry-run prog.noodle)" = mpirun ]'
printf 'launcher: srun\n' >noodle.yaml
check "launcher: srun in ./noodle.yaml" '[ "$(first --dry-run prog.noodle)" = srun ]'
rm noodle.yaml
printf 'launcher: srun\n' >site.yaml
check "launcher: srun in the --config given to noodle-run" \
    '[ "$(first --dry-run prog.noodle --config site.yaml)" = srun ]'
NOODLE_LAUNCHER=ssh "$nm" --dry-run prog.noodle >out 2>err
check "NOODLE_LAUNCHER=ssh: exit 2, variable named" \
    '[ $? = 2 ] && [ ! -s out ] && grep -q "NOODLE_LAUNCHER: expected auto, srun or mpirun" err'
printf 'launcher: [srun]\n' >broken.yaml
"$nm" --dry-run prog.noodle --config broken.yaml >out 2>err
check "a bad --config file: exit 2, file named" '[ $? = 2 ] && grep -q "broken.yaml:1" err'

# A real run (mpirun from PATH).
if command -v mpirun >/dev/null 2>&1; then
    timeout 120 "$nm" -n 2 prog.noodle >out 2>err
    check "runs 2 ranks: exit 0, output once" '[ $? = 0 ] && [ "$(cat out)" = "40 true" ]'
fi
exit $fail
