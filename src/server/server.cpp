#include "server/server.hpp"

#include <httplib.h>

#include <fmt/format.h>

#include "cluster/cluster.hpp"
#include "server/auth.hpp"
#include "server/http_util.hpp"

namespace theater::server {

std::pair<std::string, int> parse_listen_address(const std::string& text) {
  std::string host = std::string(kDefaultHost);
  std::string port_text = text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos) throw std::invalid_argument(fmt::format("'{}': missing ']' after the IPv6 address", text));
    host = text.substr(1, close - 1);
    port_text = close + 1 < text.size() && text[close + 1] == ':' ? text.substr(close + 2) : "";
  } else if (const size_t colon = text.rfind(':'); colon != std::string::npos) {
    if (colon > 0) host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  } else if (text.find_first_not_of("0123456789") != std::string::npos) {
    host = text;  // a host alone
    port_text = std::to_string(kDefaultPort);
  }
  if (port_text.empty() || port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string::npos) {
    throw std::invalid_argument(fmt::format("'{}': expected HOST:PORT, e.g. 127.0.0.1:{}", text, kDefaultPort));
  }
  const int port = std::stoi(port_text);
  if (port > 65535) throw std::invalid_argument(fmt::format("'{}': port {} is over 65535", text, port));
  if (host == "localhost") host = "127.0.0.1";
  return {host, port};
}

bool is_loopback_host(const std::string& host) {
  return host == "::1" || host.rfind("127.", 0) == 0 || host == "localhost";
}

Event server_event(std::string type, std::string detail) {
  Event e;
  e.time_ms = wall_ms();
  e.name = "server";
  e.type = std::move(type);
  e.detail = std::move(detail);
  return e;
}

std::string Server::node() const {
  return config_.cluster ? config_.cluster->config().node_name : std::string(kLocalNode);
}

Server::Server(Runtime& runtime, ServerConfig config, std::shared_ptr<EventHub> hub)
    : runtime_(runtime), config_(std::move(config)), hub_(hub ? std::move(hub) : std::make_shared<EventHub>()) {
  if (config_.token.empty()) {
    if (config_.data_dir.empty()) throw std::runtime_error("the server needs a data directory (for its token) or a token");
    config_.token = load_or_create_token(config_.data_dir);
  }
  // The hub outlives the server if need be: the runtime keeps its observers to the end.
  runtime_.observe([hub = hub_](const Event& e) { hub->publish(e); });
  http_ = std::make_unique<httplib::Server>();
  const size_t threads = std::max<size_t>(4, config_.threads);
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_->set_tcp_nodelay(true);
  http_->set_payload_max_length(config_.max_body_bytes);
  http_->set_keep_alive_timeout(2);
  http_->set_read_timeout(10);
  http_->set_write_timeout(10);
  http_->set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    res.status = 500;
    res.set_content(json_text(error_json("internal", what)), "application/json");
  });
  http_->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // a route already answered with a body
    std::string message;
    switch (res.status) {
      case 404: message = fmt::format("no route {} {} (docs/server.md lists the API)", req.method, req.path); break;
      case 413: message = fmt::format("the body is over the limit of {} bytes", config_.max_body_bytes); break;
      case 400: message = "malformed HTTP request"; break;
      default: message = fmt::format("HTTP {}", res.status);
    }
    res.set_content(json_text(error_json(res.status == 404 ? "no_route" : "http", message)), "application/json");
  });
  install_auth();
  add_api_routes(*http_, *this);
  add_stream_routes(*http_, *this);
  add_metrics_routes(*http_, *this);
  add_dashboard_routes(*http_, *this);
}

Server::~Server() { stop(); }

void Server::install_auth() {
  http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    using R = httplib::Server::HandlerResponse;
    // The dashboard's way in: the address printed at start carries ?token=; a right one becomes
    // a cookie (HttpOnly, SameSite=Strict) and the token leaves the address bar.
    if (req.method == "GET" && req.path == "/" && req.has_param("token")) {
      if (!same_token(req.get_param_value("token"), config_.token)) {
        res.status = 401;
        res.set_content("wrong token: open the address that `theater server` printed\n", "text/plain");
        return R::Handled;
      }
      res.status = 303;
      res.set_header("Set-Cookie", fmt::format("{}={}; Path=/; HttpOnly; SameSite=Strict", kTokenCookie, config_.token));
      res.set_header("Location", "/");
      return R::Handled;
    }
    const std::string authorization = req.get_header_value("Authorization");
    const std::string cookies = req.get_header_value("Cookie");
    const std::string_view bearer = bearer_token(authorization);
    bool ok = same_token(bearer, config_.token);
    if (!ok && same_token(cookie_value(cookies, kTokenCookie), config_.token)) {
      // Cookie-authenticated changes must come from the dashboard's own origin.
      const std::string origin = req.get_header_value("Origin");
      ok = req.method == "GET" || origin.empty() || origin == "http://" + req.get_header_value("Host");
    }
    if (ok) return R::Unhandled;
    res.status = 401;
    res.set_header("WWW-Authenticate", "Bearer realm=\"theater\"");
    const std::string why = authorization.empty() && cookies.empty() ? "missing token" : "wrong token";
    if (req.method == "GET" && req.get_header_value("Accept").find("text/html") != std::string::npos) {
      res.set_content(fmt::format("<!doctype html><title>Theater</title><p>{}: open the address that "
                                  "<code>theater server</code> printed (it carries the token), or run "
                                  "<code>theater dashboard</code>.</p>",
                                  why),
                      "text/html");
    } else {
      res.set_content(json_text(error_json("unauthorized",
                                           fmt::format("{}: send 'Authorization: Bearer <token>' (the token is in "
                                                       "the server's data directory, file 'token')",
                                                       why))),
                      "application/json");
    }
    return R::Handled;
  });
}

void Server::start() {
  started_at_ = std::chrono::steady_clock::now();
  if (config_.port == 0) {
    port_ = http_->bind_to_any_port(config_.host);
    if (port_ < 0) throw std::runtime_error(fmt::format("cannot listen on {}: no free port", config_.host));
  } else {
    if (!http_->bind_to_port(config_.host, config_.port)) {
      throw std::runtime_error(fmt::format("cannot listen on {}:{} (in use, or not an address of this machine)",
                                           config_.host, config_.port));
    }
    port_ = config_.port;
  }
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  // Serving before start() returns: a stop() right after must find the server running.
  for (int i = 0; i < 5000 && !http_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void Server::stop() {
  hub_->close();
  if (http_) http_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string Server::address() const {
  return config_.host.find(':') != std::string::npos ? fmt::format("[{}]:{}", config_.host, port_)
                                                      : fmt::format("{}:{}", config_.host, port_);
}

}  // namespace theater::server
