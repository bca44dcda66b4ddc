#!/usr/bin/env bash
# Cross-compiles the mobile core (mobile/core, its codecs, audio engine,
# filter, persistence and the network layer without libwebsockets) for arm64
# with Debian's gcc-aarch64-linux-gnu, and runs its unit tests under
# qemu-aarch64-static (suites mobile, codec, mobile_net).
#
#   scripts/cross-arm64.sh              install what is missing, build, test
#   SKIP_ARM64_INSTALL=1 scripts/...    never touch the system (fail instead)
#   BUILD_ARM64=dir                     build directory (default build-arm64)
#
# What it installs (as root, or through sudo), only when missing:
#   - the arm64 architecture in dpkg (dpkg --add-architecture arm64)
#   - gcc-aarch64-linux-gnu and qemu-user-static
#   - the :arm64 -dev packages the core links; every one is Multi-Arch: same,
#     so it installs beside the amd64 one (checked with apt-get -s first: the
#     script stops rather than let apt remove anything)
#   - the qemu-aarch64 binfmt_misc handler: Criterion runs every test in a
#     fresh copy of the test binary (boxfort re-executes it), which only
#     works when the kernel itself can start an arm64 binary
# Not installable beside the amd64 packages, so unpacked (not installed) into
# build-arm64-sysroot/ (ignored by git; meson gets its pkgconfig/ folder):
#   libcriterion3, libcriterion-dev and libnanomsg5 for arm64 (libnanomsg is
#   not Multi-Arch: same). libwebsockets-dev:arm64 cannot be installed either:
#   the cross build has no real transport (TTB_NET_HAVE_LWS=0) and tests the
#   connection logic over the fake transport.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${BUILD_ARM64:-build-arm64}
CROSS_FILE=$ROOT/scripts/cross/arm64.ini
EXTRA=$ROOT/build-arm64-sysroot
EXTRA_LIB=$EXTRA/usr/lib/aarch64-linux-gnu

say() { echo "cross-arm64: $*"; }
die() {
  echo "cross-arm64: error: $*" >&2
  exit 1
}

[ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ] ||
  die "this script expects a Debian amd64 host (dpkg --print-architecture: $(dpkg --print-architecture 2>/dev/null || echo none))"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "not root and no sudo: run as root to install the arm64 toolchain and packages"
  SUDO=sudo
fi

# Build-machine tools, and the arm64 (host-machine) packages.
NATIVE_PKGS="gcc-aarch64-linux-gnu qemu-user-static meson ninja-build pkg-config file libprotobuf-c-dev libjsmn-dev"
ARM64_PKGS="libc6-dev libopus-dev libogg-dev libopusfile-dev libopusenc-dev libsodium-dev libnanopb-dev libprotobuf-c-dev libffi8 libgit2-1.5"
# unpacked into $EXTRA instead (see above)
UNPACK_PKGS="libcriterion3 libcriterion-dev libnanomsg5"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

install_packages() {
  local missing="" p
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    [ "${SKIP_ARM64_INSTALL:-0}" != 1 ] || die "dpkg has no arm64 architecture (dpkg --add-architecture arm64)"
    say "adding the arm64 architecture to dpkg"
    $SUDO dpkg --add-architecture arm64
  fi
  for p in $NATIVE_PKGS; do installed "$p" || missing="$missing $p"; done
  for p in $ARM64_PKGS; do installed "$p:arm64" || missing="$missing $p:arm64"; done
  if [ -z "$missing" ]; then
    say "packages: all there"
    return 0
  fi
  [ "${SKIP_ARM64_INSTALL:-0}" != 1 ] || die "missing packages:$missing"
  say "installing$missing"
  $SUDO apt-get update -q >/dev/null || die "apt-get update failed"
  local plan
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

# Criterion for arm64, unpacked (not installed) into $EXTRA, with a .pc file
# that points there. Redone when the candidate version changes.
unpack_criterion() {
  local want stamp=$EXTRA/.versions tmp p
  want=""
  for p in $UNPACK_PKGS; do
    want="$want $p=$(LC_ALL=C apt-cache policy "$p:arm64" | awk '/Candidate:/ {print $2}')"
  done
  case "$want" in *"=(none)"* | *"= "* | *"=")
    [ -f "$stamp" ] || die "apt knows no arm64 candidate for:$want (apt-get update?)"
    want=$(cat "$stamp") ;;
  esac
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -e "$EXTRA_LIB/libcriterion.so.3" ]; then
    say "criterion (arm64): unpacked in ${EXTRA#"$ROOT"/}"
  else
    say "unpacking$want into ${EXTRA#"$ROOT"/}"
    tmp=$(mktemp -d)
    chmod 755 "$tmp" # apt's _apt user downloads into it
    for p in $UNPACK_PKGS; do
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
  # Debian's criterion.pc names /usr and Requires.private packages that are
  # not there for arm64; this one (in a folder of its own, passed to meson
  # as pkg_config_path) names exactly the unpacked files. DT_RPATH (not
  # RUNPATH: libcriterion's own libnanomsg.so.5 must be found through it
  # too) lets the test binaries start without LD_LIBRARY_PATH.
  local version
  version=$(sed -n 's/^Version: *//p' "$EXTRA_LIB/pkgconfig/criterion.pc")
  mkdir -p "$EXTRA/pkgconfig"
  cat >"$EXTRA/pkgconfig/criterion.pc" <<EOF
# written by scripts/cross-arm64.sh: Criterion for arm64, unpacked from Debian's packages
prefix=$EXTRA/usr
includedir=\${prefix}/include
libdir=\${prefix}/lib/aarch64-linux-gnu

Name: criterion
Description: A KISS, Cross platform unit testing framework for C and C++ (arm64, unpacked)
Version: ${version:-0}
Libs: -L\${libdir} -Wl,-rpath-link,\${libdir} -Wl,--disable-new-dtags,-rpath,\${libdir} -lcriterion
Cflags: -I\${includedir}
EOF
}

# Criterion's re-executed test instances need the kernel to run arm64 ELF
# files through qemu (binfmt_misc); meson's exe_wrapper only covers the
# first process.
ensure_binfmt() {
  local bm=/proc/sys/fs/binfmt_misc conf=/usr/lib/binfmt.d/qemu-aarch64.conf
  if [ -f "$bm/qemu-aarch64" ] && grep -qx enabled "$bm/qemu-aarch64"; then
    say "binfmt_misc: qemu-aarch64 registered"
    return 0
  fi
  [ "${SKIP_ARM64_INSTALL:-0}" != 1 ] || die "the qemu-aarch64 binfmt_misc handler is not registered"
  [ -f "$conf" ] || die "$conf is missing (is qemu-user-static installed?)"
  if [ ! -f "$bm/register" ]; then
    $SUDO mount -t binfmt_misc binfmt_misc "$bm" ||
      die "cannot mount binfmt_misc on $bm: Criterion's tests cannot run under qemu without it"
  fi
  say "registering the qemu-aarch64 binfmt_misc handler ($conf)"
  if [ -x /lib/systemd/systemd-binfmt ]; then
    $SUDO /lib/systemd/systemd-binfmt "$conf" || true
  fi
  if [ ! -f "$bm/qemu-aarch64" ]; then
    grep -v '^[#;]' "$conf" | grep . | $SUDO tee "$bm/register" >/dev/null || true
  fi
  if ! grep -qx enabled "$bm/qemu-aarch64" 2>/dev/null; then
    die "could not register the qemu-aarch64 binfmt_misc handler"
  fi
}

install_packages
unpack_criterion
ensure_binfmt

# Configure (reconfigure when the directory is already a meson build dir).
opts=(--cross-file "$CROSS_FILE" -Dpkg_config_path="$EXTRA/pkgconfig"
  -Dserver=false -Dtools=false -Dclient=true -Dtests=enabled)
setup_log=$(mktemp)
if [ -f "$BUILD/meson-private/coredata.dat" ]; then
  setup=(meson setup --reconfigure "$BUILD" "${opts[@]}")
else
  setup=(meson setup "$BUILD" "${opts[@]}")
fi
if ! "${setup[@]}" >"$setup_log" 2>&1; then
  cat "$setup_log" >&2
  rm -f "$setup_log"
  die "${setup[*]} failed"
fi
rm -f "$setup_log"
meson compile -C "$BUILD" || die "the arm64 build failed"

exe=$BUILD/tests/mobile/mobile_test_codec
[ -f "$exe" ] || die "$exe was not built"
say "$(file -b "$exe" | cut -d, -f1-2): $exe"
file -b "$exe" | grep -q 'ARM aarch64' || die "$exe is not an arm64 binary"

# Under emulation everything is slower: three times the timeouts.
meson test -C "$BUILD" --suite mobile --suite codec --suite mobile_net \
  --print-errorlogs --timeout-multiplier 3 --num-processes "$(nproc)" ||
  die "arm64 tests failed under qemu (logs: $BUILD/meson-logs/testlog.txt)"
say "arm64 build and tests under qemu: ok"
