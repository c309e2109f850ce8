#!/bin/bash
# bundle.sh BUILD_DIR: packs what the GPU run (benchmarks/gpu/run.sh) needs on a machine that
# has CUDA but no Open MPI, HDF5, ScaLAPACK, OpenBLAS or libyaml, into REPO/.devbundle/:
#   bin/   noodle-run, noodlec, noodle-mpirun and .libs/libnoodle_cuda.so (the CUDA plugin)
#          from BUILD_DIR (debug info stripped) and
#          cublas_gemm (benchmarks/gpu/cublas_gemm.c, built here against /usr/local/cuda)
#   debs/  the Debian packages of every runtime library in the ldd closure of those binaries,
#          of orted/orterun and of the Open MPI / PMIx plugins that are kept (not glibc,
#          libstdc++, libgcc or CUDA's own libraries), plus openmpi-bin/-common (help files)
#   MANIFEST  one line per package: "core|generic NAME VERSION FILE" (device-env.sh reads it)
# device-env.sh unpacks debs/ into a private root on the GPU machine (docs: benchmarks/gpu/README.md).
# Runs on the Debian 12 build host; needs apt-get download (network) and dpkg.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(cd "$1" && pwd)
out=$repo/.devbundle
cuda=${CUDA_DIR:-/usr/local/cuda}
multiarch=x86_64-linux-gnu
ompi_plugins=/usr/lib/$multiarch/openmpi/lib/openmpi3
pmix_plugins=/usr/lib/$multiarch/pmix2/lib/pmix
# Open MPI plugins for networks a one-node run never uses; their libraries (libfabric, UCX,
# verbs, PSM) would triple the bundle.  device-env.sh deletes the same set after unpacking.
drop_re='ofi|openib|psm|ucx|verbs'
# Always taken from the bundle (the MPI stack and what Noodle links for I/O and BLAS); every
# other library is "generic": device-env.sh uses the machine's copy when it has that soname.
core_re='openmpi|pmix|hwloc|libevent|hdf5|scalapack|openblas|lapack|blas|tmglib|yaml|libsz|libaec|munge'
# Provided by any glibc/gcc system (and newer on the GPU image): never bundled.
skip_pkgs=' libc6 libstdc++6 libgcc-s1 '

grep -qx '/.devbundle/' "$repo/.git/info/exclude" 2>/dev/null ||
    { mkdir -p "$repo/.git/info"; echo '/.devbundle/' >>"$repo/.git/info/exclude"; }
rm -rf "$out"
mkdir -p "$out/bin" "$out/debs"

for b in noodle-run noodlec noodle-mpirun; do
    [ -x "$build/$b" ] || { echo "bundle.sh: $build/$b missing (build it first)" >&2; exit 1; }
    # A libtool wrapper script would point into BUILD_DIR/.libs: only real executables travel.
    file -b "$build/$b" | grep -q '^ELF' || { echo "bundle.sh: $build/$b is not an ELF executable" >&2; exit 1; }
    strip --strip-debug -o "$out/bin/$b" "$build/$b"
done
# The CUDA plugin, where noodle-run looks for it in a build tree (.libs/ beside it).
plugin=$build/.libs/libnoodle_cuda.so
[ -f "$plugin" ] || { echo "bundle.sh: $plugin missing (configure found no CUDA?)" >&2; exit 1; }
mkdir -p "$out/bin/.libs"
strip --strip-debug -o "$out/bin/.libs/libnoodle_cuda.so" "$plugin"
gcc -O2 -std=c11 -Wall -Wextra -Werror -I"$cuda/include" -o "$out/bin/cublas_gemm" \
    "$here/cublas_gemm.c" -L"$cuda/lib64" -Wl,-rpath,"$cuda/lib64" -lcublas -lcudart
cp "$here/cublas_gemm.c" "$out/bin/"

# ---- the ELF files whose libraries must travel ----
elves=("$out"/bin/noodle-run "$out"/bin/noodlec "$out"/bin/noodle-mpirun "$out"/bin/cublas_gemm
       "$out"/bin/.libs/libnoodle_cuda.so
       "$(readlink -f /usr/bin/orted)" "$(readlink -f /usr/bin/orterun)")
for f in "$ompi_plugins"/*.so "$pmix_plugins"/*.so; do
    [[ $(basename "$f") =~ $drop_re ]] || elves+=("$f")
done

declare -A pkgs=() own=()
missing=0
# ldd prints load addresses: drop them so that sort -u keeps one line per library.
libs=$(for f in "${elves[@]}"; do ldd "$f" 2>/dev/null; done | sed 's/ *(0x[0-9a-f]*)$//' | sort -u)
# Which package owns which file, from dpkg's file lists in one grep (dpkg -S takes ~1 s a
# call).  Merged /usr: a file may be listed as /lib/... or /usr/lib/..., so ask for both.
cands=$(while read -r line; do
    case $line in *"=> /"*) ;; *) continue ;; esac
    for q in "${line#*=> }" "$(readlink -f "${line#*=> }")"; do
        echo "$q"
        case $q in /usr/lib/*) echo "${q#/usr}" ;; /lib/*) echo "/usr$q" ;; esac
    done
done <<<"$libs" | sort -u)
while read -r hit; do # /var/lib/dpkg/info/PKG[:ARCH].list:/FILE
    p=$(basename "${hit%%.list:*}")
    own[${hit#*.list:}]=${p%%:*}
done < <(grep -F -x -H -f <(echo "$cands") /var/lib/dpkg/info/*.list)
owner() { # PATH -> the package owning it, or nothing
    local p=$1
    [ -n "${own[$p]:-}" ] && { echo "${own[$p]}"; return; }
    case $p in
    /usr/lib/*) echo "${own[${p#/usr}]:-}" ;;
    /lib/*) echo "${own[/usr$p]:-}" ;;
    esac
}
while read -r line; do
    case $line in
    *"not found"*)
        lib=${line%% *}
        case $lib in libcuda.so*|libnvidia*) ;; # the driver's, present on the GPU machine
        *) echo "bundle.sh: warning: $lib not found here ($line)" >&2; missing=1 ;;
        esac
        continue ;;
    *"=> /"*) path=${line#*=> } ;;
    *) continue ;;
    esac
    real=$(readlink -f "$path")
    case $real in "$cuda"/*|/usr/local/cuda*|*/libcuda.so*|*/libnvidia*) continue ;; esac
    p=$(owner "$real")
    [ -n "$p" ] || p=$(owner "$path")
    if [ -z "$p" ]; then
        echo "bundle.sh: warning: no package owns $path ($real): not bundled" >&2
        continue
    fi
    case "$skip_pkgs" in *" $p "*) continue ;; esac
    pkgs[$p]=1
done <<<"$libs"
# The launcher, orted and the help files are not libraries of anything: name them.
for p in openmpi-bin openmpi-common libopenmpi3 libpmix2; do pkgs[$p]=1; done

cd "$out/debs"
get() { # PKG: the installed version if the archive still has it, else the candidate
    local v
    v=$(dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true)
    if [ -n "$v" ] && apt-get download -q "$1=$v" >/dev/null 2>&1; then return 0; fi
    apt-get download -q "$1" >/dev/null 2>&1
}
failed=()
# One apt-get call for all (each call reads the whole package cache: seconds); one per
# package only when that fails.
want=()
for p in $(printf '%s\n' "${!pkgs[@]}" | sort); do
    want+=("$p=$(dpkg-query -W -f='${Version}' "$p")")
done
if ! apt-get download -q "${want[@]}" >/dev/null 2>&1; then
    for p in $(printf '%s\n' "${!pkgs[@]}" | sort); do
        get "$p" || failed+=("$p")
    done
fi
if [ ${#failed[@]} -gt 0 ]; then
    echo "bundle.sh: apt-get download failed for ${failed[*]}; running apt-get update" >&2
    apt-get update -q >/dev/null
    left=("${failed[@]}"); failed=()
    for p in "${left[@]}"; do get "$p" || failed+=("$p"); done
    [ ${#failed[@]} -eq 0 ] || { echo "bundle.sh: cannot download: ${failed[*]}" >&2; exit 1; }
fi
{
    echo "# bundle of $(date -u '+%Y-%m-%d %H:%M UTC') from $build on $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "# drop_re $drop_re"
    for deb in *.deb; do
        name=$(dpkg-deb -f "$deb" Package) ver=$(dpkg-deb -f "$deb" Version)
        kind=generic
        [[ $name =~ $core_re ]] && kind=core
        echo "$kind $name $ver $deb"
    done
} >"$out/MANIFEST"
cd "$repo"
echo "bundle.sh: $(grep -c '^core' "$out/MANIFEST") core + $(grep -c '^generic' "$out/MANIFEST") generic packages"
du -sh "$out/bin" "$out/debs" "$out"
[ $missing -eq 0 ] || echo "bundle.sh: some libraries were not found here (see warnings)" >&2
