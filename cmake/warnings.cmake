# Compiler warnings and sanitizers, applied to every Picket target through
# the picket_flags interface library.
add_library(picket_flags INTERFACE)
target_compile_options(picket_flags INTERFACE
    -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
    -Wno-unused-parameter -Wno-missing-field-initializers)
if(PICKET_WERROR)
    target_compile_options(picket_flags INTERFACE -Werror)
endif()
if(PICKET_SANITIZE)
    target_compile_options(picket_flags INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
        -fno-sanitize-recover=undefined)
    target_link_options(picket_flags INTERFACE -fsanitize=address,undefined)
endif()
if(PICKET_FUZZ)
    # Coverage for libFuzzer in every Picket library; only the fuzz targets link
    # libFuzzer's main (-fsanitize=fuzzer, tests/fuzz/CMakeLists.txt).
    target_compile_options(picket_flags INTERFACE -fsanitize=fuzzer-no-link)
endif()
