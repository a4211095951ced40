// theater build <dir>, theater new <name>.
#include "cli/commands.hpp"

namespace theater::cli {

void add_build_commands(CLI::App&) {}

}  // namespace theater::cli
