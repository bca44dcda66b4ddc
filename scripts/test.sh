#!/usr/bin/env bash
# Runs every check TTBoost has, as CI does (.ci/run calls this):
#   0. the C sources' formatting (scripts/format.sh --check, .clang-format)
#   1. build and `meson test` (unit, integration against the real server, freshness of generated/)
#   2. the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   3. the mobile core cross-compiled for arm64, its unit tests under qemu
#      (scripts/cross-arm64.sh; installs the arm64 toolchain when missing)
#   4. the app's native library from its own CMake (mobile/app/native), x86-64
#      and arm64, and its FFI test against the server (scripts/native-app.sh;
#      the arm64 test under qemu)
#   5. the libFuzzer smoke run of every network decoder (clang)
#   6. the Flutter app's source checks (mobile/app/tool, Node.js), including
#      the bindings against the libraries of stage 4 (nm -D)
#   7. the web app and the OBS overlay in headless chromium (tests/browser,
#      puppeteer-core from npm) against the server of stage 1
# Options: FUZZ_SECONDS (default 30 per target), SKIP_FUZZ=1, SKIP_SAN=1,
# SKIP_ARM64=1 (also the arm64 half of stage 4), SKIP_BROWSER=1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
./scripts/setup.sh

passed=0
failed=0
failures=() # what failed, repeated at the very end, where a truncated log still shows it
stage() {
  local name=$1
  shift
  local t0=$SECONDS
  echo "==> $name"
  if "$@"; then
    passed=$((passed + 1))
    echo "==> $name: ok ($((SECONDS - t0)) s)"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "==> $name: FAILED ($((SECONDS - t0)) s)"
  fi
}

configure() { # dir, meson args...
  local dir=$1
  shift
  if [ -d "$dir/meson-private" ]; then
    meson setup --reconfigure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi
}

failed_tests() { # dir: the meson tests that did not pass, with the end of their output
  local log=$1/meson-logs/testlog.json
  [ -f "$log" ] || return 0
  /usr/bin/python3 - "$log" <<'PY'
import json, sys
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try:
        t = json.loads(line)
    except ValueError:
        continue
    if t.get("result") in ("OK", "SKIP", "EXPECTEDFAIL"):
        continue
    print(f"--- {t.get('name')}: {t.get('result')} ({t.get('duration', 0):.0f} s); its last lines:")
    out = (t.get("stdout") or "") + (t.get("stderr") or "")
    for l in out.splitlines()[-25:]:
        print("    " + l)
PY
}

build_and_test() { # dir, meson args...
  local dir=$1
  shift
  configure "$dir" "$@" && meson compile -C "$dir" || return 1
  meson test -C "$dir" --print-errorlogs --num-processes 2 && return 0
  failures+=("$(failed_tests "$dir")")
  return 1
}

stage "formatting (clang-format)" ./scripts/format.sh --check
stage "build + tests" build_and_test build -Dtests=enabled

if [ "${SKIP_SAN:-0}" != 1 ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  export LSAN_OPTIONS=suppressions=$ROOT/scripts/lsan.supp:print_suppressions=0
  stage "tests under ASan+UBSan" build_and_test build-san -Dtests=enabled \
    -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all
fi

if [ "${SKIP_ARM64:-0}" != 1 ]; then
  stage "arm64 cross build + tests (qemu)" ./scripts/cross-arm64.sh
fi

stage "app native library: CMake x86-64 + arm64, FFI test" ./scripts/native-app.sh
# the app checks (stage 6) compare the bindings with what these export
export TTB_NATIVE_LIBS=$ROOT/build-native/libttboost_client.so
if [ "${SKIP_ARM64:-0}" != 1 ]; then
  TTB_NATIVE_LIBS+=":$ROOT/build-native-arm64/libttboost_client.so"
fi

if [ "${SKIP_FUZZ:-0}" != 1 ] && [ -x tests/fuzz/smoke.sh ]; then
  fuzz() {
    CC=clang configure build-fuzz -Dfuzzing=true -Dserver=false -Dclient=false -Dtools=false \
      -Dtests=disabled && meson compile -C build-fuzz && tests/fuzz/smoke.sh build-fuzz "${FUZZ_SECONDS:-30}"
  }
  stage "fuzz smoke" fuzz
fi

if [ -f mobile/app/tool/package.json ]; then
  app_checks() { npm --prefix mobile/app/tool ci --no-audit --no-fund && npm --prefix mobile/app/tool test; }
  stage "mobile/app checks" app_checks
fi

if [ "${SKIP_BROWSER:-0}" != 1 ]; then
  browser_tests() {
    npm --prefix tests/browser ci --no-audit --no-fund &&
      TTBOOST_SERVER=$ROOT/build/server/ttboost-server TTBOOST_ADMIN=$ROOT/build/server/ttboost-admin \
        npm --prefix tests/browser test
  }
  stage "browser tests (headless chromium; screenshots in var/screenshots)" browser_tests
fi

echo "checks: $passed passed, $failed failed"
if [ "$failed" -ne 0 ]; then
  echo "what failed:"
  printf '%s\n' "${failures[@]}"
fi
[ "$failed" -eq 0 ]
