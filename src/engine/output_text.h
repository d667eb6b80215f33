// Turning a request's tokens into streamed text: decoded text is held back just long enough
// to be sure it does not begin a stop string, and cut at the first stop string found.
#pragma once

#include <string>

#include "engine/request.h"

namespace duet {

struct StopMatch {
  bool found = false;
  std::string stop;
};

// Appends newly decoded text; on a stop string, truncates the held text at it (keeping the
// stop string when include_stop_str_in_output) and reports it.
StopMatch append_text(Request& req, const std::string& piece);
// Removes and returns the held text that can no longer be part of a stop string.
std::string take_safe_text(Request& req);
// Removes and returns everything held (plus the detokenizer's tail unless a stop string ended
// the request, in which case nothing after it is wanted).
std::string flush_text(Request& req, bool stopped_by_string);

}  // namespace duet
