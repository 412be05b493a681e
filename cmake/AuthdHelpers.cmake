# Helpers that give every target of ours the same warnings, hardening and sanitizer flags.

set(AUTHD_WARNINGS -Wall -Wextra -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
    -Woverloaded-virtual -Werror)
set(AUTHD_HARDENING -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIC)
set(AUTHD_LINK_HARDENING -Wl,-z,relro,-z,now)

if(AUTHD_SANITIZE)
  set(AUTHD_SAN_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  # _FORTIFY_SOURCE and ASan do not mix well.
  set(AUTHD_HARDENING -fstack-protector-strong -fPIC)
endif()

if(AUTHD_FUZZ)
  # Every library is instrumented for coverage and checked by ASan/UBSan while fuzzing.
  set(AUTHD_SAN_FLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  set(AUTHD_HARDENING -fPIC)
endif()

function(authd_apply_flags target)
  target_compile_options(${target} PRIVATE ${AUTHD_WARNINGS} ${AUTHD_HARDENING} ${AUTHD_SAN_FLAGS})
  target_link_options(${target} PRIVATE ${AUTHD_LINK_HARDENING} ${AUTHD_SAN_FLAGS})
endfunction()

# authd_library(NAME SOURCES ... DEPS ...)
function(authd_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  authd_apply_flags(${name})
  if(AUTHD_SANITIZE)
    target_link_options(${name} INTERFACE ${AUTHD_SAN_FLAGS})
  endif()
endfunction()

# authd_test(NAME SOURCES ... DEPS ... LABEL label)
function(authd_test name)
  cmake_parse_arguments(ARG "" "LABEL" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  authd_apply_flags(${name})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  # One label per executable, "kind:layer" (ctest -L takes a regex: -L unit, -L webauthn).
  gtest_discover_tests(${name} PROPERTIES LABELS "${ARG_LABEL}" DISCOVERY_TIMEOUT 30)
endfunction()

# DESIGN.md: the pure layers must not reach for the network or the database. Fails the
# configure step when a file under one of `dirs` includes a Poco::Net or sqlite3 header.
function(authd_check_layering)
  foreach(dir ${ARGN})
    file(GLOB_RECURSE files CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/${dir}/*.h ${CMAKE_SOURCE_DIR}/${dir}/*.cpp)
    foreach(f ${files})
      file(STRINGS ${f} bad REGEX "#include [<\"](Poco/Net/|sqlite3\\.h|libpq)")
      if(bad)
        message(FATAL_ERROR "${f} includes ${bad}: ${dir} must stay free of network and SQL code (DESIGN.md)")
      endif()
    endforeach()
  endforeach()
endfunction()
