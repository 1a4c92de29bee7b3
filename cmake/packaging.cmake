# Installation and Debian packages (docs/DEPLOY.md).
# `cpack -G DEB` in the build directory makes three packages, one per component:
# picket-probe, picket-collector and picketctl, each with its binary, its manual
# page, and (probe, collector) its systemd unit and example configuration.
include(GNUInstallDirs)

install(TARGETS picket-probe RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT probe)
install(TARGETS picket-collector RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT collector)
install(TARGETS picketctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT ctl)

install(FILES man/picket-probe.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT probe)
install(FILES man/picket-collector.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT collector)
install(FILES man/picketctl.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT ctl)

# Relative to the /usr prefix: /usr/lib/systemd/system, where systemd on Debian 12 looks.
install(FILES deploy/systemd/picket-probe.service DESTINATION lib/systemd/system COMPONENT probe)
install(FILES deploy/systemd/picket-collector.service DESTINATION lib/systemd/system COMPONENT collector)

install(FILES deploy/systemd/picket-probe.env deploy/examples/demo-checks.yaml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/picket-probe/examples COMPONENT probe)
install(FILES deploy/systemd/picket-collector.env
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/picket-collector/examples COMPONENT collector)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME picket)
set(CPACK_PACKAGE_VENDOR "Picket")
set(CPACK_PACKAGE_CONTACT "Picket developers <dev@picket.invalid>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/packages)
set(CPACK_COMPONENTS_ALL probe collector ctl)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://picket.invalid/")
# dpkg-shlibdeps (dpkg-dev) fills Depends: from the binaries' shared libraries.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PROBE_PACKAGE_NAME picket-probe)
set(CPACK_DEBIAN_COLLECTOR_PACKAGE_NAME picket-collector)
set(CPACK_DEBIAN_CTL_PACKAGE_NAME picketctl)
set(CPACK_COMPONENT_PROBE_DESCRIPTION "Picket probe: runs active checks and streams results to a collector")
set(CPACK_COMPONENT_COLLECTOR_DESCRIPTION "Picket collector: stores probe results in PostgreSQL, answers queries")
set(CPACK_COMPONENT_CTL_DESCRIPTION "picketctl: query and configure a Picket collector")
set(CPACK_DEBIAN_PROBE_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/deploy/debian/postinst ${CMAKE_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_COLLECTOR_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/deploy/debian/postinst ${CMAKE_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
