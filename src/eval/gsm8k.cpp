#include "eval/gsm8k.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"

namespace duet {

std::string build_prompt(const std::string& question, const std::vector<Problem>& fewshot,
                         int shots) {
  std::string out;
  for (int i = 0; i < shots && i < static_cast<int>(fewshot.size()); ++i)
    out += "Question: " + fewshot[i].question + "\nAnswer: " + fewshot[i].answer + "\n\n";
  return out + "Question: " + question + "\nAnswer:";
}

std::string truncate_at_stop(const std::string& text) {
  size_t cut = text.size();
  for (const auto& s : eval_stop_strings()) cut = std::min(cut, text.find(s));
  return text.substr(0, cut);
}

namespace {
std::string clean_number(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), ','), s.end());
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  return s;
}
}  // namespace

namespace {
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Length of the number -?[0-9][0-9,]*(\.[0-9]+)? starting at s[i], 0 if none starts there.
size_t number_at(const std::string& s, size_t i) {
  size_t j = i;
  if (j < s.size() && s[j] == '-') ++j;
  if (j >= s.size() || !is_digit(s[j])) return 0;
  while (j < s.size() && (is_digit(s[j]) || s[j] == ',')) ++j;
  if (j + 1 < s.size() && s[j] == '.' && is_digit(s[j + 1])) {
    ++j;
    while (j < s.size() && is_digit(s[j])) ++j;
  }
  return j - i;
}
}  // namespace

std::string extract_answer(const std::string& completion) {
  // "#### N" first (GSM8K's strict format), else the last number, as lm-eval's flexible extract.
  const size_t mark = completion.find("####");
  if (mark != std::string::npos) {
    size_t i = mark + 4;
    while (i < completion.size() && std::isspace(static_cast<unsigned char>(completion[i]))) ++i;
    if (const size_t n = number_at(completion, i)) return clean_number(completion.substr(i, n));
  }
  std::string last;
  for (size_t i = 0; i < completion.size();) {
    if (const size_t n = number_at(completion, i)) {
      last = completion.substr(i, n);
      i += n;
    } else {
      ++i;
    }
  }
  return last.empty() ? last : clean_number(last);
}

std::vector<Problem> read_problems(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(path, ": cannot open");
  std::vector<Problem> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      auto j = nlohmann::json::parse(line);
      out.push_back({j.at("question").get<std::string>(), j.at("answer").get<std::string>()});
    } catch (const nlohmann::json::exception& e) {
      fail(path, ":", n, ": expected {\"question\": ..., \"answer\": ...}: ", e.what());
    }
  }
  return out;
}

}  // namespace duet
