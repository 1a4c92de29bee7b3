# protoc-c names a service method's C member after the RPC in lower case, and
# ProbeService.Register becomes `register`, a C keyword. Picket does not use
# protobuf-c's service stubs (gRPC C core moves the bytes), so rename the member.
# Invoked as: cmake -DHEADER=... -P fix_protoc_c.cmake
file(READ "${HEADER}" text)
string(REPLACE "(*register)" "(*register_)" text "${text}")
string(REPLACE "## register," "## register_," text "${text}")
file(WRITE "${HEADER}" "${text}")
