#include "support/wat.hpp"

#include <unistd.h>

#include <filesystem>
#include <stdexcept>

#include "base/files.hpp"

namespace theater::test {

namespace {

// A fresh folder under /tmp, removed with everything in it when this goes out of scope.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/theater-wat-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("cannot create a temporary folder");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

}  // namespace

std::vector<uint8_t> wat_to_wasm(std::string_view wat, std::string_view extra_flag) {
  TempDir dir;
  write_file_atomic(dir / "m.wat", wat);
  std::vector<std::string> argv = {"wat2wasm", (dir / "m.wat").string(), "-o", (dir / "m.wasm").string()};
  if (!extra_flag.empty()) argv.emplace_back(extra_flag);
  auto r = run_process(argv);
  if (r.exit_code != 0) throw std::runtime_error("wat2wasm: " + r.output);
  return read_file_bytes(dir / "m.wasm");
}

ProcessResult run_wabt_tool(std::string_view tool, std::span<const uint8_t> wasm,
                            const std::vector<std::string>& flags) {
  TempDir dir;
  write_file_atomic(dir / "m.wasm", wasm);
  std::vector<std::string> argv = {std::string(tool)};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.push_back((dir / "m.wasm").string());
  return run_process(argv);
}

std::string wasm_to_wat(std::span<const uint8_t> wasm) {
  auto r = run_wabt_tool("wasm2wat", wasm);
  if (r.exit_code != 0) throw std::runtime_error("wasm2wat: " + r.output);
  return r.output;
}

std::vector<uint8_t> deeply_nested_module(size_t depth) {
  auto leb = [](std::vector<uint8_t>& out, size_t v) {
    do {
      const auto b = static_cast<uint8_t>(v & 0x7f);
      v >>= 7;
      out.push_back(static_cast<uint8_t>(b | (v ? 0x80 : 0)));
    } while (v);
  };
  std::vector<uint8_t> body = {0x00};  // no locals
  for (size_t i = 0; i < depth; ++i) body.insert(body.end(), {0x02, 0x40});  // block (no result)
  body.insert(body.end(), depth + 1, 0x0b);                                   // the ends
  std::vector<uint8_t> code;
  leb(code, 1);
  leb(code, body.size());
  code.insert(code.end(), body.begin(), body.end());
  std::vector<uint8_t> m = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,  // header
                            0x01, 0x04, 0x01, 0x60, 0x00, 0x00,              // type 0: (func)
                            0x03, 0x02, 0x01, 0x00,                          // function 0: type 0
                            0x07, 0x05, 0x01, 0x01, 'f', 0x00, 0x00};        // export "f"
  m.push_back(0x0a);                                                          // code
  leb(m, code.size());
  m.insert(m.end(), code.begin(), code.end());
  return m;
}

}  // namespace theater::test
