# CMake toolchain: the app's native library for arm64 Linux with Debian 12's
# cross compiler (gcc-aarch64-linux-gnu) against the :arm64 (multiarch)
# -dev packages. The CI stand-in for a phone's arm64 build: same CPU, same
# code, run under qemu-user (scripts/native-app.sh).
#
#   cmake -S mobile/app/native -B build-native-arm64 \
#     -DCMAKE_TOOLCHAIN_FILE=mobile/app/native/toolchain-aarch64-linux-gnu.cmake \
#     [-DTTB_ARM64_EXTRA=<dir>]   # .pc files and libraries unpacked beside the system's
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static)
# try_compile projects read this file again: hand them the option too.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES TTB_ARM64_EXTRA)

# Libraries, headers and CMake packages: the multiarch arm64 ones in /usr
# (never /usr/lib/x86_64-linux-gnu), programs from the build machine.
set(CMAKE_FIND_ROOT_PATH /usr ${TTB_ARM64_EXTRA})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config: only arm64 (and architecture-independent) .pc files, plus the
# folder of packages unpacked rather than installed (TTB_ARM64_EXTRA/pkgconfig).
set(_ttb_pc "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
if(TTB_ARM64_EXTRA)
  set(_ttb_pc "${TTB_ARM64_EXTRA}/pkgconfig:${_ttb_pc}")
  # the unpacked libraries' own dependencies, found at link time
  set(CMAKE_SHARED_LINKER_FLAGS_INIT "-Wl,-rpath-link,${TTB_ARM64_EXTRA}/usr/lib/aarch64-linux-gnu:${TTB_ARM64_EXTRA}/lib/aarch64-linux-gnu")
  set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${TTB_ARM64_EXTRA}/usr/lib/aarch64-linux-gnu:${TTB_ARM64_EXTRA}/lib/aarch64-linux-gnu")
endif()
set(ENV{PKG_CONFIG_LIBDIR} "${_ttb_pc}")
set(ENV{PKG_CONFIG_PATH} "")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")
