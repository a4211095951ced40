# theater_add_actor(<name> SOURCES <files...> [OUTPUT_DIR <dir>] [STACK_SIZE <bytes>])
# Compiles C/C++ sources into <name>.wasm, an actor module for wasm32-wasi (clang + lld +
# wasi-libc). The result is a reactor (no main), linked stack-first so that a shadow-stack
# overflow traps instead of overwriting the actor's data. Adds a target <name>_wasm.
find_program(THEATER_WASM_CLANG NAMES clang clang-14)
set(THEATER_SDK_INCLUDE ${CMAKE_CURRENT_LIST_DIR}/../c)

function(theater_add_actor name)
  cmake_parse_arguments(A "" "OUTPUT_DIR;STACK_SIZE" "SOURCES" ${ARGN})
  if(NOT A_OUTPUT_DIR)
    set(A_OUTPUT_DIR ${CMAKE_CURRENT_BINARY_DIR})
  endif()
  if(NOT A_STACK_SIZE)
    set(A_STACK_SIZE 65536)
  endif()
  if(NOT THEATER_WASM_CLANG)
    message(FATAL_ERROR "theater_add_actor: clang not found (apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32)")
  endif()
  set(out ${A_OUTPUT_DIR}/${name}.wasm)
  set(srcs)
  foreach(s ${A_SOURCES})
    get_filename_component(abs ${s} ABSOLUTE)
    list(APPEND srcs ${abs})
  endforeach()
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${THEATER_WASM_CLANG} --target=wasm32-wasi -O2 -mexec-model=reactor
            -I${THEATER_SDK_INCLUDE}
            -Wl,--stack-first -Wl,-z,stack-size=${A_STACK_SIZE} -Wl,--strip-debug
            -o ${out} ${srcs}
    DEPENDS ${srcs} ${THEATER_SDK_INCLUDE}/theater.h
    COMMENT "actor ${name}.wasm"
    VERBATIM)
  add_custom_target(${name}_wasm ALL DEPENDS ${out})
endfunction()
