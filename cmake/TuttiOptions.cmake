# Warnings, sanitizers and project-wide definitions.
add_library(tutti_options INTERFACE)
target_compile_options(tutti_options INTERFACE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
target_compile_definitions(tutti_options INTERFACE
  BOOST_ASIO_NO_DEPRECATED
  BOOST_ASIO_DISABLE_BOOST_COROUTINE
  TUTTI_VERSION="${PROJECT_VERSION}")
target_include_directories(tutti_options INTERFACE ${PROJECT_SOURCE_DIR}/include)

if(TUTTI_SANITIZE)
  string(REPLACE ";" "," _san "${TUTTI_SANITIZE}")
  add_compile_options(-fsanitize=${_san} -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=${_san})
endif()

# Fuzz builds instrument every library too (coverage feedback and ASan/UBSan
# inside the parsers, not only in the entry points); the fuzz targets then
# link libFuzzer's main (test/fuzz/CMakeLists.txt).
if(TUTTI_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
endif()
