// Command-line flags for duet's subcommands: each command declares its flags with a default and
// a help line, so `duet <command> --help` always lists every flag with its default.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

namespace duet {

class Flags {
 public:
  Flags(std::string command, std::string usage, std::string summary);

  std::string& add_string(const std::string& name, std::string def, const std::string& help);
  int64_t& add_int(const std::string& name, int64_t def, const std::string& help);
  double& add_double(const std::string& name, double def, const std::string& help);
  bool& add_bool(const std::string& name, const std::string& help);
  // A flag that may be repeated; every occurrence is kept in order.
  std::vector<std::string>& add_list(const std::string& name, const std::string& help);

  // Parses argv (without the program and command names). Returns false when --help was given
  // (the caller prints help() and exits 0). Unknown flags and bad values throw duet::Error.
  bool parse(const std::vector<std::string>& args);
  bool was_set(const std::string& name) const;
  // Records where a repeated flag's occurrences fell among several list flags (for input order).
  const std::vector<std::pair<std::string, size_t>>& occurrence_order() const { return order_; }
  std::string help() const;

 private:
  enum class Kind { kString, kInt, kDouble, kBool, kList };
  struct Flag {
    Kind kind;
    std::string help;
    std::string def;
    void* target;
    bool set = false;
  };
  Flag& declare(const std::string& name, Kind kind, std::string def, const std::string& help,
                void* target);

  std::string command_, usage_, summary_;
  std::map<std::string, Flag> flags_;
  std::vector<std::string> declared_order_;
  std::deque<std::string> strings_;
  std::deque<int64_t> ints_;
  std::deque<double> doubles_;
  std::deque<bool> bools_;
  std::deque<std::vector<std::string>> lists_;
  std::vector<std::pair<std::string, size_t>> order_;
};

// Parses "3,17,42" into token ids; throws duet::Error naming the flag on bad input.
std::vector<int32_t> parse_id_list(const std::string& text, const std::string& flag_name);

}  // namespace duet
