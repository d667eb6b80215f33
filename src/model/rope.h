// RoPE frequencies as transformers computes them (default and yarn), in fp32.
#pragma once

#include <vector>

#include "config/model_config.h"

namespace duet {

struct RopeTables {
  std::vector<float> inv_freq;  // [rope_dim / 2]
  float attention_factor = 1.0f;
};

RopeTables compute_rope(const ModelConfig& c);

}  // namespace duet
