# Shared by the native builds of the app (Android: android/app/src/main/cpp,
# iOS: ios/ttboost_core): fetches and builds libttboost-client's C dependencies
# and defines ttb_add_core(), which compiles mobile/core into one library.
#
# Before including, set TTB_ROOT to the repository root.
# Dependencies are built from source with FetchContent at pinned release tags.
# Offline, or to use a reviewed copy, point CMake at local checkouts with the
# standard override: -DFETCHCONTENT_SOURCE_DIR_OPUS=/src/opus (likewise OGG,
# OPUSFILE, MBEDTLS, LIBWEBSOCKETS, NANOPB, JSMN).
set(TTB_CORE "${TTB_ROOT}/mobile/core")
set(TTB_GEN "${TTB_ROOT}/generated")
if(NOT EXISTS "${TTB_CORE}/include/ttboost/client.h")
  message(FATAL_ERROR "mobile/core not found at ${TTB_CORE}")
endif()
set(BUILD_SHARED_LIBS OFF) # every dependency is linked statically
set(CMAKE_POSITION_INDEPENDENT_CODE ON)

include(FetchContent)
set(FETCHCONTENT_QUIET OFF)

# --- Opus, Ogg, opusfile: decoding Ogg Opus files and streamed Opus frames.
FetchContent_Declare(opus GIT_REPOSITORY https://github.com/xiph/opus.git GIT_TAG v1.5.2 GIT_SHALLOW TRUE)
FetchContent_Declare(ogg GIT_REPOSITORY https://github.com/xiph/ogg.git GIT_TAG v1.3.5 GIT_SHALLOW TRUE)
FetchContent_Declare(opusfile GIT_REPOSITORY https://github.com/xiph/opusfile.git GIT_TAG v0.12 GIT_SHALLOW TRUE)
# --- TLS for https:// and wss:// (libwebsockets' mbedTLS backend).
FetchContent_Declare(mbedtls GIT_REPOSITORY https://github.com/Mbed-TLS/mbedtls.git GIT_TAG v3.6.2 GIT_SHALLOW TRUE)
# --- WebSocket + HTTP client.
FetchContent_Declare(libwebsockets GIT_REPOSITORY https://github.com/warmcat/libwebsockets.git GIT_TAG v4.3.3 GIT_SHALLOW TRUE)
# --- nanopb runtime (the client's protobuf flavour) and jsmn (JSON tokenizer, header-only).
FetchContent_Declare(nanopb GIT_REPOSITORY https://github.com/nanopb/nanopb.git GIT_TAG 0.4.9 GIT_SHALLOW TRUE)
FetchContent_Declare(jsmn GIT_REPOSITORY https://github.com/zserge/jsmn.git GIT_TAG v1.1.0 GIT_SHALLOW TRUE)

# Options of the dependencies: small, no programs, no tests.
set(OPUS_BUILD_PROGRAMS OFF CACHE BOOL "" FORCE)
set(OPUS_BUILD_TESTING OFF CACHE BOOL "" FORCE)
set(OPUS_INSTALL_PKG_CONFIG_MODULE OFF CACHE BOOL "" FORCE)
set(OPUS_INSTALL_CMAKE_CONFIG_MODULE OFF CACHE BOOL "" FORCE)
set(INSTALL_DOCS OFF CACHE BOOL "" FORCE)
set(OP_DISABLE_HTTP ON CACHE BOOL "" FORCE)      # the core downloads with libwebsockets
set(OP_DISABLE_EXAMPLES ON CACHE BOOL "" FORCE)
set(OP_DISABLE_DOCS ON CACHE BOOL "" FORCE)
set(OP_DISABLE_FLOAT_API OFF CACHE BOOL "" FORCE)
set(ENABLE_PROGRAMS OFF CACHE BOOL "" FORCE)      # mbedtls
set(ENABLE_TESTING OFF CACHE BOOL "" FORCE)
set(LWS_WITH_MBEDTLS ON CACHE BOOL "" FORCE)
set(LWS_WITH_SSL ON CACHE BOOL "" FORCE)
set(LWS_WITH_SHARED OFF CACHE BOOL "" FORCE)
set(LWS_WITH_STATIC ON CACHE BOOL "" FORCE)
set(LWS_WITHOUT_TESTAPPS ON CACHE BOOL "" FORCE)
set(LWS_WITHOUT_TEST_SERVER ON CACHE BOOL "" FORCE)
set(LWS_WITHOUT_TEST_CLIENT ON CACHE BOOL "" FORCE)
set(LWS_WITH_MINIMAL_EXAMPLES OFF CACHE BOOL "" FORCE)
set(LWS_WITHOUT_SERVER ON CACHE BOOL "" FORCE)
set(LWS_WITHOUT_EXTENSIONS ON CACHE BOOL "" FORCE)
set(LWS_IPV6 ON CACHE BOOL "" FORCE)

FetchContent_MakeAvailable(opus ogg mbedtls)
# opusfile and libwebsockets find their dependencies through these variables.
set(OGG_INCLUDE_DIR "${ogg_SOURCE_DIR}/include;${ogg_BINARY_DIR}/include" CACHE PATH "" FORCE)
set(OPUS_INCLUDE_DIR "${opus_SOURCE_DIR}/include" CACHE PATH "" FORCE)
set(LWS_MBEDTLS_INCLUDE_DIRS "${mbedtls_SOURCE_DIR}/include" CACHE PATH "" FORCE)
set(LWS_MBEDTLS_LIBRARIES "mbedtls;mbedx509;mbedcrypto" CACHE STRING "" FORCE)
FetchContent_MakeAvailable(opusfile libwebsockets)
FetchContent_Populate(nanopb)
FetchContent_Populate(jsmn)

# ttb_add_core(<target> SHARED|STATIC <sink .c file>)
#   The client: mobile/core's own sources (whatever its owner adds under src/),
#   the nanopb flavour of the generated code, the JSON runtime shared with
#   codegen, the nanopb runtime and the platform's audio sink.
function(ttb_add_core target type sink_source)
  get_filename_component(sink_dir "${sink_source}" DIRECTORY)
  # mobile/core's own sources (whatever its owner adds under src/), the nanopb
  # flavour of the generated code, and the JSON runtime shared with codegen.
  file(GLOB_RECURSE TTB_CORE_SOURCES CONFIGURE_DEPENDS "${TTB_CORE}/src/*.c")
  # Desktop-only parts of the core (PulseAudio/ALSA sinks, the listener
  # program, tests) are not for phones.
  list(FILTER TTB_CORE_SOURCES EXCLUDE REGEX "/(desktop|tools|tests?)/|pulse|alsa|listen|_test\\.c$|/main\\.c$")
  file(GLOB TTB_GEN_SOURCES CONFIGURE_DEPENDS
    "${TTB_GEN}/nanopb/ttboost/v1/*.pb.c"
    "${TTB_GEN}/json/ttboost/v1/*.npb-json.c")
  set(TTB_JSON_RUNTIME "${TTB_ROOT}/codegen/runtime/json.c")
  if(NOT TTB_CORE_SOURCES)
    message(FATAL_ERROR "no C sources under ${TTB_CORE}/src: build mobile/core first")
  endif()
  
  add_library(${target} ${type}
    ${TTB_CORE_SOURCES}
    ${TTB_GEN_SOURCES}
    ${TTB_JSON_RUNTIME}
    "${nanopb_SOURCE_DIR}/pb_common.c"
    "${nanopb_SOURCE_DIR}/pb_decode.c"
    "${nanopb_SOURCE_DIR}/pb_encode.c"
    ${sink_source})
  
  target_include_directories(${target} PRIVATE
    "${TTB_CORE}/include"
    "${TTB_CORE}/src"
    "${sink_dir}"
    "${TTB_GEN}/nanopb"
    "${TTB_GEN}/json"
    "${TTB_ROOT}/codegen/runtime/include"
    "${nanopb_SOURCE_DIR}"
    "${jsmn_SOURCE_DIR}")
  
  target_compile_definitions(${target} PRIVATE
    TTB_BUILDING_LIBRARY=1
    _POSIX_C_SOURCE=200809L)
  target_compile_options(${target} PRIVATE -fvisibility=hidden -Wall -Wextra)
endfunction()
