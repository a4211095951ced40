#include "support/wat.hpp"

#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "base/files.hpp"
#include "base/process.hpp"

namespace theater::test {

std::vector<uint8_t> wat_to_wasm(std::string_view wat, std::string_view extra_flag) {
  char tmpl[] = "/tmp/theater-wat-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("cannot create a temporary folder");
  const std::filesystem::path dir = tmpl;
  write_file_atomic(dir / "m.wat", wat);
  std::vector<std::string> argv = {"wat2wasm", (dir / "m.wat").string(), "-o", (dir / "m.wasm").string()};
  if (!extra_flag.empty()) argv.emplace_back(extra_flag);
  auto r = run_process(argv);
  std::vector<uint8_t> bytes;
  if (r.exit_code == 0) bytes = read_file_bytes(dir / "m.wasm");
  std::filesystem::remove_all(dir);
  if (r.exit_code != 0) throw std::runtime_error("wat2wasm: " + r.output);
  return bytes;
}

}  // namespace theater::test
