#pragma once
// The server's JSON drawn for people: the actor table (`list`), the tree (`tree`), one actor
// (`inspect`) and events (`events`, `logs`).
#include <string>

#include <nlohmann/json.hpp>

#include "actor/events.hpp"

namespace theater::cli {

std::string render_actor_table(const nlohmann::json& actors);
std::string render_tree_json(const nlohmann::json& root, bool color);
std::string render_inspect(const nlohmann::json& actor, bool color);
Event event_from_json(const nlohmann::json& j);

}  // namespace theater::cli
