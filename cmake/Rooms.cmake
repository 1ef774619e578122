# Rooms as build targets (architecture.md, "Rooms and doors").
#
# Each room's library sees only its door folder, build/doors/<room>/, generated at configure time:
# one symlink per room (or single header) it may include, e.g. build/doors/io/common -> <src>/common.
# The source root is on no room's include path, so `#include "model/m3ae.h"` in io/ fails with
# "No such file or directory" instead of compiling. External include paths (MPI, HDF5, BLAS) are
# given only to the rooms that may use them; tests/build/ checks both kinds of door.

set(M3AE_DOORS_DIR ${CMAKE_BINARY_DIR}/doors)

# m3ae_room_doors(<room> <door>...): (re)creates build/doors/<room>/ holding the doors, each a room
# folder ("common") or one header of a room ("model/registry.h").
function(m3ae_room_doors room)
  set(dir ${M3AE_DOORS_DIR}/${room})
  file(REMOVE_RECURSE ${dir})
  file(MAKE_DIRECTORY ${dir})
  foreach(door ${ARGN})
    if(NOT EXISTS ${CMAKE_SOURCE_DIR}/${door})
      message(FATAL_ERROR "m3ae: door '${door}' of room '${room}' does not exist in the source tree")
    endif()
    get_filename_component(parent ${door} DIRECTORY)
    if(parent)
      file(MAKE_DIRECTORY ${dir}/${parent})
    endif()
    file(CREATE_LINK ${CMAKE_SOURCE_DIR}/${door} ${dir}/${door} SYMBOLIC)
  endforeach()
endfunction()

# Each room's environment is an INTERFACE target m3ae_<room>_env: its door folder, build/generated,
# and the external dependencies its row allows (added by the top CMakeLists.txt). The room's library
# links it PRIVATE, so nothing of it reaches the rooms that link the library (a static library's
# private dependencies travel for linking only); tests/build/ compiles probes with the same env.

# m3ae_room(<room> DOORS <door>... [LINK <room library>...] [SUBDIRS <dir>...] [EXCLUDE <file>...])
# The static library m3ae_<room> from <room>/*.c (and SUBDIRS' *.c, *.cu), compiled with the room's
# environment m3ae_<room>_env only. LINK adds other rooms' libraries for linking: their include paths do not come
# with them (all include paths are PRIVATE), so linking is not a door.
function(m3ae_room room)
  cmake_parse_arguments(R "" "" "DOORS;LINK;SUBDIRS;EXCLUDE" ${ARGN})
  set(globs ${room}/*.c)
  foreach(d ${R_SUBDIRS})
    list(APPEND globs ${d}/*.c ${d}/*.cu)
  endforeach()
  file(GLOB sources CONFIGURE_DEPENDS RELATIVE ${CMAKE_SOURCE_DIR} ${globs})
  foreach(x ${R_EXCLUDE})
    list(REMOVE_ITEM sources ${x})
  endforeach()
  list(TRANSFORM sources PREPEND ${CMAKE_SOURCE_DIR}/)
  m3ae_room_doors(${room} ${R_DOORS})
  add_library(m3ae_${room}_env INTERFACE)
  target_include_directories(m3ae_${room}_env INTERFACE ${M3AE_DOORS_DIR}/${room} ${CMAKE_BINARY_DIR}/generated)
  add_library(m3ae_${room} STATIC ${sources})
  target_link_libraries(m3ae_${room} PRIVATE m3ae_${room}_env)
  target_compile_options(m3ae_${room} PRIVATE "$<$<COMPILE_LANGUAGE:C>:${M3AE_WARNINGS}>")
  if(R_LINK)
    target_link_libraries(m3ae_${room} PRIVATE ${R_LINK})
  endif()
  set_property(GLOBAL APPEND PROPERTY M3AE_ROOMS ${room})
endfunction()
