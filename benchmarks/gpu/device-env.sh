# device-env.sh: sourced (bash) from the repository root on the GPU machine, which has CUDA
# but no Open MPI, HDF5, ScaLAPACK, OpenBLAS or libyaml:
#   . benchmarks/gpu/device-env.sh [BUNDLE_DIR]          (default .devbundle, see bundle.sh)
# Unpacks BUNDLE_DIR/debs into a private root ($ND_ROOT, default /tmp/ndroot; never into /)
# and exports what makes the bundled noodle-run, mpirun and orted work from there: PATH,
# LD_LIBRARY_PATH (bundled MPI stack first; a "generic" library such as libcurl only where
# the machine lacks that soname, because the machine's own copy is newer; then the CUDA
# libraries from /usr/local/cuda or pip's nvidia/* packages), OPAL_PREFIX (Debian's Open
# MPI is relocatable: plugins, help files and orted are found under it), PMIX_DESTDIR and
# the OMPI_* settings for root on one node.  Prints what it found; returns non-zero when
# something the run needs is missing.  Docs: benchmarks/gpu/README.md.

_nd_device_env() {
    local B=${1:-.devbundle} R=${ND_ROOT:-/tmp/ndroot} ma=x86_64-linux-gnu
    local deb kind name ver file so d f ok=0 libdirs="" cudadirs="" missing=""
    B=$(cd "$B" 2>/dev/null && pwd) || { echo "device-env: no bundle directory ${1:-.devbundle}" >&2; return 1; }
    [ -f "$B/MANIFEST" ] || { echo "device-env: $B/MANIFEST missing (run benchmarks/gpu/bundle.sh)" >&2; return 1; }

    # ---- unpack (once per bundle: the stamp is the MANIFEST) ----
    if ! cmp -s "$B/MANIFEST" "$R/.manifest" 2>/dev/null; then
        case $R in /|/usr|/usr/*|/lib*|/bin*|/etc*) echo "device-env: refusing ND_ROOT=$R" >&2; return 1 ;; esac
        rm -rf "$R"
        mkdir -p "$R/core" "$R/generic" "$R/extra" || return 1
        while read -r kind name ver file; do
            case $kind in core|generic) ;; *) continue ;; esac
            if dpkg-deb --version >/dev/null 2>&1; then
                dpkg-deb -x "$B/debs/$file" "$R/$kind" || { echo "device-env: cannot unpack $file" >&2; return 1; }
            else # no dpkg: a .deb is an ar archive holding data.tar.*
                _nd_unpack_deb "$B/debs/$file" "$R/$kind" || { echo "device-env: cannot unpack $file" >&2; return 1; }
            fi
        done <"$B/MANIFEST"
        # The same network plugins bundle.sh left out of the library closure.
        local drop_re
        drop_re=$(sed -n 's/^# drop_re //p' "$B/MANIFEST")
        for f in "$R/core/usr/lib/$ma/openmpi/lib/openmpi3"/*.so "$R/core/usr/lib/$ma/openmpi/lib"/libmca_common_*; do
            [[ $(basename "$f") =~ $drop_re ]] && rm -f "$f"
        done
        # mpirun/mpiexec are update-alternatives links on Debian, made by no package file.
        ln -sf orterun "$R/core/usr/bin/mpirun"
        ln -sf orterun "$R/core/usr/bin/mpiexec"
        cp "$B/MANIFEST" "$R/.manifest"
    fi

    # ---- generic libraries: the machine's copy when it has the soname, else ours ----
    rm -f "$R/extra"/*
    # The machine's library directories: the loader's cache and the usual places.
    local sysdirs have
    sysdirs=$( (ldconfig -p 2>/dev/null | sed -n 's/.*=> \(.*\)\/[^/]*$/\1/p'; \
                echo /lib/$ma /usr/lib/$ma /lib64 /usr/lib64 /usr/local/lib) | sort -u)
    for f in "$R"/generic/lib/$ma/lib*.so.* "$R"/generic/usr/lib/$ma/lib*.so.*; do
        [ -e "$f" ] || continue
        so=${f##*/}
        # A non-empty file of that name (a hidden one, as in ns-test.sh, is an empty bind).
        have=no
        for d in $sysdirs; do
            [ -s "$d/$so" ] && { have=yes; break; }
        done
        [ $have = yes ] || ln -sf "$f" "$R/extra/$so"
    done

    # ---- CUDA: /usr/local/cuda first, then pip's nvidia/* wheels ----
    local pydirs="" lib
    pydirs=$(python3 -c 'import nvidia, os
for p in nvidia.__path__: print(p)' 2>/dev/null)
    for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcusolver.so.12 \
               libcusparse.so.12 libnvJitLink.so.13 libnccl.so.2; do
        f=""
        for d in ${CUDA_HOME:-/usr/local/cuda}/lib64 /usr/local/cuda/lib64 \
                 /usr/local/cuda/targets/x86_64-linux/lib; do
            [ -e "$d/$lib" ] && { f=$d/$lib; break; }
        done
        if [ -z "$f" ] && [ -n "$pydirs" ]; then
            f=$(find $pydirs -maxdepth 4 -name "$lib" 2>/dev/null | head -n 1)
        fi
        if [ -z "$f" ]; then
            f=$(ldconfig -p 2>/dev/null | sed -n "s/.*$lib .*=> //p" | head -n 1)
        fi
        if [ -n "$f" ]; then
            echo "device-env: $lib: $f"
            d=$(dirname "$f")
            case ":$cudadirs:" in *":$d:"*) ;; *) cudadirs=${cudadirs:+$cudadirs:}$d ;; esac
        else
            echo "device-env: $lib: NOT FOUND" >&2
            missing="$missing $lib"
        fi
    done
    # The driver's libcuda.so.1: normally in the loader's cache; else the usual driver mounts.
    if ! ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 '; then
        for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/$ma /usr/lib64; do
            if [ -e "$d/libcuda.so.1" ]; then
                cudadirs=${cudadirs:+$cudadirs:}$d
                break
            fi
        done
    fi

    libdirs=$R/core/usr/lib/$ma/openblas-pthread:$R/core/usr/lib/$ma:$R/core/usr/lib/$ma/openmpi/lib
    libdirs=$libdirs:$R/core/usr/lib/$ma/pmix2/lib:$R/extra
    export LD_LIBRARY_PATH=$libdirs${cudadirs:+:$cudadirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export PATH=$B/bin:$R/core/usr/bin:$PATH
    export OPAL_PREFIX=$R/core/usr
    # PMIx's directories are absolute in Debian's build (PMIX_PREFIX would move only
    # ${prefix}-relative ones): PMIX_DESTDIR puts the whole tree under the root.
    export PMIX_DESTDIR=$R/core
    export PMIX_MCA_mca_base_component_path=$R/core/usr/lib/$ma/pmix2/lib/pmix
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    # plm isolated: one node, no ssh/rsh needed (the GPU machine has none: rsh aborts then).
    export OMPI_MCA_plm=isolated
    export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1 OMPI_MCA_rmaps_base_oversubscribe=1
    export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
    export ND_BUNDLE=$B ND_ROOT=$R

    echo "device-env: bundle $B, root $R ($(ls "$R/extra" | wc -l) generic libraries from the bundle:" \
         "$(ls "$R/extra" | tr '\n' ' '))"
    echo "device-env: mpirun $(command -v mpirun), orted $(command -v orted), noodle-run $(command -v noodle-run)"
    local glibc
    glibc=$(ldd --version 2>/dev/null | head -n 1 | grep -o '[0-9]*\.[0-9]*$')
    if [ -n "$glibc" ] && [ "$(printf '%s\n' 2.36 "$glibc" | sort -V | head -n 1)" = 2.36 ]; then
        echo "device-env: glibc $glibc (the bundle needs >= 2.36: Debian 12)"
    else
        echo "device-env: glibc '$glibc' is older than Debian 12's 2.36: the bundle will not load" >&2
        ok=1
    fi
    for f in "$B"/bin/noodle-run "$B"/bin/noodlec "$B"/bin/cublas_gemm "$R/core/usr/bin/orted"; do
        [ -x "$f" ] || continue
        if ldd "$f" 2>&1 | grep -q 'not found\|version .* not found'; then
            echo "device-env: $(basename "$f"): unresolved:" $(ldd "$f" 2>&1 | grep 'not found' | sort -u) >&2
            ok=1
        fi
    done
    if command -v nvidia-smi >/dev/null 2>&1; then
        echo "device-env: $(nvidia-smi -L 2>&1 | head -n 4 | tr '\n' ' ')"
    else
        echo "device-env: no nvidia-smi"
    fi
    [ -z "$missing" ] || echo "device-env: CUDA libraries missing:$missing (the CPU path still works)" >&2
    return $ok
}

# _nd_unpack_deb DEB DIR: dpkg-deb -x without dpkg (ar + tar), for images that lack dpkg.
_nd_unpack_deb() {
    python3 - "$1" "$2" <<'EOF'
import io, sys, tarfile
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'!<arch>\n', 'not a deb'
pos = 8
while pos < len(data):
    name = data[pos:pos + 16].decode().strip().rstrip('/')
    size = int(data[pos + 48:pos + 58].decode().strip())
    body = data[pos + 60:pos + 60 + size]
    pos += 60 + size + (size & 1)
    if name.startswith('data.tar'):
        t = tarfile.open(fileobj=io.BytesIO(body))
        try:
            t.extractall(sys.argv[2], filter='fully_trusted')
        except TypeError:  # Python without extraction filters
            t.extractall(sys.argv[2])
        break
EOF
}

_nd_device_env "$@"
