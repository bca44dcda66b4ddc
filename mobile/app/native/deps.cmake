# TTB_DEPS=pinned (the phone builds: Android's externalNativeBuild, iOS's
# build_xcframework.sh): every dependency of libttboost_client from a release
# archive at a fixed version, checked against its SHA-256 before use, built
# here as a static library for the target, linked into the one library.
# Nothing prebuilt is used. mobile/app/README.md lists what is fetched.
#
# Offline, or from reviewed copies: download the same archives once and pass
# -DFETCHCONTENT_SOURCE_DIR_<NAME>=<unpacked dir> (OPUS, OGG, OPUSFILE, NANOPB,
# JSMN) and -DTTB_<NAME>_URL=<local archive> (OPENSSL, LIBSODIUM, LIBWEBSOCKETS;
# the checksum is still verified).
#
# Not exercised on Debian CI (it has neither the NDK nor Xcode, and no
# network); CI builds the same CMakeLists.txt with TTB_DEPS=system.
if(NOT ANDROID AND NOT CMAKE_SYSTEM_NAME STREQUAL "iOS")
  message(FATAL_ERROR "TTB_DEPS=pinned is for the phone toolchains (Android NDK, iOS); "
    "on a desktop use TTB_DEPS=system")
endif()
include(FetchContent)
include(ExternalProject)
set(FETCHCONTENT_QUIET OFF)
set(BUILD_SHARED_LIBS OFF)
set(TTB_DEPS_PREFIX "${CMAKE_BINARY_DIR}/deps")

# ------------------------------------------------------------------ versions
# Keep in step with the table in mobile/app/README.md.
set(TTB_OPUS_URL "https://downloads.xiph.org/releases/opus/opus-1.5.2.tar.gz")
set(TTB_OPUS_SHA256 65c1d2f78b9f2fb20082c38cbe47c951ad5839345876e46941612ee87f9a7ce1)
set(TTB_OGG_URL "https://downloads.xiph.org/releases/ogg/libogg-1.3.5.tar.xz")
set(TTB_OGG_SHA256 c4d91be36fc8e54deae7575241e03f4211eb102afb3fc0775fbbc1b740016705)
set(TTB_OPUSFILE_URL "https://downloads.xiph.org/releases/opus/opusfile-0.12.tar.gz")
set(TTB_OPUSFILE_SHA256 118d8601c12dd6a44f52423e68ca9083cc9f2bfe72da7a8c1acb22a80ae3550b)
set(TTB_OPENSSL_URL "https://github.com/openssl/openssl/releases/download/openssl-3.0.15/openssl-3.0.15.tar.gz"
  CACHE STRING "OpenSSL archive (URL or local file)")
set(TTB_OPENSSL_SHA256 23c666d0edf20f14249b3d8f0368acaee9ab585b09e1de82107c66e1f3ec9533)
set(TTB_LIBSODIUM_URL "https://github.com/jedisct1/libsodium/releases/download/1.0.18-RELEASE/libsodium-1.0.18.tar.gz"
  CACHE STRING "libsodium archive (URL or local file)")
set(TTB_LIBSODIUM_SHA256 6f504490b342a4f8a4c4a02fc9b866cbef8622d5df4e5452b46be121e46636c1)
set(TTB_LIBWEBSOCKETS_URL "https://github.com/warmcat/libwebsockets/archive/v4.3.3.tar.gz"
  CACHE STRING "libwebsockets archive (URL or local file)")
set(TTB_LIBWEBSOCKETS_SHA256 6fd33527b410a37ebc91bb64ca51bdabab12b076bc99d153d7c5dd405e4bdf90)
set(TTB_NANOPB_URL "https://github.com/nanopb/nanopb/archive/refs/tags/0.4.7.tar.gz")
set(TTB_NANOPB_SHA256 e1d89b166367a3c42d42311bdc2ed57ff78f86aede9a66828516e45490d48c81)
set(TTB_JSMN_URL "https://github.com/zserge/jsmn/archive/refs/tags/v1.1.0.tar.gz")
set(TTB_JSMN_SHA256 5f0913a10657fe7ec8d5794ccf00a01000e3e1f2f1e1f143c34a0f7b47edcb38)

# ------------------------------------------------ Opus, Ogg (their own CMake)
FetchContent_Declare(opus URL "${TTB_OPUS_URL}" URL_HASH SHA256=${TTB_OPUS_SHA256})
FetchContent_Declare(ogg URL "${TTB_OGG_URL}" URL_HASH SHA256=${TTB_OGG_SHA256})
set(OPUS_BUILD_PROGRAMS OFF CACHE BOOL "" FORCE)
set(OPUS_BUILD_TESTING OFF CACHE BOOL "" FORCE)
set(OPUS_INSTALL_PKG_CONFIG_MODULE OFF CACHE BOOL "" FORCE)
set(OPUS_INSTALL_CMAKE_CONFIG_MODULE OFF CACHE BOOL "" FORCE)
set(INSTALL_DOCS OFF CACHE BOOL "" FORCE)
FetchContent_MakeAvailable(opus ogg)
add_library(ttb::opus ALIAS opus)
add_library(ttb::ogg ALIAS ogg)

# ------------------------------------ opusfile, nanopb, jsmn (sources only)
FetchContent_Declare(opusfile URL "${TTB_OPUSFILE_URL}" URL_HASH SHA256=${TTB_OPUSFILE_SHA256})
FetchContent_Declare(nanopb URL "${TTB_NANOPB_URL}" URL_HASH SHA256=${TTB_NANOPB_SHA256})
FetchContent_Declare(jsmn URL "${TTB_JSMN_URL}" URL_HASH SHA256=${TTB_JSMN_SHA256})
FetchContent_Populate(opusfile)
FetchContent_Populate(nanopb)
FetchContent_Populate(jsmn)
# opusfile without its HTTP part (the core downloads with libwebsockets)
add_library(ttb_opusfile STATIC
  "${opusfile_SOURCE_DIR}/src/info.c"
  "${opusfile_SOURCE_DIR}/src/internal.c"
  "${opusfile_SOURCE_DIR}/src/opusfile.c"
  "${opusfile_SOURCE_DIR}/src/stream.c")
target_include_directories(ttb_opusfile PUBLIC "${opusfile_SOURCE_DIR}/include")
target_link_libraries(ttb_opusfile PUBLIC opus ogg)
add_library(ttb::opusfile ALIAS ttb_opusfile)
# opusfile.h includes <opus_multistream.h>: Opus's include dir itself
target_include_directories(ttb_opusfile PUBLIC "${opus_SOURCE_DIR}/include")
add_library(ttb_nanopb STATIC
  "${nanopb_SOURCE_DIR}/pb_common.c"
  "${nanopb_SOURCE_DIR}/pb_decode.c"
  "${nanopb_SOURCE_DIR}/pb_encode.c")
target_include_directories(ttb_nanopb PUBLIC "${nanopb_SOURCE_DIR}")
add_library(ttb::nanopb ALIAS ttb_nanopb)
add_library(ttb_jsmn INTERFACE)
target_include_directories(ttb_jsmn INTERFACE "${jsmn_SOURCE_DIR}")
add_library(ttb::jsmn ALIAS ttb_jsmn)

# -------------------------------------- the compiler as autotools/Configure see it
# (OpenSSL's Configure and libsodium's configure are not CMake projects.)
set(_ttb_cc "${CMAKE_C_COMPILER}")
set(_ttb_cflags "${CMAKE_C_FLAGS} -O2 -fPIC")
if(ANDROID)
  # The NDK's clang with the target and API level of this ABI.
  string(APPEND _ttb_cflags " --target=${CMAKE_C_COMPILER_TARGET} --sysroot=${CMAKE_SYSROOT}")
  set(_ttb_android_openssl_arm64-v8a android-arm64)
  set(_ttb_android_openssl_armeabi-v7a android-arm)
  set(_ttb_android_openssl_x86_64 android-x86_64)
  set(_ttb_android_openssl_x86 android-x86)
  set(_ttb_openssl_target "${_ttb_android_openssl_${ANDROID_ABI}}")
  set(_ttb_host_triple "${CMAKE_C_COMPILER_TARGET}")
  set(_ttb_openssl_env "ANDROID_NDK_ROOT=${CMAKE_ANDROID_NDK}"
    "PATH=${ANDROID_TOOLCHAIN_ROOT}/bin:$ENV{PATH}")
  set(_ttb_openssl_extra "-D__ANDROID_API__=${ANDROID_NATIVE_API_LEVEL}")
elseif(CMAKE_SYSTEM_NAME STREQUAL "iOS")
  # One architecture per build (build_xcframework.sh builds each slice apart).
  list(LENGTH CMAKE_OSX_ARCHITECTURES _n)
  if(NOT _n EQUAL 1)
    message(FATAL_ERROR "TTB_DEPS=pinned on iOS builds one architecture at a time (CMAKE_OSX_ARCHITECTURES)")
  endif()
  if(CMAKE_OSX_SYSROOT MATCHES "simulator")
    set(_ttb_openssl_target iossimulator-xcrun)
    set(_ttb_min "-mios-simulator-version-min=${CMAKE_OSX_DEPLOYMENT_TARGET}")
  else()
    set(_ttb_openssl_target ios64-xcrun)
    set(_ttb_min "-miphoneos-version-min=${CMAKE_OSX_DEPLOYMENT_TARGET}")
  endif()
  string(APPEND _ttb_cflags " -arch ${CMAKE_OSX_ARCHITECTURES} -isysroot ${CMAKE_OSX_SYSROOT} ${_ttb_min}")
  set(_ttb_host_triple "${CMAKE_OSX_ARCHITECTURES}-apple-darwin")
  string(REPLACE "arm64-" "aarch64-" _ttb_host_triple "${_ttb_host_triple}")
  set(_ttb_openssl_env "CFLAGS=-arch ${CMAKE_OSX_ARCHITECTURES}")
  set(_ttb_openssl_extra "")
endif()

# ----------------------------------------------------------------- OpenSSL
set(_ssl "${TTB_DEPS_PREFIX}/openssl")
ExternalProject_Add(ttb_openssl_build
  URL "${TTB_OPENSSL_URL}" URL_HASH SHA256=${TTB_OPENSSL_SHA256}
  PREFIX "${_ssl}"
  BUILD_IN_SOURCE TRUE
  CONFIGURE_COMMAND ${CMAKE_COMMAND} -E env ${_ttb_openssl_env}
    perl ./Configure ${_ttb_openssl_target} ${_ttb_openssl_extra}
    no-shared no-tests no-apps no-docs no-engine no-dso no-comp no-ssl3 no-weak-ssl-ciphers
    --prefix=${_ssl}/install --libdir=lib
  BUILD_COMMAND ${CMAKE_COMMAND} -E env ${_ttb_openssl_env} make -j4 build_libs
  INSTALL_COMMAND ${CMAKE_COMMAND} -E env ${_ttb_openssl_env} make install_dev
  BUILD_BYPRODUCTS "${_ssl}/install/lib/libssl.a" "${_ssl}/install/lib/libcrypto.a")
file(MAKE_DIRECTORY "${_ssl}/install/include")
add_library(ttb_crypto STATIC IMPORTED GLOBAL)
set_target_properties(ttb_crypto PROPERTIES IMPORTED_LOCATION "${_ssl}/install/lib/libcrypto.a"
  INTERFACE_INCLUDE_DIRECTORIES "${_ssl}/install/include")
add_dependencies(ttb_crypto ttb_openssl_build)
add_library(ttb_ssl STATIC IMPORTED GLOBAL)
set_target_properties(ttb_ssl PROPERTIES IMPORTED_LOCATION "${_ssl}/install/lib/libssl.a"
  INTERFACE_INCLUDE_DIRECTORIES "${_ssl}/install/include"
  INTERFACE_LINK_LIBRARIES ttb_crypto)
add_dependencies(ttb_ssl ttb_openssl_build)
add_library(ttb::ssl ALIAS ttb_ssl)
add_library(ttb::crypto ALIAS ttb_crypto)

# --------------------------------------------------------------- libsodium
# Only base64 is used (codegen/runtime/json.c); --enable-minimal keeps it small.
set(_na "${TTB_DEPS_PREFIX}/libsodium")
ExternalProject_Add(ttb_sodium_build
  URL "${TTB_LIBSODIUM_URL}" URL_HASH SHA256=${TTB_LIBSODIUM_SHA256}
  PREFIX "${_na}"
  BUILD_IN_SOURCE TRUE
  CONFIGURE_COMMAND ${CMAKE_COMMAND} -E env "CC=${_ttb_cc}" "CFLAGS=${_ttb_cflags}"
    ./configure --host=${_ttb_host_triple} --prefix=${_na}/install
    --disable-shared --enable-static --enable-minimal --with-pic --disable-pie
  BUILD_COMMAND make -j4
  INSTALL_COMMAND make install
  BUILD_BYPRODUCTS "${_na}/install/lib/libsodium.a")
file(MAKE_DIRECTORY "${_na}/install/include")
add_library(ttb_sodium STATIC IMPORTED GLOBAL)
set_target_properties(ttb_sodium PROPERTIES IMPORTED_LOCATION "${_na}/install/lib/libsodium.a"
  INTERFACE_INCLUDE_DIRECTORIES "${_na}/install/include")
add_dependencies(ttb_sodium ttb_sodium_build)
add_library(ttb::sodium ALIAS ttb_sodium)

# ------------------------------------------------------------ libwebsockets
# Client only, OpenSSL backend (the one above): the same TLS library as the
# network layer's own SSL_CTX (mobile/core/src/net/transport_lws.c).
set(_lws "${TTB_DEPS_PREFIX}/libwebsockets")
set(_lws_args
  -DCMAKE_BUILD_TYPE=Release
  -DCMAKE_INSTALL_PREFIX=${_lws}/install
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON
  -DLWS_WITH_SSL=ON -DLWS_WITH_MBEDTLS=OFF
  -DLWS_OPENSSL_INCLUDE_DIRS=${_ssl}/install/include
  "-DLWS_OPENSSL_LIBRARIES=${_ssl}/install/lib/libssl.a;${_ssl}/install/lib/libcrypto.a"
  -DLWS_WITH_SHARED=OFF -DLWS_WITH_STATIC=ON
  -DLWS_WITHOUT_SERVER=ON -DLWS_WITHOUT_TESTAPPS=ON -DLWS_WITHOUT_TEST_SERVER=ON
  -DLWS_WITHOUT_TEST_CLIENT=ON -DLWS_WITH_MINIMAL_EXAMPLES=OFF -DLWS_WITHOUT_EXTENSIONS=ON
  -DLWS_WITH_ZLIB=OFF -DLWS_IPV6=ON -DDISABLE_WERROR=ON)
if(ANDROID)
  list(APPEND _lws_args -DCMAKE_TOOLCHAIN_FILE=${CMAKE_TOOLCHAIN_FILE} -DANDROID_ABI=${ANDROID_ABI}
    -DANDROID_PLATFORM=${ANDROID_PLATFORM} -DANDROID_STL=none)
else()
  list(APPEND _lws_args -DCMAKE_SYSTEM_NAME=iOS -DCMAKE_OSX_SYSROOT=${CMAKE_OSX_SYSROOT}
    -DCMAKE_OSX_ARCHITECTURES=${CMAKE_OSX_ARCHITECTURES}
    -DCMAKE_OSX_DEPLOYMENT_TARGET=${CMAKE_OSX_DEPLOYMENT_TARGET})
endif()
ExternalProject_Add(ttb_lws_build
  URL "${TTB_LIBWEBSOCKETS_URL}" URL_HASH SHA256=${TTB_LIBWEBSOCKETS_SHA256}
  PREFIX "${_lws}"
  DEPENDS ttb_openssl_build
  CMAKE_ARGS ${_lws_args}
  BUILD_BYPRODUCTS "${_lws}/install/lib/libwebsockets.a")
file(MAKE_DIRECTORY "${_lws}/install/include")
add_library(ttb_websockets STATIC IMPORTED GLOBAL)
set_target_properties(ttb_websockets PROPERTIES IMPORTED_LOCATION "${_lws}/install/lib/libwebsockets.a"
  INTERFACE_INCLUDE_DIRECTORIES "${_lws}/install/include"
  INTERFACE_LINK_LIBRARIES ttb_ssl)
add_dependencies(ttb_websockets ttb_lws_build)
add_library(ttb::websockets ALIAS ttb_websockets)
