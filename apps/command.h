// The duet command table. Each subcommand lives in its own cmd_*.cpp and registers itself here,
// so adding a command never touches another command's file.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace duet {

struct Command {
  std::string summary;
  // Receives the arguments after the command name; returns the process exit code.
  std::function<int(const std::vector<std::string>&)> run;
};

std::map<std::string, Command>& command_table();

struct RegisterCommand {
  RegisterCommand(const std::string& name, Command cmd) { command_table()[name] = std::move(cmd); }
};

}  // namespace duet
