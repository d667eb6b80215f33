// duet: parse the subcommand, run it, turn user errors into a message and exit code 1.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "apps/command.h"
#include "common/error.h"
#include "common/log.h"

namespace duet {

std::map<std::string, Command>& command_table() {
  static std::map<std::string, Command> table;
  return table;
}

static void print_usage() {
  std::fprintf(stderr,
               "duet: a serving engine for DeepSeek-V3-family mixture-of-experts models\n\n"
               "usage: duet <command> [flags]   (duet <command> --help lists every flag)\n\n"
               "commands:\n");
  for (const auto& [name, cmd] : command_table())
    std::fprintf(stderr, "  %-14s %s\n", name.c_str(), cmd.summary.c_str());
}

}  // namespace duet

int main(int argc, char** argv) {
  using namespace duet;
  if (argc < 2) {
    print_usage();
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage();
    return 0;
  }
  auto it = command_table().find(name);
  if (it == command_table().end()) {
    std::fprintf(stderr, "duet: unknown command '%s'\n\n", name.c_str());
    print_usage();
    return 2;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  try {
    return it->second.run(args);
  } catch (const Error& e) {
    log_error(e.what());
    return 1;
  } catch (const std::exception& e) {
    log_error("unexpected failure: ", e.what());
    return 1;
  }
}
