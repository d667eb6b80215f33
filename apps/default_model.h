// The model duet uses when a command gets no --model: $DUET_DEFAULT_MODEL, else the small
// arithmetic model trained for duet and shipped in the repository (models/duet-arith-tiny).
#pragma once

#include <string>

namespace duet {

// Empty when neither exists.
std::string default_model_dir();
// Text for --help.
std::string default_model_help();

}  // namespace duet
