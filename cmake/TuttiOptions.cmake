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
