// theater replay: see add_replay_command (step 4).
#include "cli/commands.hpp"
#include "cli/data_dir.hpp"

namespace theater::cli {

void add_replay_command(CLI::App& app) { (void)app; }

}  // namespace theater::cli
