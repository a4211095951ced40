// theater build <dir>: compiles an actor from C/C++ (every .c/.cc/.cpp in the folder) to a wasm32
// module with clang, checks it against the ABI and the manifest's handlers, and compiles it ahead
// of time into the cache, showing progress on a terminal. theater new <name>: a project from a
// template that builds and runs as it is.
#include <unistd.h>

#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "abi/abi.hpp"
#include "actor/manifest.hpp"
#include "base/files.hpp"
#include "base/process.hpp"
#include "base/sha256.hpp"
#include "cli/client.hpp"
#include "cli/commands.hpp"
#include "engine/engine.hpp"

namespace theater::engine {
extern const std::string_view kTheaterSdkHeader;  // sdk/c/theater.h, embedded at build time
}

namespace theater::cli {

namespace {

namespace fs = std::filesystem;

struct BuildOptions {
  std::string dir, output;
  bool no_aot = false, json = false;
};

// The folder's manifest (the only .toml, or <folder name>.toml), if any.
std::optional<Manifest> find_manifest(const fs::path& dir) {
  std::vector<fs::path> tomls;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".toml") tomls.push_back(e.path());
  }
  const fs::path named = dir / (fs::absolute(dir).filename().string() + ".toml");
  if (fs::exists(named)) return load_manifest(named);
  if (tomls.size() == 1) return load_manifest(tomls[0]);
  return std::nullopt;
}

class Steps {
 public:
  Steps(size_t total, bool show) : total_(total), show_(show) {}
  void next(const std::string& what) {
    if (show_) fmt::print(stderr, "\r\033[K[{}/{}] {}", ++n_, total_, what);
  }
  void done() {
    if (show_) fmt::print(stderr, "\r\033[K");
  }

 private:
  size_t total_, n_ = 0;
  bool show_;
};

void build(const BuildOptions& o) {
  const fs::path dir = o.dir;
  if (!fs::is_directory(dir)) throw CliError(kExitUsage, fmt::format("{} is not a folder", o.dir));
  std::vector<fs::path> sources;
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto ext = e.path().extension();
    if (ext == ".c" || ext == ".cc" || ext == ".cpp" || ext == ".cxx") sources.push_back(e.path());
  }
  std::sort(sources.begin(), sources.end());
  if (sources.empty()) {
    throw CliError(kExitUsage, fmt::format("no .c or .cpp files in {}", o.dir), "`theater new NAME` makes a project to start from");
  }
  std::optional<Manifest> manifest;
  try {
    manifest = find_manifest(dir);
  } catch (const std::exception& e) {
    throw CliError(kExitUsage, e.what());
  }
  fs::path out = !o.output.empty()                                    ? fs::path(o.output)
                 : manifest && !manifest->component_path.empty()      ? manifest->component_path
                                                                      : dir / (fs::absolute(dir).filename().string() + ".wasm");
  std::string clang = find_program("clang");
  if (clang.empty()) clang = find_program("clang-14");
  if (clang.empty()) {
    throw CliError(kExitUsage, "clang is not installed",
                   "apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32");
  }
  const bool show = ::isatty(2) && !o.json;
  Steps steps(sources.size() + (o.no_aot ? 2 : 3), show);

  // The SDK header next to the objects, in a folder of our own.
  char tmpl[] = "/tmp/theater-build-XXXXXX";
  if (!::mkdtemp(tmpl)) throw CliError(kExitUsage, "cannot make a temporary folder");
  const fs::path work = tmpl;
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } cleanup{work};
  write_file_atomic(work / "theater.h", engine::kTheaterSdkHeader);

  std::vector<std::string> objects;
  for (size_t i = 0; i < sources.size(); ++i) {
    const fs::path& src = sources[i];
    steps.next(fmt::format("compiling {}", src.filename().string()));
    const bool cxx = src.extension() != ".c";
    const std::string obj = (work / fmt::format("{}_{}.o", i, src.filename().string())).string();
    std::vector<std::string> argv = {clang, "--target=wasm32-wasi", "-O2", "-Wall", "-Wextra", "-I" + work.string()};
    if (cxx) {
      argv.insert(argv.end(), {"-std=c++17", "-fno-exceptions", "-fno-rtti", "-fno-threadsafe-statics"});
    } else {
      argv.push_back("-std=gnu17");
    }
    argv.insert(argv.end(), {"-c", src.string(), "-o", obj});
    auto r = run_process(argv);
    if (r.exit_code != 0) {
      steps.done();
      throw CliError(kExitFailed, fmt::format("{} does not compile:\n{}", src.string(), r.output));
    }
    if (!r.output.empty() && !o.json) {
      steps.done();
      fmt::print(stderr, "{}", r.output);  // warnings
    }
    objects.push_back(obj);
  }
  steps.next(fmt::format("linking {}", out.filename().string()));
  std::vector<std::string> link = {clang, "--target=wasm32-wasi", "-O2", "-mexec-model=reactor", "-Wl,--stack-first",
                                   "-Wl,-z,stack-size=65536", "-Wl,--strip-debug", "-o", out.string()};
  link.insert(link.end(), objects.begin(), objects.end());
  if (auto r = run_process(link); r.exit_code != 0) {
    steps.done();
    throw CliError(kExitFailed, fmt::format("linking {} failed:\n{}", out.string(), r.output),
                   "is wasi-libc installed? (apt-get install lld wasi-libc libclang-rt-14-dev-wasm32)");
  }

  steps.next("checking the module against the actor ABI");
  const auto bytes = read_file_bytes(out);
  std::vector<std::string> handlers;
  if (manifest) {
    handlers = manifest->handlers;
  } else {
    handlers.assign(std::begin(kKnownHandlers), std::end(kKnownHandlers));
  }
  engine::ModuleInfo info;
  try {
    info = engine::inspect(bytes, out.filename().string());
    abi::check_imports(info, handlers, out.filename().string());
    abi::check_exports(info, out.filename().string());
  } catch (const std::exception& e) {
    steps.done();
    fs::remove(out);
    throw CliError(kExitFailed, fmt::format("{} would be refused by the runtime: {}", out.string(), e.what()),
                   manifest ? "grant the handler in the manifest's handlers = [...], or stop calling it" : "");
  }
  if (!o.no_aot) {
    // Compiling ahead of time now (into the cache) makes the first start instant.
    engine::EngineConfig config;
    if (show) {
      config.progress = [](std::string_view what, double fraction) {
        fmt::print(stderr, "\r\033[K[aot] {} {:3.0f}%", what, fraction * 100);
      };
    }
    steps.next("compiling ahead of time (cached)");
    auto engine = engine::Engine::create(config);
    engine->load(bytes, abi::linker(), out.filename().string());
  }
  steps.done();
  if (o.json) {
    std::cout << nlohmann::json{{"module", out.string()}, {"bytes", bytes.size()}, {"sha256", info.sha256},
                                {"manifest", manifest ? manifest->source : ""}}
                     .dump()
              << std::endl;
  } else {
    fmt::print("built {} ({} bytes, sha256 {})\n", out.string(), bytes.size(), info.sha256.substr(0, 16));
    if (manifest) fmt::print("run it:   theater run {} --request hello\n", manifest->source);
  }
}

// ---- theater new -------------------------------------------------------------------------------

constexpr std::string_view kTemplateC = R"tpl(// @NAME@: a Theater actor. It counts the messages it handles; the count is its state, which
// the runtime owns, so it survives crashes and restarts.
//   request "hello"  -> "hello from @NAME@ (message N)"
//   request "count"  -> N
//   send anything    -> counted, and logged
// Build: theater build .   Run: theater run @NAME@.toml --request hello
#include "theater.h"

static long long handled;

THEATER_INIT(on_init) {  // (state, len, reason): a first start, or a restart with the last committed state
  handled = theater_parse_int(state, len, 0);
  return 0;
}

static int32_t count_one(void) {
  ++handled;
  return theater_state_set_int(handled) < 0;  // committed when the handler returns 0
}

THEATER_HANDLE_REQUEST(on_request) {
  if (theater_msg_is(msg, len, "count")) return theater_reply_int(handled) < 0;
  if (count_one()) return 1;
  return theater_reply_fmt("hello from @NAME@ (message %lld)", handled) < 0;
}

THEATER_HANDLE_SEND(on_send) {
  if (count_one()) return 1;
  theater_log_fmt(THEATER_INFO, "got '%.*s' (message %lld)", (int)len, (const char*)msg, handled);
  return 0;
}
)tpl";

constexpr std::string_view kTemplateToml = R"tpl(# @NAME@: see @NAME@.c. The manifest format: ../shared/design/manifest.md in the Theater sources.
name = "@NAME@"
component = "@NAME@.wasm"
version = "0.1.0"
handlers = ["message-server"]
restart = "permanent"

[limits]
memory_mb = 16
handler_timeout_ms = 5000
)tpl";

constexpr std::string_view kTemplateReadme = R"tpl(# @NAME@

A Theater actor in C (`@NAME@.c`) with its manifest (`@NAME@.toml`).

```sh
theater build .                                    # -> @NAME@.wasm (checked, compiled ahead of time)
theater run @NAME@.toml --request hello --request count
theater start @NAME@.toml                          # on a running `theater server`
```

`theater.h` (the SDK) comes with `theater build`; its top comment shows every call.
)tpl";

std::string fill(std::string_view text, const std::string& name) {
  std::string out(text);
  for (size_t pos; (pos = out.find("@NAME@")) != std::string::npos;) out.replace(pos, 6, name);
  return out;
}

void scaffold(const std::string& name, const std::string& where, bool json) {
  const bool ok = !name.empty() && name.size() <= 64 && std::isalpha(static_cast<unsigned char>(name[0])) &&
                  name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") == std::string::npos;
  if (!ok) {
    throw CliError(kExitUsage, fmt::format("'{}' is not a good actor name", name),
                   "use lower-case letters, digits, '-' and '_', starting with a letter");
  }
  const fs::path dir = where.empty() ? fs::path(name) : fs::path(where);
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    throw CliError(kExitUsage, fmt::format("{} exists and is not empty", dir.string()), "pick another name or --dir");
  }
  fs::create_directories(dir, ec);
  if (ec) throw CliError(kExitUsage, fmt::format("cannot create {}: {}", dir.string(), ec.message()));
  write_file_atomic(dir / (name + ".c"), fill(kTemplateC, name));
  write_file_atomic(dir / (name + ".toml"), fill(kTemplateToml, name));
  write_file_atomic(dir / "README.md", fill(kTemplateReadme, name));
  if (json) {
    std::cout << nlohmann::json{{"dir", dir.string()}, {"name", name}}.dump() << std::endl;
  } else {
    fmt::print("created {}/ ({}.c, {}.toml, README.md)\nnext:     theater build {} && theater run {} --request hello\n",
               dir.string(), name, name, dir.string(), (dir / (name + ".toml")).string());
  }
}

}  // namespace

void add_build_commands(CLI::App& app) {
  {
    auto o = std::make_shared<BuildOptions>();
    auto* cmd = app.add_subcommand("build", "Compile an actor from C/C++ to a checked wasm module (and ahead of time)");
    cmd->add_option("dir", o->dir, "The actor's folder: its .c/.cpp files and manifest")->required();
    cmd->add_option("-o,--output", o->output, "Where the .wasm goes (default: the manifest's component)");
    cmd->add_flag("--no-aot", o->no_aot, "Skip compiling ahead of time (the first start does it)");
    cmd->add_flag("--json", o->json, "JSON output");
    cmd->callback([o] { run_client_command([&] { build(*o); }); });
  }
  {
    struct NewOptions {
      std::string name, dir;
      bool json = false;
    };
    auto o = std::make_shared<NewOptions>();
    auto* cmd = app.add_subcommand("new", "Make an actor project from a template that builds and runs as it is");
    cmd->add_option("name", o->name, "The actor's name (also the folder's)")->required();
    cmd->add_option("--dir", o->dir, "The folder to create (default: ./<name>)");
    cmd->add_flag("--json", o->json, "JSON output");
    cmd->callback([o] { run_client_command([&] { scaffold(o->name, o->dir, o->json); }); });
  }
}

}  // namespace theater::cli
