# Compiler flags every gpumem target shares: strict warnings, optional -Werror and sanitizers.
add_library(gpumem_options INTERFACE)
target_compile_options(gpumem_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion -Wnon-virtual-dtor
  -Wno-missing-field-initializers -Wold-style-cast -Woverloaded-virtual -Wimplicit-fallthrough)
if(GPUMEM_WERROR)
  target_compile_options(gpumem_options INTERFACE -Werror)
endif()
if(GPUMEM_SANITIZE)
  target_compile_options(gpumem_options INTERFACE
    -fsanitize=${GPUMEM_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(gpumem_options INTERFACE -fsanitize=${GPUMEM_SANITIZE})
endif()
if(GPUMEM_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "GPUMEM_BUILD_FUZZERS needs clang (CXX=clang++), not ${CMAKE_CXX_COMPILER_ID}")
  endif()
  # Coverage and AddressSanitizer everywhere; only the fuzzer executables link libFuzzer's main.
  target_compile_options(gpumem_options INTERFACE -fsanitize=fuzzer-no-link,address
                         -fno-omit-frame-pointer -g)
  target_link_options(gpumem_options INTERFACE -fsanitize=address)
endif()
install(TARGETS gpumem_options EXPORT gpumemTargets)
