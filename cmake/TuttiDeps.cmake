# Third-party dependencies, all from Debian packages (scripts/setup installs them).
find_package(Threads REQUIRED)
# 1.81.0 EXACT: "1.81 EXACT" does not match Debian's config package.
find_package(Boost 1.81.0 EXACT REQUIRED CONFIG COMPONENTS json)
find_package(OpenSSL REQUIRED)
# toml++ is used header-only (its packaged CMake target forces the shared
# library, built with exceptions; we parse with exceptions off).
find_path(TOMLPP_INCLUDE_DIR toml++/toml.h REQUIRED)
if(NOT TUTTI_FUZZ AND TUTTI_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
# FFmpeg 5.1 for the media pipeline (pkg-config; headers are C).
if(NOT TUTTI_FUZZ)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(FFMPEG REQUIRED IMPORTED_TARGET libavformat libavcodec libswscale libavutil libswresample)
endif()
