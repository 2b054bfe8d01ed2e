# cv_add_test(NAME name SOURCES a.c ... [LIBS lib ...] [TIMEOUT s]
#             [LABELS l ...] [ARGS ...] [NO_VALGRIND])
# Builds one test executable and registers it with CTest.  Exit codes:
# 0 pass, 1 fail, 77 skip.  Tests labelled "unit" also get a memcheck_<name>
# twin under valgrind when CV_VALGRIND is on (plain builds only).
function(cv_add_test)
  cmake_parse_arguments(T "NO_VALGRIND" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS;ARGS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 60)
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR}/tests
                             ${PROJECT_SOURCE_DIR}/src)
  target_compile_definitions(${T_NAME} PRIVATE _POSIX_C_SOURCE=200809L)
  target_link_libraries(${T_NAME} PRIVATE conveyor_static ${T_LIBS})
  add_test(NAME ${T_NAME} COMMAND ${T_NAME} ${T_ARGS})
  set_tests_properties(${T_NAME} PROPERTIES TIMEOUT ${T_TIMEOUT}
                       SKIP_RETURN_CODE 77 LABELS "${T_LABELS}")
  if(CV_VALGRIND AND CV_SANITIZE STREQUAL "" AND NOT T_NO_VALGRIND
     AND "unit" IN_LIST T_LABELS)
    find_program(VALGRIND valgrind REQUIRED)
    add_test(NAME memcheck_${T_NAME}
             COMMAND ${VALGRIND} --quiet --error-exitcode=99 --leak-check=full
                     --errors-for-leak-kinds=definite,indirect
                     $<TARGET_FILE:${T_NAME}> ${T_ARGS})
    math(EXPR vt "${T_TIMEOUT} * 10")
    set_tests_properties(memcheck_${T_NAME} PROPERTIES TIMEOUT ${vt}
                         SKIP_RETURN_CODE 77 LABELS "memcheck;${T_LABELS}")
  endif()
endfunction()
