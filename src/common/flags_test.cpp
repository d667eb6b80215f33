#include "common/flags.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace duet {

TEST(Flags, ParsesAllKinds) {
  Flags f("duet x", "duet x [flags]", "test");
  auto& s = f.add_string("model", "", "model dir");
  auto& n = f.add_int("max-tokens", 16, "max");
  auto& t = f.add_double("temperature", 1.0, "temp");
  auto& b = f.add_bool("json", "json output");
  auto& l = f.add_list("prompt", "prompt");
  ASSERT_TRUE(f.parse({"--model", "m", "--max-tokens=5", "--temperature", "0", "--json", "--prompt",
                       "a", "--prompt=b"}));
  EXPECT_EQ(s, "m");
  EXPECT_EQ(n, 5);
  EXPECT_EQ(t, 0.0);
  EXPECT_TRUE(b);
  EXPECT_EQ(l, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(f.was_set("model"));
  EXPECT_NE(f.help().find("[default: 16]"), std::string::npos);
}

TEST(Flags, RejectsBadInput) {
  Flags f("duet x", "duet x", "test");
  f.add_int("n", 1, "n");
  EXPECT_THROW(f.parse({"--bogus"}), Error);
  EXPECT_THROW(f.parse({"--n", "abc"}), Error);
  EXPECT_THROW(f.parse({"--n"}), Error);
  EXPECT_FALSE(f.parse({"--help"}));
}

TEST(Flags, ParsesIdLists) {
  EXPECT_EQ(parse_id_list("3,17,42", "ids"), (std::vector<int32_t>{3, 17, 42}));
  EXPECT_THROW(parse_id_list("3,,4", "ids"), Error);
  EXPECT_THROW(parse_id_list("-1", "ids"), Error);
  EXPECT_THROW(parse_id_list("x", "ids"), Error);
}

}  // namespace duet
