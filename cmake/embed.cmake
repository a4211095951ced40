# Writes IN's text into OUT as a C++ string constant (theater::engine::kWasmRtHeader).
file(READ ${IN} content)
set(delim "theater_rt_")
file(WRITE ${OUT} "// generated from ${IN}\n#include <string_view>\nnamespace theater::engine {\nextern const std::string_view kWasmRtHeader;\nconst std::string_view kWasmRtHeader = R\"${delim}(${content})${delim}\";\n}\n")
