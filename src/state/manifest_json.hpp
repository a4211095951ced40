#pragma once
// A parsed Manifest as JSON and back: how the store keeps each actor's manifest, so that a
// recovered actor gets exactly the limits, handlers and supervision it ran with (also a manifest
// built in code, which has no TOML text). Every field of Manifest round-trips.
#include <string>

#include "actor/manifest.hpp"

namespace theater::state {

std::string manifest_to_json(const Manifest& m);
// Throws ManifestError if the JSON is not a stored manifest.
Manifest manifest_from_json(const std::string& json);

}  // namespace theater::state
