#include "common/flags.h"

#include <charconv>
#include <cstdlib>
#include <sstream>

#include "common/error.h"

namespace duet {

Flags::Flags(std::string command, std::string usage, std::string summary)
    : command_(std::move(command)), usage_(std::move(usage)), summary_(std::move(summary)) {}

Flags::Flag& Flags::declare(const std::string& name, Kind kind, std::string def,
                            const std::string& help, void* target) {
  DUET_CHECK(!flags_.count(name), "flag declared twice: ", name);
  declared_order_.push_back(name);
  return flags_[name] = Flag{kind, help, std::move(def), target};
}

std::string& Flags::add_string(const std::string& name, std::string def, const std::string& help) {
  strings_.push_back(def);
  declare(name, Kind::kString, def.empty() ? "" : "\"" + def + "\"", help, &strings_.back());
  return strings_.back();
}

int64_t& Flags::add_int(const std::string& name, int64_t def, const std::string& help) {
  ints_.push_back(def);
  declare(name, Kind::kInt, std::to_string(def), help, &ints_.back());
  return ints_.back();
}

double& Flags::add_double(const std::string& name, double def, const std::string& help) {
  doubles_.push_back(def);
  std::ostringstream os;
  os << def;
  declare(name, Kind::kDouble, os.str(), help, &doubles_.back());
  return doubles_.back();
}

bool& Flags::add_bool(const std::string& name, const std::string& help) {
  bools_.push_back(false);
  declare(name, Kind::kBool, "off", help, &bools_.back());
  return bools_.back();
}

std::vector<std::string>& Flags::add_list(const std::string& name, const std::string& help) {
  lists_.emplace_back();
  declare(name, Kind::kList, "", help + " (repeatable)", &lists_.back());
  return lists_.back();
}

bool Flags::was_set(const std::string& name) const {
  auto it = flags_.find(name);
  return it != flags_.end() && it->second.set;
}

static bool parse_bool_value(const std::string& v, const std::string& name) {
  if (v == "1" || v == "true" || v == "on" || v == "yes") return true;
  if (v == "0" || v == "false" || v == "off" || v == "no") return false;
  fail("--", name, ": expected true or false, got '", v, "'");
}

bool Flags::parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") return false;
    if (a.rfind("--", 0) != 0) fail(command_, ": unexpected argument '", a, "' (see --help)");
    std::string name = a.substr(2);
    std::string value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    auto it = flags_.find(name);
    if (it == flags_.end()) fail(command_, ": unknown flag --", name, " (see --help)");
    Flag& f = it->second;
    if (f.kind == Kind::kBool) {
      *static_cast<bool*>(f.target) = has_value ? parse_bool_value(value, name) : true;
      f.set = true;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) fail("--", name, " needs a value");
      value = args[++i];
    }
    f.set = true;
    switch (f.kind) {
      case Kind::kString:
        *static_cast<std::string*>(f.target) = value;
        break;
      case Kind::kInt: {
        int64_t v = 0;
        auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
        if (ec != std::errc() || p != value.data() + value.size())
          fail("--", name, ": expected an integer, got '", value, "'");
        *static_cast<int64_t*>(f.target) = v;
        break;
      }
      case Kind::kDouble: {
        char* end = nullptr;
        const double v = std::strtod(value.c_str(), &end);
        if (value.empty() || end != value.c_str() + value.size())
          fail("--", name, ": expected a number, got '", value, "'");
        *static_cast<double*>(f.target) = v;
        break;
      }
      case Kind::kList: {
        auto* list = static_cast<std::vector<std::string>*>(f.target);
        order_.emplace_back(name, list->size());
        list->push_back(value);
        break;
      }
      case Kind::kBool:
        break;
    }
  }
  return true;
}

std::string Flags::help() const {
  std::ostringstream os;
  os << "usage: " << usage_ << "\n\n" << summary_ << "\n\nflags:\n";
  for (const auto& name : declared_order_) {
    const Flag& f = flags_.at(name);
    std::string left = "  --" + name;
    if (f.kind != Kind::kBool) left += " VALUE";
    os << left;
    if (left.size() < 28)
      os << std::string(28 - left.size(), ' ');
    else
      os << "\n" << std::string(28, ' ');
    os << f.help;
    if (!f.def.empty()) os << " [default: " << f.def << "]";
    os << "\n";
  }
  os << "  --help                    print this help\n";
  return os.str();
}

std::vector<int32_t> parse_id_list(const std::string& text, const std::string& flag_name) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  if (text.empty()) fail("--", flag_name, ": empty id list");
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    std::string item = text.substr(pos, comma - pos);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    int64_t v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || p != item.data() + item.size() || v < 0 ||
        v > INT32_MAX)
      fail("--", flag_name, ": '", item, "' is not a token id (expected comma-separated ",
           "non-negative integers)");
    ids.push_back(static_cast<int32_t>(v));
    pos = comma + 1;
  }
  return ids;
}

}  // namespace duet
