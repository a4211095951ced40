# Build Theater actors (wasm32-wasi modules) from C and C++ with clang, lld and wasi-libc.
#
#   include(path/to/sdk/cmake/TheaterActor.cmake)
#   theater_add_actor(<name> SOURCES <files...>
#                     [OUTPUT_DIR <dir>]          # default: ${CMAKE_CURRENT_BINARY_DIR}
#                     [STACK_SIZE <bytes>]        # default: 65536
#                     [COMPILE_OPTIONS <opts...>] [INCLUDE_DIRECTORIES <dirs...>] [DEFINITIONS <defs...>]
#                     [LINK_OPTIONS <opts...>] [DEPENDS <files...>] [NO_IMPORT_CHECK])
#
# Produces <OUTPUT_DIR>/<name>.wasm and a target <name>_wasm (built by ALL). The module is a
# reactor (exports _initialize, no main), linked stack-first so that a shadow-stack overflow traps
# instead of overwriting data. Each source is compiled on its own (-O2 -Wall -Wextra, header
# dependencies tracked); .cpp/.cc/.cxx files as C++17 without exceptions, RTTI or thread-safe
# statics, because wasi-libc has no C++ library (theater.h supplies operator new/delete).
#
# After linking, when wasm-objdump (wabt) is found, the imports are checked against what the
# runtime accepts (module "theater" plus a WASI subset) and the required exports (memory,
# theater_alloc) are checked; a module the runtime would refuse fails the build and is deleted.
#
# Script mode (used by that check): cmake -DTHEATER_CHECK_WASM=<file> -DTHEATER_OBJDUMP=<exe> -P TheaterActor.cmake

if(CMAKE_SCRIPT_MODE_FILE AND THEATER_CHECK_WASM)
  set(allowed_theater
      state_set state_get self_id log exit fail
      send request reply channel_open channel_send channel_close
      spawn spawn_on stop_child restart_child list_children child_state child_events monitor demonitor
      now_ms timer_set random_fill store_put store_get)
  set(allowed_wasi
      fd_write clock_time_get random_get proc_exit args_sizes_get args_get environ_sizes_get environ_get
      fd_close fd_seek fd_fdstat_get)
  execute_process(COMMAND ${THEATER_OBJDUMP} -x ${THEATER_CHECK_WASM}
                  OUTPUT_VARIABLE dump ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    file(REMOVE ${THEATER_CHECK_WASM})
    message(FATAL_ERROR "${THEATER_CHECK_WASM}: wasm-objdump failed: ${err}")
  endif()
  set(problems "")
  string(REGEX MATCHALL "<- [^ \n]+" imports "${dump}")
  foreach(imp ${imports})
    string(REGEX REPLACE "^<- " "" imp "${imp}")
    string(FIND "${imp}" "." dot)
    string(SUBSTRING "${imp}" 0 ${dot} module)
    math(EXPR after "${dot} + 1")
    string(SUBSTRING "${imp}" ${after} -1 fn)
    if(module STREQUAL "theater")
      list(FIND allowed_theater "${fn}" found)
    elseif(module STREQUAL "wasi_snapshot_preview1")
      list(FIND allowed_wasi "${fn}" found)
    else()
      set(found -1)
    endif()
    if(found EQUAL -1)
      string(APPEND problems "\n  import ${imp} is not one the runtime offers")
    endif()
  endforeach()
  foreach(exp memory theater_alloc)
    if(NOT dump MATCHES "-> \"${exp}\"")
      string(APPEND problems "\n  missing export ${exp}")
    endif()
  endforeach()
  if(problems)
    file(REMOVE ${THEATER_CHECK_WASM})
    message(FATAL_ERROR "${THEATER_CHECK_WASM} would be refused by the runtime:${problems}\n"
            "(avoid libc calls that need other WASI functions, e.g. fopen, opendir, time zones)")
  endif()
  return()
endif()

find_program(THEATER_WASM_CLANG NAMES clang clang-14)
find_program(THEATER_WASM_OBJDUMP NAMES wasm-objdump)
set(THEATER_SDK_INCLUDE ${CMAKE_CURRENT_LIST_DIR}/../c)
set(THEATER_ACTOR_CMAKE ${CMAKE_CURRENT_LIST_FILE})

function(theater_add_actor name)
  cmake_parse_arguments(A "NO_IMPORT_CHECK" "OUTPUT_DIR;STACK_SIZE"
                        "SOURCES;COMPILE_OPTIONS;INCLUDE_DIRECTORIES;DEFINITIONS;LINK_OPTIONS;DEPENDS" ${ARGN})
  if(NOT A_SOURCES)
    message(FATAL_ERROR "theater_add_actor(${name}): no SOURCES")
  endif()
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
  set(objdir ${CMAKE_CURRENT_BINARY_DIR}/CMakeFiles/${name}.wasm.dir)
  file(MAKE_DIRECTORY ${objdir})
  set(common --target=wasm32-wasi -O2 -Wall -Wextra -I${THEATER_SDK_INCLUDE})
  foreach(d ${A_INCLUDE_DIRECTORIES})
    get_filename_component(d ${d} ABSOLUTE)
    list(APPEND common -I${d})
  endforeach()
  foreach(d ${A_DEFINITIONS})
    list(APPEND common -D${d})
  endforeach()

  set(objs)
  set(i 0)
  foreach(s ${A_SOURCES})
    get_filename_component(abs ${s} ABSOLUTE)
    get_filename_component(base ${s} NAME)
    set(obj ${objdir}/${i}_${base}.o)
    if(abs MATCHES "\\.(cpp|cc|cxx|C)$")
      set(lang -std=c++17 -fno-exceptions -fno-rtti -fno-threadsafe-statics)
    else()
      set(lang -std=gnu17)
    endif()
    add_custom_command(
      OUTPUT ${obj}
      COMMAND ${THEATER_WASM_CLANG} ${common} ${lang} ${A_COMPILE_OPTIONS} -MD -MF ${obj}.d -c ${abs} -o ${obj}
      DEPENDS ${abs} ${A_DEPENDS}
      DEPFILE ${obj}.d
      COMMENT "actor ${name}: ${base}"
      VERBATIM)
    list(APPEND objs ${obj})
    math(EXPR i "${i} + 1")
  endforeach()

  set(check)
  if(THEATER_WASM_OBJDUMP AND NOT A_NO_IMPORT_CHECK)
    set(check COMMAND ${CMAKE_COMMAND} -DTHEATER_CHECK_WASM=${out} -DTHEATER_OBJDUMP=${THEATER_WASM_OBJDUMP}
              -P ${THEATER_ACTOR_CMAKE})
  endif()
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${A_OUTPUT_DIR}
    COMMAND ${THEATER_WASM_CLANG} --target=wasm32-wasi -O2 -mexec-model=reactor
            -Wl,--stack-first -Wl,-z,stack-size=${A_STACK_SIZE} -Wl,--strip-debug ${A_LINK_OPTIONS}
            -o ${out} ${objs}
    ${check}
    DEPENDS ${objs} ${THEATER_ACTOR_CMAKE}
    COMMENT "actor ${name}.wasm"
    VERBATIM)
  add_custom_target(${name}_wasm ALL DEPENDS ${out})
endfunction()
