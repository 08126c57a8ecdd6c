# check_exports.cmake — every symbol libmlinfer.so defines in its dynamic table starts
# with mli_ but not mli__ (the internal prefix), every REQUIRED symbol is among them,
# and the SONAME is the expected one.
# Run by ctest (tests/abi/CMakeLists.txt) with NM, READELF, LIBRARY, REQUIRED, SONAME.
cmake_minimum_required(VERSION 3.18)

execute_process(COMMAND "${NM}" -D --defined-only "${LIBRARY}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm -D --defined-only ${LIBRARY} failed: ${err}")
endif()

string(REPLACE "\n" ";" lines "${out}")
set(exported "")
set(foreign "")
foreach(line IN LISTS lines)
  # "0000000000002450 T mli_activate"; skip blank lines and version nodes ("A VERS_1").
  if(line MATCHES "^[0-9a-fA-F]* *([A-Za-z]) +([^ @]+)")
    set(type "${CMAKE_MATCH_1}")
    set(name "${CMAKE_MATCH_2}")
    if(type STREQUAL "A")
      continue()
    endif()
    list(APPEND exported "${name}")
    # mli__ is the internal prefix (STYLE.md): such a symbol leaking out is an ABI bug.
    if(NOT name MATCHES "^mli_" OR name MATCHES "^mli__")
      list(APPEND foreign "${line}")
    endif()
  endif()
endforeach()

list(LENGTH exported n_exported)
message("libmlinfer exports ${n_exported} symbols: ${exported}")
set(failed FALSE)
if(foreign)
  string(REPLACE ";" "\n  " foreign "${foreign}")
  message("exported symbols outside the public mli_ namespace (internal mli__ or foreign):\n  ${foreign}")
  set(failed TRUE)
endif()
string(REPLACE "," ";" required "${REQUIRED}")
foreach(sym IN LISTS required)
  if(NOT sym IN_LIST exported)
    message("required symbol ${sym} is not exported")
    set(failed TRUE)
  endif()
endforeach()

if(READELF AND SONAME)
  execute_process(COMMAND "${READELF}" -d "${LIBRARY}" OUTPUT_VARIABLE dyn RESULT_VARIABLE rc)
  if(rc EQUAL 0 AND NOT dyn MATCHES "Library soname: \\[${SONAME}\\]")
    message("SONAME of ${LIBRARY} is not ${SONAME}")
    set(failed TRUE)
  endif()
endif()

if(failed)
  message(FATAL_ERROR "ABI check failed for ${LIBRARY}")
endif()
message("ABI check passed")
