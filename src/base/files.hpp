#pragma once
// Whole-file reads and atomic writes, with errors that name the file.
#include <cstdint>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace theater {

struct FileError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path);  // throws FileError
std::string read_file_text(const std::filesystem::path& path);            // throws FileError
// Writes to a temporary file beside `path`, then renames: readers never see a partial file.
void write_file_atomic(const std::filesystem::path& path, std::span<const uint8_t> bytes);
void write_file_atomic(const std::filesystem::path& path, std::string_view text);

}  // namespace theater
