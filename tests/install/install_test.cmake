# install_test.cmake — driven by tests/install/CMakeLists.txt, one MODE per ctest test:
#   install       cmake --install BUILD_DIR into PREFIX (fresh each time)
#   cmake_shared  configure + build examples/embed with find_package(mlinfer), run it
#   cmake_static  the same with -DEMBED_STATIC=ON (mlinfer::mlinfer_static)
#   pkg_config    build examples/embed with its Makefile through pkg-config, run it
#   pkg_config_static  the same with STATIC=1 (libmlinfer.a and pkg-config --static)
# Each binary runs with LD_LIBRARY_PATH pointing only at PREFIX/LIBDIR and must exit 0.
cmake_minimum_required(VERSION 3.18)

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("---- ${what}\n${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (exit ${rc})")
  endif()
endfunction()

set(lib_path "${PREFIX}/${LIBDIR}")

function(run_consumer binary)
  if(NOT EXISTS "${binary}")
    message(FATAL_ERROR "expected ${binary} to be built")
  endif()
  run_step("run ${binary}" ${CMAKE_COMMAND} -E env "LD_LIBRARY_PATH=${lib_path}" "${binary}")
endfunction()

if(MODE STREQUAL "install")
  file(REMOVE_RECURSE "${PREFIX}")
  set(config_args "")
  if(CONFIG)
    set(config_args --config ${CONFIG})
  endif()
  run_step("cmake --install" ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${PREFIX}" ${config_args})
  foreach(f include/mlinfer.h ${LIBDIR}/libmlinfer.a ${LIBDIR}/pkgconfig/mlinfer.pc
            ${LIBDIR}/cmake/mlinfer/mlinferConfig.cmake ${LIBDIR}/cmake/mlinfer/mlinferConfigVersion.cmake)
    if(NOT EXISTS "${PREFIX}/${f}")
      message(FATAL_ERROR "cmake --install did not install ${f}")
    endif()
  endforeach()
  file(GLOB shared "${PREFIX}/${LIBDIR}/libmlinfer.so*" "${PREFIX}/${LIBDIR}/libmlinfer*.dylib")
  if(NOT shared)
    message(FATAL_ERROR "cmake --install did not install the shared library into ${PREFIX}/${LIBDIR}")
  endif()

elseif(MODE STREQUAL "cmake_shared" OR MODE STREQUAL "cmake_static")
  set(dir "${WORK}/${MODE}")
  file(REMOVE_RECURSE "${dir}")
  set(static OFF)
  if(MODE STREQUAL "cmake_static")
    set(static ON)
  endif()
  run_step("configure examples/embed (find_package, static=${static})"
    ${CMAKE_COMMAND} -S "${EXAMPLE_DIR}" -B "${dir}" -G "${GENERATOR}"
      "-DCMAKE_C_COMPILER=${C_COMPILER}" "-DCMAKE_PREFIX_PATH=${PREFIX}"
      "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF" "-DCMAKE_BUILD_TYPE=Release"
      "-DCMAKE_C_FLAGS=${EXTRA_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${EXTRA_FLAGS}"
      "-DEMBED_STATIC=${static}")
  # The package must come from the prefix, not from the build tree or the system.
  file(STRINGS "${dir}/CMakeCache.txt" found_dir REGEX "^mlinfer_DIR:")
  if(NOT found_dir MATCHES "${PREFIX}/")
    message(FATAL_ERROR "find_package(mlinfer) used ${found_dir}, not the package in ${PREFIX}")
  endif()
  run_step("build examples/embed" ${CMAKE_COMMAND} --build "${dir}")
  run_consumer("${dir}/embed")

elseif(MODE STREQUAL "pkg_config" OR MODE STREQUAL "pkg_config_static")
  set(dir "${WORK}/${MODE}")
  set(static 0)
  if(MODE STREQUAL "pkg_config_static")
    set(static 1)
  endif()
  file(REMOVE_RECURSE "${dir}")
  file(MAKE_DIRECTORY "${dir}")
  # PKG_CONFIG_PATH adds the prefix in front of the system path, which still serves the
  # private dependencies (openblas, zlib) that mlinfer.pc names.
  set(pc_env "PKG_CONFIG_PATH=${PREFIX}/${LIBDIR}/pkgconfig")
  run_step("pkg-config --cflags --libs mlinfer"
    ${CMAKE_COMMAND} -E env "${pc_env}" "${PKG_CONFIG}" --cflags --libs mlinfer)
  run_step("make -f examples/embed/Makefile"
    ${CMAKE_COMMAND} -E chdir "${dir}"
    ${CMAKE_COMMAND} -E env "${pc_env}" "${MAKE}" -f "${EXAMPLE_DIR}/Makefile"
      "CC=${C_COMPILER}" "CFLAGS=-O2 -Wall -Wextra -Werror ${EXTRA_FLAGS}" "PKG_CONFIG=${PKG_CONFIG}"
      "STATIC=${static}")
  if(static)
    # the static binary must not load libmlinfer.so
    execute_process(COMMAND ldd "${dir}/embed" OUTPUT_VARIABLE deps ERROR_QUIET)
    if(deps MATCHES "libmlinfer")
      message(FATAL_ERROR "STATIC=1 linked libmlinfer.so:\n${deps}")
    endif()
  endif()
  run_consumer("${dir}/embed")

else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()
