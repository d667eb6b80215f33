// duet version: prints the version and what this build contains.
#include <cstdio>

#include "apps/command.h"
#include "common/flags.h"

namespace duet {
namespace {

int run_version(const std::vector<std::string>& args) {
  Flags flags("duet version", "duet version", "Prints duet's version and build features.");
  if (!flags.parse(args)) {
    std::fputs(flags.help().c_str(), stdout);
    return 0;
  }
#ifdef DUET_HAS_CUDA
  const char* cuda = "yes";
#else
  const char* cuda = "no";
#endif
  std::printf("duet 0.1 (cuda backend: %s)\n", cuda);
  return 0;
}

RegisterCommand reg("version", {"print the version and build features", run_version});

}  // namespace
}  // namespace duet
