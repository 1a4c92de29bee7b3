# Installation and Debian packages (docs/DEPLOY.md).
# `cpack -G DEB` in the build directory makes three packages, one per component:
# picket-probe, picket-collector and picketctl, each with its binary, its manual
# page, its copyright and changelog, and (probe, collector) its systemd unit and
# example configuration; the probe also its exec plugins and example check files.
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

# Every example check file (and the SLO and alert examples beside them, when the
# tree has them), so `picket-probe validate /usr/share/doc/picket-probe/examples/X`
# works on an installed machine.
file(GLOB PICKET_EXAMPLES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/deploy/examples/*.yaml)
install(FILES deploy/systemd/picket-probe.env ${PICKET_EXAMPLES}
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/picket-probe/examples COMPONENT probe)
install(FILES deploy/systemd/picket-collector.env
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/picket-collector/examples COMPONENT collector)

# The exec plugins (docs/CHECKS.md, "exec"): run from /usr/lib/picket/plugins.
# check_approval_ui.mjs needs playwright-core: `sudo /usr/lib/picket/plugins/install`
# fetches the version pinned in package-lock.json (Node >= 20 and chromium).
install(PROGRAMS deploy/plugins/check_npm_audit deploy/plugins/check_approval_ui.mjs deploy/plugins/install
        DESTINATION lib/picket/plugins COMPONENT probe)
install(FILES deploy/plugins/package.json deploy/plugins/package-lock.json
        DESTINATION lib/picket/plugins COMPONENT probe)

# Debian policy: each package's /usr/share/doc/PACKAGE holds its copyright
# (DEP-5, deploy/debian/copyright) and changelog.Debian.gz (deploy/debian/changelog).
set(PICKET_CHANGELOG_GZ ${CMAKE_BINARY_DIR}/debian/changelog.Debian.gz)
add_custom_command(OUTPUT ${PICKET_CHANGELOG_GZ}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/debian
    COMMAND gzip -9nc ${CMAKE_SOURCE_DIR}/deploy/debian/changelog > ${PICKET_CHANGELOG_GZ}
    DEPENDS ${CMAKE_SOURCE_DIR}/deploy/debian/changelog
    COMMENT "compressing deploy/debian/changelog")
add_custom_target(picket_changelog ALL DEPENDS ${PICKET_CHANGELOG_GZ})
foreach(pkg_component "picket-probe;probe" "picket-collector;collector" "picketctl;ctl")
    list(GET pkg_component 0 pkg)
    list(GET pkg_component 1 component)
    install(FILES deploy/debian/copyright ${PICKET_CHANGELOG_GZ}
            DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${pkg} COMPONENT ${component})
endforeach()

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
