#include "cli/client.hpp"

#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include <httplib.h>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "server/auth.hpp"
#include "server/server.hpp"

namespace theater::cli {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string unreachable_hint(const std::string& address) {
  return fmt::format("start one with `theater server` (it listens on {}:{} by default), or point at yours "
                     "with --server HOST:PORT or THEATER_ADDR (now: {})",
                     server::kDefaultHost, server::kDefaultPort, address);
}

// The server's answer to a call: its JSON, or a CliError saying what failed and what to do.
nlohmann::json answer(const std::string& what, const std::string& address, const std::string& token_source,
                      const httplib::Result& r) {
  if (!r) {
    throw CliError(kExitUnreachable,
                   fmt::format("cannot reach the server at {} ({})", address, httplib::to_string(r.error())),
                   unreachable_hint(address));
  }
  nlohmann::json body;
  try {
    body = nlohmann::json::parse(r->body);
  } catch (const std::exception&) {
    if (r->status < 400) throw CliError(kExitFailed, fmt::format("{}: the server's answer is not JSON", what));
  }
  if (r->status == 401) {
    throw CliError(kExitUnreachable, fmt::format("the server at {} refused the token ({})", address, token_source),
                   "use the token of that server: --data DIR (its data directory), --token, or THEATER_TOKEN");
  }
  if (r->status >= 400) {
    std::string message = fmt::format("HTTP {}", r->status);
    std::string code;
    if (body.is_object() && body.contains("error") && body["error"].is_object()) {
      message = body["error"].value("message", message);
      code = body["error"].value("code", "");
    }
    std::string hint;
    if (code == "ENOTFOUND") hint = "`theater list` shows the live actors and their ids";
    if (code == "EFULL") hint = "the actor is busy: retry in a moment";
    if (code == "EFAILED") hint = "`theater events <id>` shows what happened";
    // The server's messages name the actor and the problem; the route is only a fallback.
    throw CliError(kExitFailed, code.empty() ? fmt::format("{}: {}", what, message) : message, hint);
  }
  return body;
}

}  // namespace

std::filesystem::path default_data_dir() {
  if (auto d = env("THEATER_DATA"); !d.empty()) return d;
  if (auto h = env("HOME"); !h.empty()) return std::filesystem::path(h) / ".local" / "share" / "theater";
  return "theater-data";
}

void add_client_options(CLI::App* cmd, ClientOptions& o) {
  cmd->add_option("--server", o.server, "The server's HOST:PORT (default: $THEATER_ADDR, else 127.0.0.1:7420)");
  cmd->add_option("--data", o.data_dir, "The server's data directory, where its token is (default: $THEATER_DATA, "
                                        "else ~/.local/share/theater)");
  cmd->add_option("--token", o.token, "The server's token (default: $THEATER_TOKEN, else <data>/token)");
  cmd->add_flag("--json", o.json, "JSON output, for scripts");
}

ApiClient::ApiClient(const ClientOptions& o) {
  address_ = !o.server.empty() ? o.server : env("THEATER_ADDR");
  if (address_.empty()) address_ = fmt::format("{}:{}", server::kDefaultHost, server::kDefaultPort);
  if (address_.rfind("http://", 0) == 0) address_ = address_.substr(7);
  while (!address_.empty() && address_.back() == '/') address_.pop_back();
  try {
    std::tie(host_, port_) = server::parse_listen_address(address_);
  } catch (const std::exception& e) {
    throw CliError(kExitUsage, fmt::format("bad server address {}", e.what()));
  }
  if (!o.token.empty()) {
    token_ = o.token;
    token_source_ = "from --token";
  } else if (auto from_env = env("THEATER_TOKEN"); !from_env.empty()) {
    token_ = from_env;
    token_source_ = "from THEATER_TOKEN";
  } else {
    const std::filesystem::path dir = o.data_dir.empty() ? default_data_dir() : std::filesystem::path(o.data_dir);
    std::optional<std::string> t;
    try {
      t = server::read_token(dir);
    } catch (const std::exception& e) {
      throw CliError(kExitUsage, e.what());
    }
    if (!t) {
      throw CliError(kExitUnreachable, fmt::format("no token: {} does not exist", (dir / server::kTokenFile).string()),
                     "the server writes it on its first start; pass its data directory with --data DIR, "
                     "or the token with THEATER_TOKEN");
    }
    token_ = *t;
    token_source_ = fmt::format("from {}", (dir / server::kTokenFile).string());
  }
}

ApiClient::~ApiClient() = default;

std::unique_ptr<httplib::Client> ApiClient::make_client(std::chrono::seconds read_timeout) {
  auto c = std::make_unique<httplib::Client>(host_, port_);
  c->set_bearer_token_auth(token_);
  c->set_tcp_nodelay(true);
  c->set_connection_timeout(std::chrono::seconds(5));
  c->set_read_timeout(read_timeout);
  c->set_write_timeout(std::chrono::seconds(30));
  return c;
}

nlohmann::json ApiClient::get(const std::string& path) {
  return answer("GET " + path, address_, token_source_, make_client(std::chrono::seconds(60))->Get(path));
}

nlohmann::json ApiClient::post(const std::string& path, const nlohmann::json& body, std::chrono::seconds timeout) {
  const std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return answer("POST " + path, address_, token_source_, make_client(timeout)->Post(path, text, "application/json"));
}

nlohmann::json ApiClient::del(const std::string& path) {
  return answer("DELETE " + path, address_, token_source_, make_client(std::chrono::seconds(60))->Delete(path));
}

void ApiClient::follow(const std::string& path, const std::function<bool(const nlohmann::json&)>& on_event) {
  stream_client_ = make_client(std::chrono::seconds(3600));
  std::string buffer;
  bool stopped_by_callback = false;
  int status = 0;
  std::string error_body;
  auto r = stream_client_->Get(
      path, httplib::Headers{{"Accept", "text/event-stream"}},
      [&](const httplib::Response& res) {
        status = res.status;
        return true;
      },
      [&](const char* data, size_t len) {
        if (status != 200) {
          error_body.append(data, len);
          return true;
        }
        buffer.append(data, len);
        size_t end;
        while ((end = buffer.find("\n\n")) != std::string::npos) {
          const std::string frame = buffer.substr(0, end);
          buffer.erase(0, end + 2);
          std::string event_name, payload;
          size_t pos = 0;
          while (pos < frame.size()) {
            size_t nl = frame.find('\n', pos);
            if (nl == std::string::npos) nl = frame.size();
            const std::string line = frame.substr(pos, nl - pos);
            pos = nl + 1;
            if (line.rfind("data: ", 0) == 0) payload += line.substr(6);
            if (line.rfind("event: ", 0) == 0) event_name = line.substr(7);
          }
          if (payload.empty()) continue;
          nlohmann::json j;
          try {
            j = nlohmann::json::parse(payload);
          } catch (const std::exception&) {
            continue;
          }
          if (event_name == "gap") j["type"] = "gap";
          if (!on_event(j)) {
            stopped_by_callback = true;
            return false;
          }
        }
        return true;
      });
  if (stopped_by_callback) return;
  if (status >= 400) {
    httplib::Response res;
    res.status = status;
    res.body = error_body;
    httplib::Result fake(std::make_unique<httplib::Response>(res), httplib::Error::Success);
    answer("GET " + path, address_, token_source_, fake);
  }
  if (!r && r.error() != httplib::Error::Canceled && status == 0) {
    answer("GET " + path, address_, token_source_, r);
  }
}

void ApiClient::stop() {
  if (stream_client_) stream_client_->stop();
}

void run_client_command(const std::function<void()>& body) {
  try {
    body();
  } catch (const CliError& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    if (!e.hint.empty()) fmt::print(stderr, "  {}\n", e.hint);
    set_exit_code(e.exit_code);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    set_exit_code(kExitFailed);
  }
}

std::string url_segment(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string render_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size(), 0);
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < cells.size() && i < width.size(); ++i) {
      out += i + 1 == cells.size() ? cells[i] : fmt::format("{:<{}}  ", cells[i], width[i]);
    }
    return out + "\n";
  };
  std::string out = line(header);
  for (const auto& r : rows) out += line(r);
  return out;
}

std::string human_duration_ms(int64_t ms) {
  if (ms < 1000) return fmt::format("{}ms", ms);
  const int64_t s = ms / 1000;
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d{:02}h", s / 86400, (s % 86400) / 3600);
}

std::string human_bytes(uint64_t b) {
  if (b < 1024) return fmt::format("{} B", b);
  if (b < 1024 * 1024) return fmt::format("{:.1f} KiB", static_cast<double>(b) / 1024);
  return fmt::format("{:.1f} MiB", static_cast<double>(b) / (1024 * 1024));
}

}  // namespace theater::cli
