# Image for turngym's docker sandbox backend (turngym.envs.code_sandbox, backend="docker").
# Build: docker build -f docker/sandbox.Dockerfile -t turngym-sandbox:latest docker/
#
# A minimal root, like the process backends' (issue 19): the final stage starts FROM scratch
# and holds only the interpreter, its standard library (no site-packages, no pip, no tests)
# and the shared libraries these load, found with ldd. Nothing is copied from the build
# context, so no project file and no task data (HumanEval, MBPP, ...) can be inside. The
# runner script is sent with each run (python -I -c ...); containers are started with no
# network, a read-only root, a tmpfs /work, memory/CPU/pids limits, their own PID and IPC
# namespaces, all capabilities dropped, no-new-privileges, as user nobody, and the runner
# installs its seccomp filter in the program's process.
FROM python:3.11-slim AS build
# The script below only uses ROOTFS (default /rootfs) and the python3 on PATH, so that
# tests/code_sandbox/test_sandbox_image.py can run this very step on the test machine.
RUN set -eu; \
    rootfs="${ROOTFS:-/rootfs}"; \
    prefix="$(python3 -c 'import sys; print(sys.base_prefix)')"; \
    version="$(python3 -c 'import sys; print("python%d.%d" % sys.version_info[:2])')"; \
    binary="$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')"; \
    mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/local/lib" "$rootfs/work" "$rootfs/tmp" \
             "$rootfs/dev" "$rootfs/proc"; \
    cp -L "$binary" "$rootfs/usr/local/bin/$version"; \
    ln -sf "$version" "$rootfs/usr/local/bin/python3"; \
    tar -C "$prefix/lib" --exclude="$version/site-packages" --exclude="$version/dist-packages" \
        --exclude="$version/test" --exclude="$version/idlelib" --exclude="$version/ensurepip" \
        --exclude="$version/tkinter" --exclude="$version/turtledemo" --exclude="$version/config-*" \
        --exclude="*.opt-1.pyc" --exclude="*.opt-2.pyc" -cf - "$version" \
      | tar -C "$rootfs/usr/local/lib" -xf -; \
    mkdir -p "$rootfs/usr/local/lib/$version/site-packages"; \
    ldd "$binary" "$prefix/lib/$version/lib-dynload/"*.so 2>/dev/null \
      | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $2 ~ /^\(/ {print $1}' | sort -u \
      | while read -r lib; do \
          case "$lib" in \
            "$prefix"/*) cp -L "$lib" "$rootfs/usr/local/lib/" ;; \
            *) cp -L --parents "$lib" "$rootfs/" ;; \
          esac; \
        done; \
    chmod 1777 "$rootfs/work" "$rootfs/tmp"

FROM scratch
COPY --from=build /rootfs/ /
ENV PATH=/usr/local/bin LD_LIBRARY_PATH=/usr/local/lib LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /work
USER 65534:65534
CMD ["python3", "-c", "print('turngym sandbox image: runs are started by turngym')"]
