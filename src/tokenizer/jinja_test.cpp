// Interpreter unit tests. Expected outputs in tests/data/chat_templates/jinja_cases.jsonl come
// from real Jinja2 in transformers' environment (tools/reference/make_chat_template_golden.py);
// cases Jinja rejects must fail here too.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "common/error.h"
#include "tokenizer/chat_template.h"

namespace duet {
namespace {

std::string render(const std::string& src, const nlohmann::ordered_json& ctx = nullptr) {
  ChatTemplate t(src);
  ChatTemplate::Inputs in;
  in.messages = nlohmann::ordered_json::array();
  in.extra = ctx;
  return t.render(in);
}

std::string error_of(const std::string& src, const nlohmann::ordered_json& ctx = nullptr) {
  try {
    render(src, ctx);
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(Jinja, CasesFromJinja2) {
  std::ifstream in("tests/data/chat_templates/jinja_cases.jsonl");
  ASSERT_TRUE(in);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    auto c = nlohmann::ordered_json::parse(line);
    std::string src = c["template"].get<std::string>();
    ++n;
    if (c.contains("jinja_error")) {
      EXPECT_NE(error_of(src, c["context"]), "<no error>") << "template: " << src;
      continue;
    }
    try {
      EXPECT_EQ(render(src, c["context"]), c["expected"].get<std::string>()) << "template: " << src;
    } catch (const Error& e) {
      ADD_FAILURE() << "template: " << src << "\nthrew: " << e.what();
    }
  }
  EXPECT_GT(n, 100);
}

TEST(Jinja, UnsupportedConstructsNameTheConstructAndLine) {
  EXPECT_EQ(error_of("a\n{% include 'x.j2' %}"),
            "chat template line 2: unsupported construct: {% include %}");
  EXPECT_EQ(error_of("{% extends 'base' %}"),
            "chat template line 1: unsupported construct: {% extends %}");
  EXPECT_EQ(error_of("\n\n{{ x | wordwrap }}"),
            "chat template line 3: unsupported filter 'wordwrap'");
  EXPECT_EQ(error_of("{% if x is sameas_not %}{% endif %}"),
            "chat template line 1: unsupported test 'sameas_not'");
  EXPECT_EQ(error_of("{% for x in y recursive %}{% endfor %}"),
            "chat template line 1: unsupported construct: recursive for loop");
  EXPECT_EQ(error_of("{{ '%s' % 1 }}"),
            "chat template line 1: unsupported construct: printf-style string formatting with %");
  EXPECT_EQ(error_of("\n{{ 'a'.zfill(3) }}"),
            "chat template line 2: unsupported construct: method str.zfill()");
  EXPECT_NE(error_of("{% set l = [] %}{{ l.append(1) }}")
                .find("unsupported construct: method list.append()"),
            std::string::npos);
  EXPECT_EQ(error_of("{{ f(*x) }}"),
            "chat template line 1: unsupported construct: *args/**kwargs in a call");
  EXPECT_EQ(error_of("{% frobnicate %}"), "chat template line 1: unknown tag 'frobnicate'");
}

TEST(Jinja, RaiseExceptionCarriesTheMessage) {
  EXPECT_EQ(error_of("{{ raise_exception('Conversation roles must alternate') }}"),
            "Conversation roles must alternate");
}

TEST(Jinja, MalformedTemplatesFailCleanly) {
  const char* bad[] = {"{{",
                       "{{ x",
                       "{% if x %}",
                       "{% for %}",
                       "{% endif %}",
                       "{{ (1 }}",
                       "{{ [1, 2 }}",
                       "{# never closed",
                       "{% raw %}abc",
                       "{{ 'abc }}",
                       "{% set %}",
                       "{{ x | }}",
                       "{% if x %}{% else %}{% else %}{% endif %}",
                       "{{ 1 +* 2 }}",
                       "{% macro %}",
                       "{{ x is }}",
                       "{% break %}",
                       "}}{{)}}",
                       "{{ a.b.c( }}",
                       "{% for x in y %}{% endif %}"};
  for (const char* s : bad) {
    std::string err = error_of(s);
    EXPECT_EQ(err.rfind("chat template line ", 0), 0u) << s << " -> " << err;
  }
}

TEST(Jinja, UndefinedAttributeOfUndefinedIsAnError) {
  EXPECT_EQ(render("[{{ nothing }}][{{ nothing is defined }}]"), "[][False]");
  EXPECT_EQ(error_of("{{ nothing.attr }}"), "chat template line 1: 'nothing' is undefined");
}

TEST(Jinja, ResourceLimits) {
  EXPECT_NE(error_of("{{ 'x' * 1000000000000 }}").find("size limit"), std::string::npos);
  EXPECT_NE(error_of("{{ range(100000000000) | length }}").find("limit"), std::string::npos);
  EXPECT_NE(error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("too deep"),
            std::string::npos);
  std::string deep(5000, '(');
  EXPECT_NE(error_of("{{ " + deep + " }}").find("chat template line 1"), std::string::npos);
  EXPECT_NE(error_of("{{ 2 ** 200 }}").find("integer overflow"), std::string::npos);
}

TEST(Jinja, StrftimeNow) {
  std::string y = render("{{ strftime_now('%Y') }}");
  ASSERT_EQ(y.size(), 4u);
  EXPECT_GE(std::stoi(y), 2024);
}

}  // namespace
}  // namespace duet
