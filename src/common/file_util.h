// Small file helpers with errors that name the path.
#pragma once

#include <string>

namespace duet {

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& data);
bool file_exists(const std::string& path);
std::string path_join(const std::string& dir, const std::string& name);

}  // namespace duet
