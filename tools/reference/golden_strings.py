"""Deterministic test strings for the tokenizer golden files (see make_tokenizer_golden.py)."""
import random
import unicodedata

ENGLISH = [
    "Hello, world!", "The quick brown fox jumps over the lazy dog.", "I'm sure they'll say we've",
    "DON'T SHOUT, it's RUDE", "camelCaseIdentifier and PascalCaseName", "e.g. i.e. etc.",
    "Mr. O'Neil's car", "state-of-the-art", "  leading spaces", "trailing spaces   ", "",
    " ", "a", "A", "Hello\nworld", "tab\tseparated\tvalues", "line1\r\nline2\r\n", "\n\n\n",
]
WORDS = ("the of and to in is was for that with as on by at from his her they this which "
         "transformer attention mixture experts routing latent compression gradient tokenizer "
         "Hello World Python Rust CUDA GPU kernel throughput latency").split()
CODE = [
    "def f(x):\n    return x * 2\n", "int main() { return 0; }", "for (int i = 0; i < n; ++i) {}",
    "x = [1, 2, 3]  # comment", "if a != b && c >= d || !e:", "std::vector<int32_t> ids;",
    "<div class=\"a\">text</div>", "SELECT * FROM t WHERE id = 42;", "$ ls -la | grep foo",
    "{\"key\": [true, false, null], \"n\": -1.5e-3}", "a->b; c::d; e=>f; g...h", "```python\n```",
    "\tindented\n\t\tmore\n", "    four spaces\n        eight", "#include <stdio.h>\n",
]
NUMBERS = ["0", "12", "123", "1234", "12345678901234567890", "3.14159", "1,000,000", "-42",
           "2024-01-15", "v1.2.3", "0x1F", "1e10", "١٢٣٤", "一二三", "①②③", "Ⅻ", "½¾", "²³"]
WHITESPACE = [" " * n for n in (1, 2, 3, 7, 16)] + ["\t", "\t\t\t", "\r\n", "\r\n\r\n", "\r",
              " \n ", "\u00a0", "a\u00a0b", "\u00a0\u00a0 x", "\u3000", "a \t\n b", "x\u2003y",
              "\u2028\u2029", "\u0085", "a\u0085b", "\x0b\x0c", "\x1c\x1d\x1e\x1f", "end \n"]
CJK = ["你好，世界！", "我爱自然语言处理。", "「こんにちは」と言った。", "東京、大阪、京都",
       "カタカナとひらがな", "한국어 텍스트입니다", "中文English混合mixed文本", "数字123和汉字",
       "这是一个很长的句子，包含标点符号：逗号、句号。还有「引号」和《书名号》！",
       "ｆｕｌｌｗｉｄｔｈ　ＡＢＣ", "漢字・かな・カナ", "㐀㐁䶵", "𠀀𠀁𪛖"]
OTHER_SCRIPTS = ["Привет, мир!", "Съешь же ещё этих мягких французских булок", "مرحبا بالعالم",
                 "السلام عليكم ورحمة الله", "नमस्ते दुनिया", "สวัสดีชาวโลก", "Γειά σου Κόσμε",
                 "שלום עולם", "Ελληνικά ΚΕΦΑΛΑΙΑ", "Türkçe ğüşıöç", "Tiếng Việt có dấu",
                 "ქართული", "Հայերեն", "ᐊᐃᐅ", "ꦧꦱꦗꦮ"]
EMOJI = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸🇯🇵", "❤️", "I ❤️ NY", "🤖🚀✨", "👩🏾‍💻 coding",
         "😀😀😀😀😀", "☃", "⚡️", "🧑‍🤝‍🧑", "#️⃣", "text😀text"]
COMBINING = ["e\u0301", "a\u0308o\u0308u\u0308", "n\u0303", "Z\u0335\u0321a\u0336l\u0337g\u0338o",
             "\u0301start", "क्षि", "é vs é", "ﬁ ﬂ", "Å Å", "\u200b\u200c\u200d", "\ufeffbom",
             "a\u180eb", "\u00adsoft\u00adhyphen"]


def long_words(rng):
    out = ["a" * 300, "ab" * 250, "supercalifragilisticexpialidocious" * 20,
           "x" * 1000 + "y" * 1000, "".join(rng.choice("abcdefghij") for _ in range(2000)),
           "中" * 500, "😀" * 200, "1" * 500, "-" * 400, "=" * 100 + "\n" + "-" * 100,
           "Pneumonoultramicroscopicsilicovolcanoconiosis", " " * 300 + "x", "\n" * 200,
           "\t" * 100, "a b" * 300]
    return out


def sentences(rng, n):
    out = []
    for _ in range(n):
        k = rng.randint(1, 20)
        s = " ".join(rng.choice(WORDS) for _ in range(k))
        s += rng.choice(["", ".", "!", "?", "\n", ",", ":"])
        out.append(s)
    return out


def assigned(cp):
    # Unicode 14 assigned characters only: PCRE2 10.42 and Python 3.11 use Unicode 14, while the
    # Rust/Onig regexes in the reference libraries may be newer; unassigned code points would
    # test version skew, not the tokenizer.
    c = chr(cp)
    return unicodedata.category(c) not in ("Cn", "Cs")


RANGES = [(0x20, 0x7F), (0x0, 0x20), (0xA0, 0x250), (0x300, 0x370), (0x370, 0x530),
          (0x590, 0x700), (0x900, 0xE00), (0x1100, 0x1200), (0x2000, 0x2BFF), (0x3000, 0x3100),
          (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xFF00, 0xFFEF), (0x1F300, 0x1FAFF),
          (0x20000, 0x2A6DF), (0x10000, 0x10FFF), (0xE000, 0xE0FF)]


def fuzz(rng, n):
    out = []
    for _ in range(n):
        k = rng.randint(1, 40)
        chars = []
        while len(chars) < k:
            lo, hi = rng.choice(RANGES)
            cp = rng.randrange(lo, hi)
            if assigned(cp):
                chars.append(chr(cp))
        out.append("".join(chars))
    return out


def mixes(rng, pool, n):
    return ["".join(rng.choice(pool) for _ in range(rng.randint(2, 5))) for _ in range(n)]


def build(specials, lookalikes, seed=1234):
    """Returns the list of strings for one format. specials: real special-token strings."""
    rng = random.Random(seed)
    base = ENGLISH + CODE + NUMBERS + WHITESPACE + CJK + OTHER_SCRIPTS + EMOJI + COMBINING
    strings = list(base)
    strings += long_words(rng)
    strings += sentences(rng, 400)
    strings += mixes(rng, base, 500)
    strings += fuzz(rng, 700)
    strings += [str(rng.randint(0, 10 ** rng.randint(1, 25))) for _ in range(100)]
    tok_pool = specials + lookalikes
    for _ in range(250):
        parts = []
        for _ in range(rng.randint(1, 6)):
            parts.append(rng.choice(tok_pool) if rng.random() < 0.5 else rng.choice(base))
        strings.append("".join(parts))
    strings += specials + lookalikes
    return strings
