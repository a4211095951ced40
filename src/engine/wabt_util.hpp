#pragma once
// Reading modules with wabt, shared by inspect() and instrument(): the feature set this engine
// supports, and error messages that name the problem (and the unsupported feature, if that is it).
#include <wabt/binary-reader-ir.h>
#include <wabt/binary-reader.h>
#include <wabt/error-formatter.h>
#include <wabt/ir.h>
#include <wabt/validator.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace theater::engine {

// What wasm2c 1.0.32 compiles (and so what both tiers accept).
wabt::Features supported_features();

// Parses and validates; throws LoadError "label: ..." naming the problem.
void read_module(std::span<const uint8_t> wasm, std::string_view label, wabt::Module* out);

}  // namespace theater::engine
