#pragma once
// The dashboard's static files (web/dashboard/), compiled into the binary by
// cmake/embed_assets.cmake: no CDN, nothing to install beside the binary.
#include <cstddef>
#include <string_view>

namespace theater::server {

struct Asset {
  std::string_view url;           // "/", "/app.js", ...
  std::string_view content_type;
  std::string_view body;
};
extern const Asset kAssets[];
extern const size_t kAssetCount;

}  // namespace theater::server
