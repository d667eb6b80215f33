// The tensors of a DeepSeek-V3-family checkpoint in Hugging Face layout (names and shapes),
// derived from the config alone. The loader reads exactly these; mkmodel writes exactly these.
#pragma once

#include <string>
#include <vector>

#include "config/model_config.h"
#include "loader/safetensors_writer.h"

namespace duet {

std::string layer_prefix(int64_t layer);  // "model.layers.N."

// Every tensor the text backbone needs (without the config's weight prefix), in checkpoint
// order: embeddings, layers, final norm, lm_head. Norms and the router bias are F32 as in real
// checkpoints; everything else BF16.
std::vector<TensorSpec> checkpoint_tensor_specs(const ModelConfig& c);

}  // namespace duet
