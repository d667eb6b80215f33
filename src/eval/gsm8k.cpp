#include "eval/gsm8k.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

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

std::string extract_answer(const std::string& completion) {
  static const std::regex final_re(R"(####\s*(-?[0-9][0-9,]*(?:\.[0-9]+)?))");
  static const std::regex num_re(R"(-?[0-9][0-9,]*(?:\.[0-9]+)?)");
  std::smatch m;
  if (std::regex_search(completion, m, final_re)) return clean_number(m[1].str());
  std::string last;
  for (auto it = std::sregex_iterator(completion.begin(), completion.end(), num_re);
       it != std::sregex_iterator(); ++it)
    last = it->str();
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
