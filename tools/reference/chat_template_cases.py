"""Conversations and interpreter cases for make_chat_template_golden.py."""
import json

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the weather — in °C, for a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name, e.g. \"Paris\""},
        "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}}}
SEARCH_TOOL = {"type": "function", "function": {
    "name": "search", "description": "Search the web.\nReturns <html> snippets & links.",
    "parameters": {"type": "object", "properties": {"q": {"type": "string"},
                                                    "top_k": {"type": "integer", "default": 5}}}}}
TOOLS = [WEATHER_TOOL, SEARCH_TOOL]


def call(i, name, args, as_string=True):
    return {"id": f"functions.{name}:{i}", "type": "function",
            "function": {"name": name,
                         "arguments": json.dumps(args, ensure_ascii=False) if as_string else args}}


def conversations(template):
    # DeepSeek-style templates need content None on tool-call messages and string arguments.
    ds = template in ("deepseek-v3", "r1-style")
    tc_content = None if ds else ""
    convs = []
    texts = ["Hi", "", "  leading and trailing spaces  ", "line1\nline2\n\n\tindented\n",
             "emoji 🤖🎉 and CJK 你好，世界 and RTL שלום", "quotes ' \" \\ backslash {{ not jinja }} {% raw %}",
             "\r\nCRLF\r\n", "   ", "<think>hidden</think>visible answer",
             "a" * 300, "Ünïcödé ñ ß ǅ", "json {\"a\": [1, 2]}"]
    for i, t in enumerate(texts):
        for gen in (False, True):
            convs.append({"messages": [{"role": "user", "content": t}], "add_generation_prompt": gen})
    convs.append({"messages": [{"role": "system", "content": "You are terse."},
                               {"role": "user", "content": "2+2?"},
                               {"role": "assistant", "content": "4"},
                               {"role": "user", "content": "and 3+3?"}], "add_generation_prompt": True})
    convs.append({"messages": [{"role": "system", "content": "First system."},
                               {"role": "system", "content": "Second system."},
                               {"role": "user", "content": "hello"}]})
    convs.append({"messages": [{"role": "user", "content": "q1"},
                               {"role": "assistant", "content": "<think>reasoning 1</think>a1"},
                               {"role": "user", "content": "q2"},
                               {"role": "assistant", "content": "<think>reasoning 2</think>\n\na2"}]})
    for gen in (False, True):
        convs.append({"messages": [
            {"role": "system", "content": "Use tools when needed."},
            {"role": "user", "content": "Weather in Zürich and 東京?"},
            {"role": "assistant", "content": tc_content, "tool_calls": [
                call(0, "get_weather", {"city": "Zürich", "unit": "c"}),
                call(1, "get_weather", {"city": "東京"})]},
            {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "{\"temp\": 3.5}"},
            {"role": "tool", "tool_call_id": "functions.get_weather:1", "content": "晴れ 18°C"},
            {"role": "assistant", "content": "Zürich: 3.5°C; 東京: 18°C ☀️"},
            {"role": "user", "content": "thanks!"}], "tools": TOOLS, "add_generation_prompt": gen})
    convs.append({"messages": [
        {"role": "user", "content": "search cats"},
        {"role": "assistant", "content": tc_content, "tool_calls": [
            call(0, "search", {"q": "cats \"funny\" 🐱", "top_k": 3})]},
        {"role": "tool", "tool_call_id": "functions.search:0", "content": ""}],
        "tools": [SEARCH_TOOL], "add_generation_prompt": True})
    convs.append({"messages": [
        {"role": "user", "content": "search"},
        {"role": "assistant", "content": tc_content, "tool_calls": [
            call(0, "search", {"q": "x\ny\tz", "nested": {"a": [1, 2.5, None, True]}})]},
        {"role": "tool", "tool_call_id": "functions.search:0", "content": "result\n  with\n  lines"}],
        "tools": TOOLS})
    convs.append({"messages": [{"role": "user", "content": "no tools here"}], "tools": [],
                  "add_generation_prompt": True})
    multi = []
    for i in range(6):
        multi += [{"role": "user", "content": f"turn {i} 🙂"}, {"role": "assistant", "content": f"reply {i}"}]
    convs.append({"messages": multi, "add_generation_prompt": False})
    convs.append({"messages": multi + [{"role": "user", "content": "last"}], "add_generation_prompt": True})
    convs.append({"messages": [{"role": "system", "content": ""}, {"role": "user", "content": ""}],
                  "add_generation_prompt": True})
    convs.append({"messages": [], "add_generation_prompt": True})
    if not ds:
        # Dict arguments (rendered with tojson) and named messages.
        convs.append({"messages": [
            {"role": "user", "content": "weather?", "name": "alice"},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [
                call(0, "get_weather", {"city": "São Paulo", "unit": "f"}, as_string=False)]},
            {"role": "tool", "tool_call_id": "functions.get_weather:0", "content": "25"}],
            "tools": TOOLS, "add_generation_prompt": True})
        convs.append({"messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"type": "function", "function": {"name": "search", "arguments": {"q": "é", "k": [1, {"z": None}]}}}]}],
            "tools": TOOLS})
    if template == "kimi-style":
        convs.append({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in "}, {"type": "image_url", "image_url": {"url": "x"}},
            {"type": "text", "text": " this image?"}]}], "add_generation_prompt": True})
        convs.append({"messages": [{"role": "narrator", "content": "bad role"}]})
        convs.append({"messages": [{"role": "user", "content": "hi"}], "extra": {"thinking": True},
                      "add_generation_prompt": True})
    return convs


JINJA_CASES = [
    # whitespace control, trim_blocks, lstrip_blocks
    ("a\n  {% if true %}\n  b\n  {% endif %}\nc", None),
    ("a  {%- if true -%}  b  {%- endif -%}  c", None),
    ("  {{ 'x' }}  \n  {{- 'y' -}}  \n z", None),
    ("x\n    {# comment #}\ny", None),
    ("x {#- comment -#} y", None),
    ("{% for i in [1,2] %}\n{{ i }}\n{% endfor %}\n", None),
    ("  {%+ if true %}kept{% endif %}", None),
    ("{% if true +%}\nnewline kept{% endif %}", None),
    ("{% raw %}{{ not evaluated }}{% endraw %}\nafter", None),
    ("a\r\nb\rc\n", None),
    ("trailing\n\n", None),
    ("\t{% set x = 1 %}\n{{ x }}", None),
    # literals and printing
    ("{{ 1 }} {{ 1.0 }} {{ 1.5e3 }} {{ 1e-5 }} {{ 1e16 }} {{ 123456789012345.0 }} {{ -0.0 }}", None),
    ("{{ True }} {{ false }} {{ none }} {{ None }}", None),
    ("{{ [1, 'a', None, True, 2.5] }} {{ {'k': 'v', 'n': [1]} }} {{ (1,) }} {{ () }}", None),
    ("{{ 'it\\'s' }} {{ \"say \\\"hi\\\"\" }} {{ 'tab\\tnl\\n' }} {{ '\\u00e9\\x41' }}", None),
    ("{{ ['it\\'s', 'a\"b', 'both\\'\"'] }}", None),
    ("{{ 'a' 'b' }}", None),
    ("{{ 1_000 }}", None),
    # arithmetic
    ("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }}", None),
    ("{{ 1 + 2 * 3 - 4 }} {{ (1 + 2) * 3 }} {{ 0.1 + 0.2 }} {{ 3 * 'ab' }} {{ [1] * 2 }}", None),
    ("{{ 'a' ~ 1 ~ none ~ true }} {{ 'a' + 'b' }} {{ [1] + [2] }} {{ -x }}", {"x": 5}),
    ("{{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 1 + True }}", None),
    ("{{ 1 + 'a' }}", None),
    ("{{ 1 / 0 }}", None),
    # comparisons and logic
    ("{{ 1 < 2 < 3 }} {{ 1 == 1.0 }} {{ 'a' < 'b' }} {{ [1, 2] == [1, 2] }} {{ 1 != 2 }}", None),
    ("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'abc' }}", None),
    ("{{ 0 or 'x' }} {{ 1 and 'y' }} {{ '' and 'z' }} {{ not 0 }} {{ none or [] }}", None),
    ("{{ 'yes' if x else 'no' }} {{ 'yes' if y else 'no' }} [{{ 'only' if false }}]", {"x": 1, "y": []}),
    ("{{ 1 < 'a' }}", None),
    ("{{ true == 1 }} {{ none == none }} {{ 'a' == 'a' }}", None),
    # tests
    ("{{ x is defined }} {{ y is undefined }} {{ none is none }} {{ 1 is number }} {{ 1.0 is float }}", {"x": 1}),
    ("{{ 1 is integer }} {{ true is integer }} {{ true is boolean }} {{ 'a' is string }} {{ {} is mapping }}", None),
    ("{{ [] is iterable }} {{ 'a' is sequence }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }}", None),
    ("{{ 9 is divisibleby(4) }} {{ true is true }} {{ 0 is false }} {{ x is not none }} {{ 1 is eq 1 }}", {"x": 0}),
    ("{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 2 is gt 1 }} {{ 2 is in [1, 2] }} {{ range is callable }}", None),
    ("{{ u is iterable }} {{ u is sequence }} {{ true is number }} {{ none is string }}", None),
    ("{{ 1 is sameas 1 }} {{ none is sameas none }}", None),
    # variables, attributes, items, slices
    ("{{ m.role }} {{ m['content'] }} {{ m.missing }}|{{ m['missing'] }}|{{ m.get('x', 'dflt') }}", {"m": {"role": "user", "content": "hi"}}),
    ("{{ l[0] }} {{ l[-1] }} {{ l[1:] }} {{ l[::-1] }} {{ l[:2] }} {{ l[5] }}|{{ l.1 }}", {"l": [1, 2, 3]}),
    ("{{ s[0] }} {{ s[-2:] }} {{ s[::-1] }} {{ s[1:4:2] }} {{ s[10:] }}|", {"s": "héllo🙂"}),
    ("{{ d.items is callable }} {{ d.get is defined }}", {"d": {"items": 1}}),
    ("{{ d['items'] }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list }}", {"d": {"items": 1, "b": 2}}),
    ("{{ none.attr }}|{{ 1.attr }}|", None),
    ("{{ undefined_var.attr }}", None),
    ("{{ undefined_var['k'] }}", None),
    ("{{ m.a.b }}", {"m": {}}),
    # statements
    ("{% if x %}a{% elif y %}b{% else %}c{% endif %}", {"x": 0, "y": 1}),
    ("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("{% for x in [] %}x{% else %}empty{% endfor %}", None),
    ("{% for i in range(5) if i is odd %}{{ loop.index }}/{{ loop.length }}/{{ i }} {% endfor %}", None),
    ("{% for i in 'ab' %}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.revindex }}{{ loop.revindex0 }}{% endfor %}", None),
    ("{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}", None),
    ("{% for i in [1,2,3] %}{{ loop.previtem }}-{{ loop.nextitem }}-{{ loop.cycle('a','b') }} {% endfor %}", None),
    ("{% for i in range(3) %}{% if i == 1 %}{% set x = 5 %}{% endif %}[{{ x }}]{% endfor %}[{{ x }}]", None),
    ("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}", None),
    ("{% set ns = namespace(a=1, b='x') %}{% for i in range(3) %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}{{ ns.b }}", None),
    ("{% set a, b = [1, 2] %}{{ a }}{{ b }}", None),
    ("{% set blk %}  captured {{ 1 + 1 }}  {% endset %}[{{ blk }}]", None),
    ("{% set blk | upper %}shout{% endset %}{{ blk }}", None),
    ("{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}{{ greet('Bob') }} {{ greet('Al', punct='?') }}", None),
    ("{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}inner{% endcall %}", None),
    ("{% filter upper %}shout {{ 'this' }}{% endfilter %}", None),
    ("{% generation %}gen body{% endgeneration %}", None),
    ("{% for x in [1] %}{% for y in [2] %}{{ loop.index }}{{ x }}{{ y }}{% endfor %}{{ loop.index }}{% endfor %}", None),
    ("{% if not add_generation_prompt is defined %}undefined{% else %}defined {{ add_generation_prompt }}{% endif %} {{ tools }} {{ documents }} {{ messages }}", None),
    # string methods
    ("[{{ s.strip() }}][{{ s.lstrip() }}][{{ s.rstrip() }}][{{ 'xxaxx'.strip('x') }}]", {"s": " \t hi \n "}),
    ("{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a  b  c  '.split(None, 1) }}", None),
    ("{{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'ab'.replace('', '-') }}", None),
    ("{{ 'hÉllo wOrld'.upper() }} {{ 'HÉLLO'.lower() }} {{ 'hello world-x'.title() }} {{ 'hELLO'.capitalize() }}", None),
    ("{{ 'héllo'.find('l') }} {{ 'abc'.find('z') }} {{ 'a-b-c'.count('-') }} {{ ', '.join(['a', 'b']) }} {{ 'x{}y{}'.format(1, 'z') }}", None),
    ("{{ '{name} is {0}'.format(3, name='n') }} {{ 'abc'.rfind('c') }} {{ 'a\\nb\\r\\nc'.splitlines() }}", None),
    ("{{ '123'.isdigit() }} {{ 'abc'.isalpha() }} {{ '  '.isspace() }} {{ 'ab'.islower() }} {{ 'AB'.isupper() }}", None),
    ("{{ 'prefix-body'.removeprefix('prefix-') }} {{ 'body.txt'.removesuffix('.txt') }} {{ 'ab'.center(6) }}|", None),
    ("{{ c.split('</think>')[-1].strip() }}", {"c": "<think>\nplan\n</think>\n\nanswer  "}),
    # filters
    ("{{ [1, 2, 3] | length }} {{ 'héllo' | length }} {{ {'a': 1} | count }} {{ [3, 1] | first }} {{ [3, 1] | last }}", None),
    ("{{ ['a', 'b'] | join(', ') }} {{ [1, 2] | join }} {{ users | join(', ', attribute='name') }}", {"users": [{"name": "a"}, {"name": "b"}]}),
    ("{{ x | default('d') }} {{ '' | default('d') }} {{ '' | default('d', true) }} {{ none | default('d') }} {{ 0 | d('z', true) }}", None),
    ("{{ 'Hello' | upper }} {{ 'Hello' | lower }} {{ 'hello world' | title }} {{ 'hello World' | capitalize }} {{ '  x  ' | trim }}", None),
    ("{{ 'aXbX' | replace('X', '-') }} {{ 1 | string }} {{ '42' | int }} {{ '4.5' | float }} {{ 'x' | int }} {{ 3.9 | int }} {{ '0x1A' | int(0, 16) }}", None),
    ("{{ 'abc' | list }} {{ {'a': 1, 'b': 2} | list }} {{ users | map(attribute='name') | list }} {{ ['a', 'b'] | map('upper') | list }}", {"users": [{"name": "x"}, {"name": "y"}]}),
    ("{{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('even') | list }} {{ [0, 1, '', 'a'] | select | list }}", None),
    ("{{ users | selectattr('admin') | map(attribute='name') | list }} {{ users | rejectattr('admin') | list | length }} {{ users | selectattr('name', 'equalto', 'b') | list }}", {"users": [{"name": "a", "admin": True}, {"name": "b", "admin": False}]}),
    ("{{ {'b': 1, 'a': 2} | items | list }} {{ {'b': 1, 'A': 2, 'a': 0} | dictsort }} {{ {'b': 1, 'a': 2} | dictsort(by='value') }}", None),
    ("{{ 'a\\nb\\n\\nc' | indent }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(2, blank=true) }}|{{ 'x\\ny' | indent('> ') }}", None),
    ("{{ '<b>&\"\\'' | e }} {{ '<b>' | escape }} {{ '<b>' | safe }}", None),
    ("{{ -3 | abs }} {{ -2.5 | abs }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.675 | round(2) }} {{ 2.1 | round(0, 'ceil') }} {{ 2.9 | round(method='floor') }} {{ 5 | round }}", None),
    ("{{ [3, 1, 2, 1] | unique | list }} {{ ['b', 'A', 'a'] | sort }} {{ [3, 1, 2] | sort(reverse=true) }} {{ users | sort(attribute='age') | map(attribute='n') | list }}", {"users": [{"n": "x", "age": 3}, {"n": "y", "age": 1}]}),
    ("{{ [1, 2] | reverse | list }} {{ 'abc' | reverse }} {{ [1, 2, 3] | sum }} {{ [1.5, 2] | sum(start=1) }} {{ [3, 9, 2] | max }} {{ [3, 9, 2] | min }} {{ ['B', 'a'] | max }}", None),
    ("{{ 'one two  three' | wordcount }} {{ 'ab' | center(7) }}| {{ [1, 2, 3, 4, 5] | batch(2) | list }} {{ [1, 2, 3] | batch(2, 0) | list }}", None),
    ("{{ x | tojson }}", {"x": {"b": [1, 2.0, None, True, "é\n\"q\"<>&'"], "a": {"n": -1}}}),
    ("{{ x | tojson(indent=2) }}|{{ x | tojson(sort_keys=true) }}|{{ x | tojson(separators=(',', ':')) }}|{{ x | tojson(indent=0) }}", {"x": {"b": [1, {}], "a": [], "c": "🙂"}}),
    ("{{ x | tojson(ensure_ascii=true) }} {{ 1.0 | tojson }} {{ 'a\\u0001\\u007f' | tojson }} {{ x | tojson(indent='\\t') }}", {"x": {"k": "é🙂"}}),
    ("{{ [1, 2] | tojson }} {{ none | tojson }} {{ 1e20 | tojson }} {{ 0.1 | tojson }}", None),
    ("{{ undefined_thing | tojson }}", None),
    ("{{ ns | tojson }}", None),
    ("{{ [] | first }}|{{ [] | max }}|{{ undefined_thing | length }}|{{ undefined_thing | list }}", None),
    ("{{ {'a': 1} | attr('a') }}|{{ 'abc' | attr('upper') is callable }}", None),
    ("{{ x | int }} {{ x | float }} {{ ' 7 ' | int }} {{ '1e3' | int }}", {"x": True}),
    # globals
    ("{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(5, 0, -2) | list }} {{ range(0) | list }}", None),
    ("{{ dict(a=1, b='x') }} {{ dict(a=1).a }}", None),
    ("{% set ns = namespace() %}{% set ns.items = [1] %}{{ ns.items }}", None),
    ("{{ raise_exception('custom failure') }}", None),
    # errors Jinja reports
    ("{% for x in 1 %}{% endfor %}", None),
    ("{{ x() }}", {"x": 1}),
    ("{% set x.y = 1 %}", {"x": {"y": 0}}),
    ("{{ 'abc'[1.5] }}", None),
]
