#!/usr/bin/env bash
# The fault proxy's compiled fast path (local/faultproxy/fastrelay.c) under AddressSanitizer and
# UndefinedBehaviorSanitizer: the library is built with them (CC points at a wrapper, so the
# cache keeps it apart from the normal build) and the relay tests run with the runtimes
# preloaded into Python. Any report aborts the run. Needs gcc; not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
command -v gcc >/dev/null || { echo "sanitize: gcc is required" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '#!/bin/sh\nexec gcc -fsanitize=address,undefined -fno-omit-frame-pointer -g "$@"\n' \
  > "$work/cc"
chmod +x "$work/cc"
export CC="$work/cc" SQSKIT_CACHE_DIR="$work/cache" SQSKIT_PROXY_FASTPATH=on
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
# Python's own allocations are not ASan's to judge; the library's reads and writes are.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# --capture=sys: a sanitizer writes its report to fd 2, which fd capture would swallow on abort
exec "$PY" -m pytest -q -p no:xdist -p no:cacheprovider --capture=sys \
  tests/local/faultproxy/test_relay.py tests/local/faultproxy/test_upstream.py \
  tests/local/faultproxy/test_compiled_differential.py
