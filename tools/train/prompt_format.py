"""Single source of truth for the Question/Answer prompt format used by the
arithmetic model, its training data, and `duet eval`.

Format of one solved example (training text and few-shot exemplars):

    Question: {question}\nAnswer: {answer}

A K-shot evaluation prompt is K solved examples followed by the unsolved one,
all joined by a blank line ("\n\n"):

    Question: q1\nAnswer: a1\n\nQuestion: q2\nAnswer: a2\n\n...\n\nQuestion: q\nAnswer:

The tokenizer prepends BOS (add_special_tokens=True).  Greedy generation
stops at EOS or at the first stop string; the completion is the generated text
up to (not including) the earliest stop string.  The answer is the number
after "####", else the last number in the completion ("flexible extract").
"""
import re

EXAMPLE_SEP = "\n\n"               # between solved examples in a K-shot prompt
STOP_STRINGS = ["\n\n", "Question:"]
MAX_NEW_TOKENS = 256
DEFAULT_K = 3


def format_example(question: str, answer: str) -> str:
    """One solved example, exactly as it appears in training text and prompts."""
    return f"Question: {question}\nAnswer: {answer}"


def format_query(question: str) -> str:
    """The unsolved example that ends a prompt; the model continues after 'Answer:'."""
    return f"Question: {question}\nAnswer:"


def build_prompt(question: str, fewshot: list, k: int = DEFAULT_K) -> str:
    """K-shot prompt: the first k few-shot examples (dicts with question/answer), then the query."""
    parts = [format_example(ex["question"], ex["answer"]) for ex in fewshot[:k]]
    parts.append(format_query(question))
    return EXAMPLE_SEP.join(parts)


def truncate_at_stop(text: str) -> str:
    """Cut the completion at the earliest stop string (the stop string itself is dropped)."""
    cut = len(text)
    for s in STOP_STRINGS:
        i = text.find(s)
        if i != -1:
            cut = min(cut, i)
    return text[:cut]


_FINAL_RE = re.compile(r"####\s*(-?[0-9][0-9,]*(?:\.[0-9]+)?)")
_NUM_RE = re.compile(r"-?[0-9][0-9,]*(?:\.[0-9]+)?")


def _clean_number(s: str) -> str:
    s = s.replace(",", "")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def extract_answer(completion: str) -> str:
    """Number after '####'; else the last number in the text ("flexible extract"); else ''."""
    m = _FINAL_RE.search(completion)
    if m:
        return _clean_number(m.group(1))
    nums = _NUM_RE.findall(completion)
    return _clean_number(nums[-1]) if nums else ""


def gold_answer(answer: str) -> str:
    """Reference number of a GSM8K-style worked answer (text after the last '####')."""
    return _clean_number(answer.split("####")[-1].strip())
