"""Deterministic generator of GSM8K-style arithmetic word problems.

Every problem is a short story (several templates) over addition, subtraction
(up to 4-digit operands) and multiplication (up to 2-digit by 3-digit), some of
them two-step.  Answers are worked in GSM8K style, with each calculation
annotated like GSM8K's calculator marks `<<...>>` but holding grade-school
column work, and the last line is `#### N`.

Why column work: the model writes numbers most-significant digit first, but
carries flow from the least significant digit.  Each annotation therefore
walks the columns right-to-left, writing one small, local step per column and
the digits found so far in parentheses (a growing suffix of the result), so
that every generated token depends only on a few nearby tokens:

  addition       1234 + 567 = <<4+7+0=11 (1), 3+6+1=10 (01), 2+5+1=8 (801), 1+0+0=1 (1801)>>1801
                 column: top digit + bottom digit + carry-in = column sum
  subtraction    1234 - 567 = <<14-7-0=7 (7), 13-6-1=6 (67), 12-5-1=6 (667), 1-0-1=0 (0667)>>667
                 column: (10+)top - bottom - borrow-in = digit; a leading "1" means we borrowed
  multiplication 12 * 144 = <<4*12=48 (8), 4*12+4=48+4=52 (28), 1*12+5=12+5=17 (1728)>>1728
                 column: digit * multiplier + carry = product + carry = value; carry = value // 10

The final result after `>>` is the last parenthesised suffix without leading zeros.
"""
import random

# --------------------------------------------------------------------------
# Column work
# --------------------------------------------------------------------------


def _digits_lsb(x: int, n: int) -> list:
    """Digits of x, least significant first, zero-padded to n digits."""
    return [(x // 10 ** i) % 10 for i in range(n)]


def work_add(a: int, b: int) -> tuple:
    n = max(len(str(a)), len(str(b)))
    da, db = _digits_lsb(a, n), _digits_lsb(b, n)
    steps, suffix, carry = [], "", 0
    for i in range(n):
        s = da[i] + db[i] + carry
        top = i == n - 1
        suffix = (str(s) if top else str(s % 10)) + suffix
        steps.append(f"{da[i]}+{db[i]}+{carry}={s} ({suffix})")
        carry = s // 10
    r = a + b
    assert int(suffix) == r
    return f"{a} + {b} = <<{', '.join(steps)}>>{r}", r


def work_sub(a: int, b: int) -> tuple:
    assert a >= b >= 0
    n = len(str(a))
    da, db = _digits_lsb(a, n), _digits_lsb(b, n)
    steps, suffix, borrow = [], "", 0
    for i in range(n):
        d = da[i] - db[i] - borrow
        top = "1" + str(da[i]) if d < 0 else str(da[i])   # "1x" marks a borrow
        nb = 1 if d < 0 else 0
        d += 10 * nb
        suffix = str(d) + suffix
        steps.append(f"{top}-{db[i]}-{borrow}={d} ({suffix})")
        borrow = nb
    r = a - b
    assert borrow == 0 and int(suffix) == r
    return f"{a} - {b} = <<{', '.join(steps)}>>{r}", r


def work_mul(m: int, x: int) -> tuple:
    """m (multiplier, <= 2 digits) times x (<= 3 digits): walk the digits of x."""
    n = len(str(x))
    dx = _digits_lsb(x, n)
    steps, suffix, carry = [], "", 0
    for i in range(n):
        p = dx[i] * m
        v = p + carry
        top = i == n - 1
        suffix = (str(v) if top else str(v % 10)) + suffix
        if i == 0:
            steps.append(f"{dx[i]}*{m}={p} ({suffix})")
        else:
            steps.append(f"{dx[i]}*{m}+{carry}={p}+{carry}={v} ({suffix})")
        carry = v // 10
    r = m * x
    assert int(suffix) == r
    return f"{m} * {x} = <<{', '.join(steps)}>>{r}", r


# --------------------------------------------------------------------------
# Stories
# --------------------------------------------------------------------------

NAMES = [("Tom", "he"), ("Sara", "she"), ("Ali", "he"), ("Mia", "she"), ("Ben", "he"),
         ("Lena", "she"), ("Omar", "he"), ("Zoe", "she"), ("Ivan", "he"), ("Nora", "she"),
         ("Ravi", "he"), ("Emma", "she"), ("Jack", "he"), ("Lucy", "she"), ("Sam", "he"),
         ("Anna", "she")]
ITEMS = ["apples", "marbles", "stickers", "books", "pencils", "cookies", "coins", "cards",
         "stamps", "shells", "beads", "eggs", "oranges", "candies", "nails", "buttons"]
CONTAINERS = ["boxes", "bags", "crates", "jars", "packs", "baskets"]
PLACES = [("store", "sells"), ("bakery", "sells"), ("library", "lends out"), ("farm", "ships"),
          ("warehouse", "ships"), ("school", "gives away")]


def _num(rng: random.Random, max_digits: int, lo: int = 1) -> int:
    """Uniform number of digits in [1, max_digits], then a uniform value with that many digits."""
    nd = rng.randint(1, max_digits)
    return rng.randint(max(lo, 10 ** (nd - 1) if nd > 1 else 0), 10 ** nd - 1)


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


def p_add(rng):
    (nm, pr), it = rng.choice(NAMES), rng.choice(ITEMS)
    a, b = _num(rng, 4), _num(rng, 4)
    w, r = work_add(a, b)
    t = rng.randrange(3)
    if t == 0:
        q = f"{nm} has {a} {it}. {_cap(pr)} buys {b} more. How many {it} does {pr} have now?"
        ans = f"{nm} has {w} {it} now."
    elif t == 1:
        (nm2, _) = rng.choice(NAMES)
        q = f"{nm} has {a} {it} and {nm2} has {b} {it}. How many {it} do they have together?"
        ans = f"Together they have {w} {it}."
    else:
        q = f"A car travels {a} km on Monday and {b} km on Tuesday. How many km does it travel in total?"
        ans = f"The car travels {w} km in total."
    return q, ans, r


def p_sub(rng):
    (nm, pr), it = rng.choice(NAMES), rng.choice(ITEMS)
    a = _num(rng, 4)
    b = rng.randint(0, a) if rng.random() < 0.5 else min(a, _num(rng, 4))
    w, r = work_sub(a, b)
    t = rng.randrange(3)
    if t == 0:
        (nm2, _) = rng.choice(NAMES)
        q = f"{nm} has {a} {it}. {_cap(pr)} gives {b} of them to {nm2}. How many {it} does {nm} have left?"
        ans = f"{nm} has {w} {it} left."
    elif t == 1:
        place, verb = rng.choice(PLACES)
        q = f"A {place} has {a} {it}. It {verb} {b} {it}. How many {it} does the {place} have left?"
        ans = f"The {place} has {w} {it} left."
    else:
        q = f"A road is {a} meters long. Workers have painted {b} meters of it. How many meters are not painted yet?"
        ans = f"There are {w} meters not painted yet."
    return q, ans, r


def _mul_operands(rng):
    m = _num(rng, 2, lo=2)      # multiplier: up to 2 digits
    x = _num(rng, 3, lo=2)      # multiplicand: up to 3 digits
    return m, x


def p_mul(rng):
    (nm, pr), it, box = rng.choice(NAMES), rng.choice(ITEMS), rng.choice(CONTAINERS)
    m, x = _mul_operands(rng)
    w, r = work_mul(m, x)
    t = rng.randrange(3)
    if t == 0:
        q = f"{nm} buys {m} {box} of {it}. Each of the {box} holds {x} {it}. How many {it} does {nm} buy?"
        ans = f"{nm} buys {w} {it}."
    elif t == 1:
        q = f"A farmer plants {m} rows of trees with {x} trees in each row. How many trees does the farmer plant?"
        ans = f"The farmer plants {w} trees."
    else:
        q = f"A bus drives {x} km every day. How many km does it drive in {m} days?"
        ans = f"In {m} days it drives {w} km."
    return q, ans, r


def p_two_step(rng):
    (nm, pr), it, box = rng.choice(NAMES), rng.choice(ITEMS), rng.choice(CONTAINERS)
    t = rng.randrange(4)
    if t == 0:      # multiply, then subtract
        place, verb = rng.choice(PLACES)
        m, x = _mul_operands(rng)
        w1, r1 = work_mul(m, x)
        c = rng.randint(0, min(r1, 9999))
        w2, r2 = work_sub(r1, c)
        q = (f"A {place} has {m} {box} with {x} {it} in each. It {verb} {c} {it}. "
             f"How many {it} does the {place} have left?")
        ans = f"The {place} has {w1} {it}. After that it has {w2} {it} left."
    elif t == 1:    # multiply, then add
        m, x = _mul_operands(rng)
        w1, r1 = work_mul(m, x)
        c = _num(rng, 4)
        w2, r2 = work_add(r1, c)
        q = (f"{nm} earns {x} dollars a day for {m} days and then gets a bonus of {c} dollars. "
             f"How many dollars does {pr} get in total?")
        ans = f"{nm} earns {w1} dollars. With the bonus {pr} gets {w2} dollars."
    elif t == 2:    # add, then subtract
        a, b = _num(rng, 4), _num(rng, 4)
        w1, r1 = work_add(a, b)
        c = rng.randint(0, min(r1, 9999))
        w2, r2 = work_sub(r1, c)
        q = (f"{nm} has {a} {it}. {_cap(pr)} buys {b} more and then gives away {c}. "
             f"How many {it} does {pr} have now?")
        ans = f"{nm} has {w1} {it} after buying. After giving some away {pr} has {w2} {it}."
    else:           # subtract, then add
        a = _num(rng, 4)
        b = rng.randint(0, a)
        w1, r1 = work_sub(a, b)
        c = _num(rng, 4)
        w2, r2 = work_add(r1, c)
        q = (f"A tank holds {a} liters of water. {b} liters are used and then {c} liters are added. "
             f"How many liters are in the tank now?")
        ans = f"After use the tank holds {w1} liters. Then it holds {w2} liters."
    return q, ans, r2


KINDS = [("add", p_add, 0.25), ("sub", p_sub, 0.25), ("mul", p_mul, 0.2), ("two_step", p_two_step, 0.3)]


def make_problem(rng: random.Random, kind: str = None) -> dict:
    """One problem as a GSM8K-style dict: question, worked answer ending in '#### N', kind."""
    if kind is None:
        kind = rng.choices([k for k, _, _ in KINDS], weights=[w for _, _, w in KINDS])[0]
    fn = {k: f for k, f, _ in KINDS}[kind]
    q, ans, r = fn(rng)
    assert r >= 0
    return {"question": q, "answer": f"{ans}\n#### {r}", "kind": kind}


def make_problems(seed: int, n: int, kinds: list = None) -> list:
    """n problems from one seed (deterministic). kinds, if given, cycles through those kinds."""
    rng = random.Random(seed)
    return [make_problem(rng, kinds[i % len(kinds)] if kinds else None) for i in range(n)]


if __name__ == "__main__":
    for p in make_problems(0, 8, kinds=["add", "sub", "mul", "two_step"]):
        print("Q:", p["question"])
        print("A:", p["answer"])
        print()


# --------------------------------------------------------------------------
# Worker for train.py: generate + tokenize one chunk in a separate process
# (lives here, not in train.py, so spawned workers need not import torch)
# --------------------------------------------------------------------------

def tokenize_chunk(args):
    """Generate one chunk of problems and tokenize it with the given tokenizer JSON.

    Returns flat int16 ids, per-example lengths and per-example question-part
    lengths (question part 'Question: q\\nAnswer:', answer part ' a').
    Problems whose question is in `exclude` (held-out / few-shot) are dropped.
    """
    import os
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one process per core already
    import numpy as np
    from tokenizers import Tokenizer
    import prompt_format as pf
    seed, n, tok_json, exclude = args
    tok = Tokenizer.from_str(tok_json)
    probs = [p for p in make_problems(seed, n) if p["question"] not in exclude]
    qs = tok.encode_batch([pf.format_query(p["question"]) for p in probs], add_special_tokens=False)
    ans = tok.encode_batch([" " + p["answer"] for p in probs], add_special_tokens=False)
    ids, lens, qlens = [], [], []
    for q, a in zip(qs, ans):
        ids.extend(q.ids)
        ids.extend(a.ids)
        lens.append(len(q.ids) + len(a.ids))
        qlens.append(len(q.ids))
    return np.asarray(ids, np.int16), np.asarray(lens, np.int32), np.asarray(qlens, np.int32)
