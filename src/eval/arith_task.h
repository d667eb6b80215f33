// The built-in "arith" task: GSM8K-style word problems over addition and subtraction of up to
// 4-digit numbers and multiplication of up to 2-digit by 3-digit numbers, some two-step, with
// worked column arithmetic — the same story templates and answer format the default model was
// trained on (tools/train/arith_data.py; the random streams differ, so problems do too).
#pragma once

#include <cstdint>
#include <vector>

#include "eval/gsm8k.h"

namespace duet {

std::vector<Problem> make_arith_problems(uint64_t seed, int n);

}  // namespace duet
