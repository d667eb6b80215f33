// GSM8K-style evaluation pieces shared by `duet eval` and tests: the K-shot prompt format, the
// answer extraction ("#### N", else the last number: lm-eval's "flexible extract"), and JSONL I/O
// in GSM8K's fields. The format matches tools/train/prompt_format.py, which trained the default
// model and computed its Hugging Face reference.
#pragma once

#include <string>
#include <vector>

namespace duet {

struct Problem {
  std::string question;
  std::string answer;  // worked answer ending in "#### N"
};

inline const std::vector<std::string>& eval_stop_strings() {
  static const std::vector<std::string> stops = {"\n\n", "Question:"};
  return stops;
}
inline constexpr int kEvalMaxTokens = 256;
inline constexpr int kEvalDefaultShots = 3;

// "Question: q1\nAnswer: a1\n\n...\n\nQuestion: q\nAnswer:" with the first `shots` examples.
std::string build_prompt(const std::string& question, const std::vector<Problem>& fewshot,
                         int shots);
// Cuts a completion at the earliest stop string.
std::string truncate_at_stop(const std::string& text);
// The number after "####", else the last number; commas removed, trailing decimal zeros
// dropped. Empty when the text holds no number.
std::string extract_answer(const std::string& completion);

// Reads GSM8K JSONL ({"question", "answer"} per line); throws duet::Error naming file and line.
std::vector<Problem> read_problems(const std::string& path);

}  // namespace duet
