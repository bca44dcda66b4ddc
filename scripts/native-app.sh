#!/usr/bin/env bash
# The app's native library (mobile/app/native/CMakeLists.txt, the same CMake
# project Android and iOS build) built here as CI builds it, and its FFI test
# (tests/native) against a real ttboost-server on 127.0.0.1:
#   1. x86-64: host gcc, Debian's packages (pkg-config)  -> build-native/
#   2. arm64: Debian's aarch64 cross gcc against the :arm64 packages
#      (toolchain-aarch64-linux-gnu.cmake), the test under qemu-user
#                                                         -> build-native-arm64/
# The server is always the build machine's (a meson build dir with
# server/ttboost-server, TTB_SERVER_BUILD, default build/; built when missing).
#
#   scripts/native-app.sh               install what is missing, build, test
#   SKIP_ARM64=1 scripts/native-app.sh  x86-64 only
#   SKIP_ARM64_INSTALL=1                never touch the system (fail instead)
#
# What it installs (as root, or through sudo), only when missing: cmake; for
# arm64 the same toolchain and :arm64 -dev packages as scripts/cross-arm64.sh
# (checked with apt-get -s first: it stops rather than let apt remove
# anything). libwebsockets-dev:arm64 and libssl-dev:arm64 are not installed
# but unpacked into build-native-arm64-sysroot/ (ignored by git) with .pc files
# of their own: installed, they would change what the meson arm64 build of
# scripts/cross-arm64.sh finds (it is built without libwebsockets on purpose).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SRV_BUILD=${TTB_SERVER_BUILD:-build}
B64=build-native-arm64
EXTRA=$ROOT/build-native-arm64-sysroot
EXTRA_LIB=$EXTRA/usr/lib/aarch64-linux-gnu

say() { echo "native-app: $*"; }
die() {
  echo "native-app: error: $*" >&2
  exit 1
}

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# apt-get install of the missing ones among "$@", never removing anything.
ensure_packages() {
  local missing="" p plan
  for p in "$@"; do installed "$p" || missing="$missing $p"; done
  [ -n "$missing" ] || return 0
  [ "${SKIP_ARM64_INSTALL:-0}" != 1 ] || die "missing packages:$missing"
  say "installing$missing"
  $SUDO apt-get update -q >/dev/null || die "apt-get update failed"
  # shellcheck disable=SC2086
  plan=$(LC_ALL=C apt-get install -s -y --no-install-recommends $missing 2>&1) ||
    die "apt-get cannot install$missing:"$'\n'"$plan"
  if grep -q '^Remv ' <<<"$plan"; then
    die "installing$missing would remove packages, refusing:"$'\n'"$(grep '^Remv ' <<<"$plan")"
  fi
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing >/dev/null ||
    die "apt-get install$missing failed"
}

# cmake: configure (again when the directory exists) and build.
cmake_build() { # dir, cmake args...
  local dir=$1
  shift
  cmake -S mobile/app/native -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTTB_WERROR=ON \
    -DTTB_BUILD_TESTS=ON "$@" >"$dir/configure.log" 2>&1 || {
    cat "$dir/configure.log" >&2
    die "cmake configure of $dir failed"
  }
  rm -f "$dir/configure.log"
  cmake --build "$dir" -j "$(nproc)" || die "cmake --build $dir failed"
}

server() {
  if [ ! -x "$SRV_BUILD/server/ttboost-server" ] || [ ! -x "$SRV_BUILD/server/ttboost-admin" ] ||
    [ ! -x "$SRV_BUILD/server/ttboost-tts-worker" ]; then
    say "building the server in $SRV_BUILD"
    [ -f "$SRV_BUILD/meson-private/coredata.dat" ] || meson setup "$SRV_BUILD" >/dev/null
    meson compile -C "$SRV_BUILD" || die "the server does not build"
  fi
}

# --- 1. x86-64
command -v cmake >/dev/null 2>&1 || ensure_packages cmake
server
say "x86-64: cmake build in build-native"
mkdir -p build-native
cmake_build build-native
say "x86-64: FFI test"
tests/native/run.sh build-native/libttboost_client.so build-native/ffi_client_test "$SRV_BUILD" ||
  die "the FFI test failed on x86-64"

[ "${SKIP_ARM64:-0}" != 1 ] || {
  say "arm64 skipped (SKIP_ARM64=1)"
  exit 0
}

# --- 2. arm64
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  [ "${SKIP_ARM64_INSTALL:-0}" != 1 ] || die "dpkg has no arm64 architecture (dpkg --add-architecture arm64)"
  say "adding the arm64 architecture to dpkg"
  $SUDO dpkg --add-architecture arm64
fi
ensure_packages gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-user-static \
  libc6-dev:arm64 libopus-dev:arm64 libogg-dev:arm64 libopusfile-dev:arm64 libsodium-dev:arm64 \
  libnanopb-dev:arm64 libssl3:arm64

# libwebsockets and OpenSSL for arm64, unpacked (see the top). Redone when the
# candidate versions change.
UNPACK="libwebsockets-dev libwebsockets17 libcap2 libssl-dev libssl3"
want=""
for p in $UNPACK; do
  want="$want $p=$(LC_ALL=C apt-cache policy "$p:arm64" | awk '/Candidate:/ {print $2}')"
done
stamp=$EXTRA/.versions
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -e "$EXTRA_LIB/libwebsockets.so" ]; then
  say "libwebsockets, OpenSSL (arm64): unpacked in ${EXTRA#"$ROOT"/}"
else
  case "$want" in *"=(none)"* | *"= "* | *"=") die "apt knows no arm64 candidate for:$want (apt-get update?)" ;; esac
  say "unpacking$want into ${EXTRA#"$ROOT"/}"
  tmp=$(mktemp -d)
  chmod 755 "$tmp" # apt's _apt user downloads into it
  for p in $UNPACK; do
    (cd "$tmp" && apt-get download -q "$p:arm64" >/dev/null 2>&1) || {
      rm -rf "$tmp"
      die "apt-get download $p:arm64 failed"
    }
  done
  rm -rf "$EXTRA"
  mkdir -p "$EXTRA"
  for f in "$tmp"/*.deb; do dpkg-deb -x "$f" "$EXTRA"; done
  rm -rf "$tmp"
  echo "$want" >"$stamp"
fi
# .pc files naming exactly the unpacked files (Debian's name /usr).
mkdir -p "$EXTRA/pkgconfig"
lws_version=$(sed -n 's/^Version: *//p' "$EXTRA_LIB/pkgconfig/libwebsockets.pc")
ssl_version=$(sed -n 's/^Version: *//p' "$EXTRA_LIB/pkgconfig/openssl.pc")
cat >"$EXTRA/pkgconfig/libwebsockets.pc" <<EOF
# written by scripts/native-app.sh: libwebsockets for arm64, unpacked from Debian's packages
prefix=$EXTRA/usr
Name: libwebsockets
Description: libwebsockets (arm64, unpacked)
Version: ${lws_version:-0}
Requires: openssl
Libs: -L\${prefix}/lib/aarch64-linux-gnu -lwebsockets
Cflags: -I\${prefix}/include
EOF
cat >"$EXTRA/pkgconfig/openssl.pc" <<EOF
# written by scripts/native-app.sh: OpenSSL for arm64, unpacked from Debian's packages
prefix=$EXTRA/usr
Name: OpenSSL
Description: OpenSSL (arm64, unpacked)
Version: ${ssl_version:-0}
Libs: -L\${prefix}/lib/aarch64-linux-gnu -lssl -lcrypto
Cflags: -I\${prefix}/include/aarch64-linux-gnu -I\${prefix}/include
EOF

say "arm64: cmake build in $B64"
mkdir -p "$B64"
cmake_build "$B64" -DCMAKE_TOOLCHAIN_FILE="$ROOT/mobile/app/native/toolchain-aarch64-linux-gnu.cmake" \
  -DTTB_ARM64_EXTRA="$EXTRA"
lib=$B64/libttboost_client.so
say "$(file -b "$lib" | cut -d, -f1-2): $lib"
file -b "$lib" | grep -q 'ARM aarch64' || die "$lib is not an arm64 library"
say "arm64: FFI test under qemu-aarch64-static"
TTB_FFI_LIBRARY_PATH=$EXTRA_LIB:$EXTRA/lib/aarch64-linux-gnu TTB_FFI_SLOW=3 \
  tests/native/run.sh "$lib" "$B64/ffi_client_test" "$SRV_BUILD" qemu-aarch64-static ||
  die "the FFI test failed on arm64 (qemu)"
say "x86-64 and arm64: built from mobile/app/native, FFI test passed"
