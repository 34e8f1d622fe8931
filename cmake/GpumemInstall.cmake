# Installs headers, libraries and a CMake package so that users write find_package(gpumem).
include(CMakePackageConfigHelpers)
install(DIRECTORY include/gpumem DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT gpumemTargets NAMESPACE gpumem:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gpumem)
configure_package_config_file(cmake/gpumemConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/gpumemConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gpumem)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/gpumemConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/gpumemConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/gpumemConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gpumem)
