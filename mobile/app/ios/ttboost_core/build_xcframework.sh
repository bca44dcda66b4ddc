#!/usr/bin/env bash
# Builds TtboostCore.xcframework (static) from mobile/core and its C
# dependencies for iOS devices (arm64) and the simulator (arm64 + x86_64).
# Needs macOS with Xcode command-line tools and CMake >= 3.22; the first run
# fetches the dependency sources (see mobile/app/native/ttboost_core.cmake).
# Run it before `pod install` and again whenever mobile/core changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/build"
min_ios=13.0
rm -rf "$out/TtboostCore.xcframework"

slice() { # name sysroot archs
  local name=$1 sysroot=$2 archs=$3
  cmake -S "$here" -B "$out/$name" -G Xcode \
    -DCMAKE_SYSTEM_NAME=iOS \
    -DCMAKE_OSX_SYSROOT="$sysroot" \
    -DCMAKE_OSX_ARCHITECTURES="$archs" \
    -DCMAKE_OSX_DEPLOYMENT_TARGET=$min_ios \
    -DCMAKE_XCODE_ATTRIBUTE_ONLY_ACTIVE_ARCH=NO
  cmake --build "$out/$name" --config Release --target ttboost_core opusfile ogg opus websockets mbedtls mbedx509 mbedcrypto
  # One archive holding the client and every dependency, so the pod's single
  # -force_load brings in the whole API.
  local libs
  libs=$(find "$out/$name" -path '*Release-*' -name '*.a' | sort)
  libtool -static -o "$out/$name/libttboost_core.a" $libs
}

slice device iphoneos arm64
slice simulator iphonesimulator "arm64;x86_64"

xcodebuild -create-xcframework \
  -library "$out/device/libttboost_core.a" -headers "$here/../../../core/include" \
  -library "$out/simulator/libttboost_core.a" -headers "$here/../../../core/include" \
  -output "$out/TtboostCore.xcframework"
echo "built $out/TtboostCore.xcframework"
