#include "eval/arith_task.h"

#include <random>
#include <string>

#include "common/error.h"

namespace duet {
namespace {

struct Worked {
  std::string text;
  int64_t result;
};

std::vector<int> digits_lsb(int64_t x, int n) {
  std::vector<int> d(n);
  for (int i = 0; i < n; ++i, x /= 10) d[i] = static_cast<int>(x % 10);
  return d;
}
int num_digits(int64_t x) {
  return static_cast<int>(std::to_string(x).size());
}

Worked work_add(int64_t a, int64_t b) {
  const int n = std::max(num_digits(a), num_digits(b));
  auto da = digits_lsb(a, n), db = digits_lsb(b, n);
  std::string steps, suffix;
  int carry = 0;
  for (int i = 0; i < n; ++i) {
    const int s = da[i] + db[i] + carry;
    suffix = (i == n - 1 ? std::to_string(s) : std::to_string(s % 10)) + suffix;
    steps += (i ? ", " : "") + str_cat(da[i], "+", db[i], "+", carry, "=", s, " (", suffix, ")");
    carry = s / 10;
  }
  return {str_cat(a, " + ", b, " = <<", steps, ">>", a + b), a + b};
}

Worked work_sub(int64_t a, int64_t b) {
  const int n = num_digits(a);
  auto da = digits_lsb(a, n), db = digits_lsb(b, n);
  std::string steps, suffix;
  int borrow = 0;
  for (int i = 0; i < n; ++i) {
    int d = da[i] - db[i] - borrow;
    const int nb = d < 0 ? 1 : 0;
    const std::string top = (nb ? "1" : "") + std::to_string(da[i]);  // "1x" marks a borrow
    d += 10 * nb;
    suffix = std::to_string(d) + suffix;
    steps += (i ? ", " : "") + str_cat(top, "-", db[i], "-", borrow, "=", d, " (", suffix, ")");
    borrow = nb;
  }
  return {str_cat(a, " - ", b, " = <<", steps, ">>", a - b), a - b};
}

Worked work_mul(int64_t m, int64_t x) {
  const int n = num_digits(x);
  auto dx = digits_lsb(x, n);
  std::string steps, suffix;
  int64_t carry = 0;
  for (int i = 0; i < n; ++i) {
    const int64_t p = dx[i] * m, v = p + carry;
    suffix = (i == n - 1 ? std::to_string(v) : std::to_string(v % 10)) + suffix;
    if (i == 0)
      steps += str_cat(dx[i], "*", m, "=", p, " (", suffix, ")");
    else
      steps +=
          str_cat(", ", dx[i], "*", m, "+", carry, "=", p, "+", carry, "=", v, " (", suffix, ")");
    carry = v / 10;
  }
  return {str_cat(m, " * ", x, " = <<", steps, ">>", m * x), m * x};
}

const std::vector<std::pair<std::string, std::string>> kNames = {
    {"Tom", "he"},  {"Sara", "she"}, {"Ali", "he"},  {"Mia", "she"},
    {"Ben", "he"},  {"Lena", "she"}, {"Omar", "he"}, {"Zoe", "she"},
    {"Ivan", "he"}, {"Nora", "she"}, {"Ravi", "he"}, {"Emma", "she"},
    {"Jack", "he"}, {"Lucy", "she"}, {"Sam", "he"},  {"Anna", "she"}};
const std::vector<std::string> kItems = {
    "apples", "marbles", "stickers", "books", "pencils", "cookies", "coins", "cards",
    "stamps", "shells",  "beads",    "eggs",  "oranges", "candies", "nails", "buttons"};
const std::vector<std::string> kContainers = {"boxes", "bags",  "crates",
                                              "jars",  "packs", "baskets"};
const std::vector<std::pair<std::string, std::string>> kPlaces = {
    {"store", "sells"}, {"bakery", "sells"},    {"library", "lends out"},
    {"farm", "ships"},  {"warehouse", "ships"}, {"school", "gives away"}};

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}
  int64_t uniform(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[uniform(0, static_cast<int64_t>(v.size()) - 1)];
  }
  // A uniform number of digits in [1, max_digits], then a uniform value with that many digits.
  int64_t num(int max_digits, int64_t lo = 1) {
    const int nd = static_cast<int>(uniform(1, max_digits));
    int64_t p = 1;
    for (int i = 0; i < nd; ++i) p *= 10;
    return uniform(std::max(lo, nd > 1 ? p / 10 : int64_t{0}), p - 1);
  }
  double real() { return std::uniform_real_distribution<double>(0, 1)(rng_); }

 private:
  std::mt19937_64 rng_;
};

std::string cap(std::string s) {
  s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

Problem finish(const std::string& q, const std::string& a, int64_t r) {
  return {q, a + "\n#### " + std::to_string(r)};
}

Problem p_add(Gen& g) {
  auto [nm, pr] = g.pick(kNames);
  const std::string it = g.pick(kItems);
  const int64_t a = g.num(4), b = g.num(4);
  Worked w = work_add(a, b);
  switch (g.uniform(0, 2)) {
    case 0:
      return finish(str_cat(nm, " has ", a, " ", it, ". ", cap(pr), " buys ", b, " more. How many ",
                            it, " does ", pr, " have now?"),
                    str_cat(nm, " has ", w.text, " ", it, " now."), w.result);
    case 1: {
      const std::string nm2 = g.pick(kNames).first;
      return finish(str_cat(nm, " has ", a, " ", it, " and ", nm2, " has ", b, " ", it,
                            ". How many ", it, " do they have together?"),
                    str_cat("Together they have ", w.text, " ", it, "."), w.result);
    }
    default:
      return finish(str_cat("A car travels ", a, " km on Monday and ", b,
                            " km on Tuesday. How many km does it travel in total?"),
                    str_cat("The car travels ", w.text, " km in total."), w.result);
  }
}

Problem p_sub(Gen& g) {
  auto [nm, pr] = g.pick(kNames);
  const std::string it = g.pick(kItems);
  const int64_t a = g.num(4);
  const int64_t b = g.real() < 0.5 ? g.uniform(0, a) : std::min(a, g.num(4));
  Worked w = work_sub(a, b);
  switch (g.uniform(0, 2)) {
    case 0: {
      const std::string nm2 = g.pick(kNames).first;
      return finish(str_cat(nm, " has ", a, " ", it, ". ", cap(pr), " gives ", b, " of them to ",
                            nm2, ". How many ", it, " does ", nm, " have left?"),
                    str_cat(nm, " has ", w.text, " ", it, " left."), w.result);
    }
    case 1: {
      auto [place, verb] = g.pick(kPlaces);
      return finish(str_cat("A ", place, " has ", a, " ", it, ". It ", verb, " ", b, " ", it,
                            ". How many ", it, " does the ", place, " have left?"),
                    str_cat("The ", place, " has ", w.text, " ", it, " left."), w.result);
    }
    default:
      return finish(str_cat("A road is ", a, " meters long. Workers have painted ", b,
                            " meters of it. How many meters are not painted yet?"),
                    str_cat("There are ", w.text, " meters not painted yet."), w.result);
  }
}

Problem p_mul(Gen& g) {
  auto [nm, pr] = g.pick(kNames);
  const std::string it = g.pick(kItems), box = g.pick(kContainers);
  const int64_t m = g.num(2, 2), x = g.num(3, 2);
  Worked w = work_mul(m, x);
  switch (g.uniform(0, 2)) {
    case 0:
      return finish(str_cat(nm, " buys ", m, " ", box, " of ", it, ". Each of the ", box, " holds ",
                            x, " ", it, ". How many ", it, " does ", nm, " buy?"),
                    str_cat(nm, " buys ", w.text, " ", it, "."), w.result);
    case 1:
      return finish(str_cat("A farmer plants ", m, " rows of trees with ", x,
                            " trees in each row. How many trees does the farmer plant?"),
                    str_cat("The farmer plants ", w.text, " trees."), w.result);
    default:
      return finish(
          str_cat("A bus drives ", x, " km every day. How many km does it drive in ", m, " days?"),
          str_cat("In ", m, " days it drives ", w.text, " km."), w.result);
  }
}

Problem p_two_step(Gen& g) {
  auto [nm, pr] = g.pick(kNames);
  const std::string it = g.pick(kItems), box = g.pick(kContainers);
  switch (g.uniform(0, 3)) {
    case 0: {
      auto [place, verb] = g.pick(kPlaces);
      const int64_t m = g.num(2, 2), x = g.num(3, 2);
      Worked w1 = work_mul(m, x);
      const int64_t c = g.uniform(0, std::min<int64_t>(w1.result, 9999));
      Worked w2 = work_sub(w1.result, c);
      return finish(
          str_cat("A ", place, " has ", m, " ", box, " with ", x, " ", it, " in each. It ", verb,
                  " ", c, " ", it, ". How many ", it, " does the ", place, " have left?"),
          str_cat("The ", place, " has ", w1.text, " ", it, ". After that it has ", w2.text, " ",
                  it, " left."),
          w2.result);
    }
    case 1: {
      const int64_t m = g.num(2, 2), x = g.num(3, 2);
      Worked w1 = work_mul(m, x);
      const int64_t c = g.num(4);
      Worked w2 = work_add(w1.result, c);
      return finish(
          str_cat(nm, " earns ", x, " dollars a day for ", m, " days and then gets a bonus of ", c,
                  " dollars. How many dollars does ", pr, " get in total?"),
          str_cat(nm, " earns ", w1.text, " dollars. With the bonus ", pr, " gets ", w2.text,
                  " dollars."),
          w2.result);
    }
    case 2: {
      const int64_t a = g.num(4), b = g.num(4);
      Worked w1 = work_add(a, b);
      const int64_t c = g.uniform(0, std::min<int64_t>(w1.result, 9999));
      Worked w2 = work_sub(w1.result, c);
      return finish(
          str_cat(nm, " has ", a, " ", it, ". ", cap(pr), " buys ", b, " more and then gives away ",
                  c, ". How many ", it, " does ", pr, " have now?"),
          str_cat(nm, " has ", w1.text, " ", it, " after buying. After giving some away ", pr,
                  " has ", w2.text, " ", it, "."),
          w2.result);
    }
    default: {
      const int64_t a = g.num(4), b = g.uniform(0, a);
      Worked w1 = work_sub(a, b);
      const int64_t c = g.num(4);
      Worked w2 = work_add(w1.result, c);
      return finish(
          str_cat("A tank holds ", a, " liters of water. ", b, " liters are used and then ", c,
                  " liters are added. How many liters are in the tank now?"),
          str_cat("After use the tank holds ", w1.text, " liters. Then it holds ", w2.text,
                  " liters."),
          w2.result);
    }
  }
}

}  // namespace

std::vector<Problem> make_arith_problems(uint64_t seed, int n) {
  Gen g(seed);
  std::vector<Problem> out;
  for (int i = 0; i < n; ++i) {
    const double r = g.real();  // kinds weighted 0.25 / 0.25 / 0.2 / 0.3 as in training
    out.push_back(r < 0.25 ? p_add(g) : r < 0.5 ? p_sub(g) : r < 0.7 ? p_mul(g) : p_two_step(g));
  }
  return out;
}

}  // namespace duet
