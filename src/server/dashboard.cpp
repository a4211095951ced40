// The dashboard: static files (web/dashboard/, embedded by cmake/embed_assets.cmake) served at /,
// talking to the same API as the CLI, with the cookie set by the ?token= login (server.cpp).
#include <httplib.h>

#include "server/assets.hpp"
#include "server/server.hpp"

namespace theater::server {

void add_dashboard_routes(httplib::Server& http, Server&) {
  for (size_t i = 0; i < kAssetCount; ++i) {
    const Asset& a = kAssets[i];
    http.Get(std::string(a.url), [&a](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-cache");
      res.set_header("X-Content-Type-Options", "nosniff");
      res.set_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:");
      res.set_content(std::string(a.body), std::string(a.content_type));
    });
  }
}

}  // namespace theater::server
