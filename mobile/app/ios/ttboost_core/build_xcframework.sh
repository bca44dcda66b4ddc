#!/usr/bin/env bash
# Builds TtboostCore.xcframework (static) from the app's one CMake project
# (mobile/app/native/CMakeLists.txt, TTB_LIBRARY_TYPE=STATIC, the AudioQueue
# sink, dependencies pinned: mobile/app/native/deps.cmake) for iOS devices
# (arm64) and the simulator (arm64 + x86_64, built apart and joined by lipo).
# Needs macOS with Xcode command-line tools, CMake >= 3.22 and perl; the first
# run downloads the pinned dependency archives (see mobile/app/README.md).
# Run it before `pod install` and again whenever mobile/core changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
native=$(cd "$here/../../native" && pwd)
out="$here/build"
min_ios=13.0
rm -rf "$out/TtboostCore.xcframework"

slice() { # name sdk arch
  local name=$1 sdk=$2 arch=$3
  cmake -S "$native" -B "$out/$name" \
    -DCMAKE_SYSTEM_NAME=iOS \
    -DCMAKE_OSX_SYSROOT="$(xcrun --sdk "$sdk" --show-sdk-path)" \
    -DCMAKE_OSX_ARCHITECTURES="$arch" \
    -DCMAKE_OSX_DEPLOYMENT_TARGET=$min_ios \
    -DCMAKE_BUILD_TYPE=Release \
    -DTTB_LIBRARY_TYPE=STATIC -DTTB_SINK=ios -DTTB_DEPS=pinned
  cmake --build "$out/$name" --target ttboost_client ttb_opusfile ttb_nanopb opus ogg
  # One archive holding the client and every dependency, so the pod's single
  # -force_load brings in the whole API.
  local libs
  libs=$(find "$out/$name" -name '*.a' ! -name 'libttboost_core.a' | sort)
  libtool -static -o "$out/$name/libttboost_core.a" $libs
}

slice device iphoneos arm64
slice simulator-arm64 iphonesimulator arm64
slice simulator-x86_64 iphonesimulator x86_64
mkdir -p "$out/simulator"
lipo -create -output "$out/simulator/libttboost_core.a" \
  "$out/simulator-arm64/libttboost_core.a" "$out/simulator-x86_64/libttboost_core.a"

xcodebuild -create-xcframework \
  -library "$out/device/libttboost_core.a" -headers "$here/../../../core/include" \
  -library "$out/simulator/libttboost_core.a" -headers "$here/../../../core/include" \
  -output "$out/TtboostCore.xcframework"
echo "built $out/TtboostCore.xcframework"
