# Turns the dashboard's files (web/ and uPlot from web/node_modules, installed by
# web/install from the committed package-lock.json) into a C source, so that
# picket-collector serves its dashboard with no files and no CDN.
# Invoked as: cmake -DWEB_DIR=... -DOUT=... -P embed_web.cmake
# The check page and the overview are served with their styles and scripts
# inline (the check page's uPlot included): one HTML answer and its JSON calls
# (/api/check-page; /api/board, /api/probes), no request for an asset that could
# wait behind the page's own data on the HTTP server or on a loaded machine.
# Each entry: TAG|ELEMENT|FILE, the tag of page_in replaced by FILE in ELEMENT.
function(inline_assets page_in page_out)
    file(READ "${page_in}" page)
    foreach(entry ${ARGN})
        string(FIND "${entry}" "|" bar)
        string(SUBSTRING "${entry}" 0 ${bar} tag)
        math(EXPR rest "${bar} + 1")
        string(SUBSTRING "${entry}" ${rest} -1 entry_rest)
        string(FIND "${entry_rest}" "|" bar)
        string(SUBSTRING "${entry_rest}" 0 ${bar} element)
        math(EXPR rest "${bar} + 1")
        string(SUBSTRING "${entry_rest}" ${rest} -1 path)
        string(FIND "${page}" "${tag}" at)
        if(at EQUAL -1)
            message(FATAL_ERROR "${page_in} no longer has ${tag}: update cmake/embed_web.cmake")
        endif()
        if(NOT EXISTS "${path}")
            message(FATAL_ERROR "dashboard asset ${path} is missing (uPlot: run web/install, or scripts/deps)")
        endif()
        file(READ "${path}" content)
        string(REPLACE "${tag}" "<${element}>\n${content}\n</${element}>" page "${page}")
    endforeach()
    file(WRITE "${page_out}" "${page}")
endfunction()
inline_assets("${WEB_DIR}/check.html" "${OUT}.check.html"
    "<link rel=\"stylesheet\" href=\"/assets/dashboard.css\">|style|${WEB_DIR}/dashboard.css"
    "<link rel=\"stylesheet\" href=\"/assets/uplot.css\">|style|${WEB_DIR}/node_modules/uplot/dist/uPlot.min.css"
    "<script src=\"/assets/common.js\" defer></script>|script|${WEB_DIR}/common.js"
    "<script src=\"/assets/uplot.js\" defer></script>|script|${WEB_DIR}/node_modules/uplot/dist/uPlot.iife.min.js"
    "<script src=\"/assets/check.js\" defer></script>|script|${WEB_DIR}/check.js")
inline_assets("${WEB_DIR}/index.html" "${OUT}.index.html"
    "<link rel=\"stylesheet\" href=\"/assets/dashboard.css\">|style|${WEB_DIR}/dashboard.css"
    "<script src=\"/assets/common.js\" defer></script>|script|${WEB_DIR}/common.js"
    "<script src=\"/assets/dashboard.js\" defer></script>|script|${WEB_DIR}/dashboard.js")

set(files
    "index.html|html|${OUT}.index.html"
    "status.html|html|${WEB_DIR}/status.html"
    "dashboard.js|js|${WEB_DIR}/dashboard.js"
    "status.js|js|${WEB_DIR}/status.js"
    "common.js|js|${WEB_DIR}/common.js"
    "check.html|html|${OUT}.check.html"
    "check.js|js|${WEB_DIR}/check.js"
    "quality.html|html|${WEB_DIR}/quality.html"
    "quality.js|js|${WEB_DIR}/quality.js"
    "dashboard.css|css|${WEB_DIR}/dashboard.css"
    "uplot.js|js|${WEB_DIR}/node_modules/uplot/dist/uPlot.iife.min.js"
    "uplot.css|css|${WEB_DIR}/node_modules/uplot/dist/uPlot.min.css")
set(body "/* Generated from web/ by cmake/embed_web.cmake. Do not edit. */\n#include <stddef.h>\n#include \"dashboard.h\"\n")
set(table "const struct pk_web_asset pk_web_assets[] = {\n")
set(i 0)
foreach(entry ${files})
    string(REPLACE "|" ";" parts "${entry}")
    list(GET parts 0 name)
    list(GET parts 1 kind)
    list(GET parts 2 path)
    if(NOT EXISTS "${path}")
        message(FATAL_ERROR "dashboard asset ${path} is missing (uPlot: run web/install, or scripts/deps)")
    endif()
    file(READ "${path}" hex HEX)
    string(LENGTH "${hex}" hexlen)
    math(EXPR len "${hexlen} / 2")
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
    string(APPEND body "static const unsigned char asset_${i}[] = {${hex}0x00};\n")
    string(APPEND table "    {\"${name}\", PK_WEB_TYPE_${kind}, asset_${i}, ${len}},\n")
    math(EXPR i "${i} + 1")
endforeach()
string(APPEND table "};\nconst size_t pk_web_assets_count = ${i};\n")
file(WRITE "${OUT}.tmp" "${body}${table}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUT}.tmp" "${OUT}")
