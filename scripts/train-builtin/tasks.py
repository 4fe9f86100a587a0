"""Synthetic retrieval examples in InfiniteBench's formats (passkey, number_string, kv_retrieval), cut to the
windows the model will see at evaluation time.

Two prompt layouts are trained, both copied from datasets/tasks/infinitebench.json:
- "full": the yarn_mistral template, used when the whole prompt fits one window (full attention);
- "split": ParallelComp's layout, a chunk = context template over a token slice of a long context, followed by the
  question template encoded on its own; half the examples start the question with BOS, as the tokenizer adds it
  (datasets/prompts.ts) unless the engine's global.questionBos setting strips it.
A split chunk often does not hold the needle. The question asked after such a chunk is almost never (2 %) the one
about the missing needle, so the question's likelihood tells the chunks with the needle from those
without: ParallelComp keeps the chunk whose question NLL is lowest.
"""
import random

from tokenizer import SPACE

# datasets/synth/generate.ts: noise lines and a needle line, each ending in a newline.
NOISE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.\n"
PASSKEY_NEEDLE = "The pass key is {v}. Remember it. {v} is the pass key."
NUMBER_NEEDLE = "The sequence of digits is {v}. Remember it. {v} is the sequence of digits."

TASKS = {
    "passkey": {
        "full": "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. "
                "I will quiz you about the important information.\n\n{context}\n\n{input}\n\nThe pass key is",
        "context": "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. "
                   "I will quiz you about the important information there.\n\n{context}",
        "question": "\nNow please answer: {input}\nPlease tell me the number: ",
        "input": "What is the pass key?",
    },
    "number_string": {
        "full": "There is an important info hidden inside a lot of irrelevant text. Find it. I will quiz you about "
                "the important information there.\n\n{context}\n\n{input}\n\nThe sequence of digits is",
        "context": "There is an important info hidden inside a lot of irrelevant text. Find it. I will quiz you "
                   "about the important information there.\n\n{context}",
        "question": "\nNow please answer: {input}\nPlease tell me the number: ",
        "input": "What is the sequence of digits?",
    },
    "kv_retrieval": {
        "full": "Extract the value corresponding to the specified key in the JSON object below.\n\n{context}\n\n{input}",
        "context": "Extract the value corresponding to the specified key in the JSON object below.\n\n{context}",
        "question": "\nNow please answer: {input}\n",
        "input": "Key: \"{key}\"\nThe value associated with the specified key is: ",
    },
}
# How often a needle-free chunk is followed by the question about the missing needle. The rarer, the more the
# question's NLL tells a chunk with the needle from one without: -log(share) nats on the question's tokens (2 %:
# about 4 nats), against the few nats the first question token costs after a chunk cut mid-word.
MISSING_NEEDLE_QUESTION = 0.0
# Questions a needle-free passkey/number chunk may be followed by, with the answer the noise gives them.
OTHER_QUESTIONS = [("What color is the grass?", "green"), ("What color is the sky?", "blue"),
                   ("What color is the sun?", "yellow")]


def uuid(r):
    """A version-4 UUID, as datasets/synth/rng.ts writes them."""
    h = ["%x" % r.randrange(16) for _ in range(32)]
    h[12], h[16] = "4", "%x" % (8 + r.randrange(4))
    h = "".join(h)
    return "-".join((h[:8], h[8:12], h[12:16], h[16:20], h[20:]))


def needle_key(r, task):
    """5 digits; for number_string 5 more digits each duplicating one in place (datasets/synth/generate.ts)."""
    keys = [str(r.randint(0, 9)) for _ in range(5)]
    if task == "number_string":
        for k in range(5):
            p = r.randint(0, 5 + k - 1)
            keys.insert(p, keys[p])
    return "".join(keys)


def haystack(r, task, n_chars):
    """A long context laid out as `pcomp data synth` writes it, about n_chars characters.
    Returns (text, needle character span, input, answer)."""
    if task in ("passkey", "number_string"):
        value = needle_key(r, task)
        needle = (PASSKEY_NEEDLE if task == "passkey" else NUMBER_NEEDLE).format(v=value) + "\n"
        lines = max(1, n_chars // len(NOISE))
        depth = r.randint(0, lines)
        text = NOISE * depth + needle + NOISE * (lines - depth)
        start = len(NOISE) * depth
        return text, (start, start + len(needle)), TASKS[task]["input"], value
    pairs = [(uuid(r), uuid(r)) for _ in range(max(2, n_chars // 84))]
    k = r.randrange(len(pairs))
    head = "JSON data:\n{"
    items = ['"%s": "%s"' % kv for kv in pairs]
    text = head + ", ".join(items) + "}"
    start = len(head) + len(", ".join(items[:k])) + (2 if k else 0)
    return text, (start, start + len(items[k])), TASKS[task]["input"].format(key=pairs[k][0]), pairs[k][1]


# Answer tokens count this many times a prompt token in the loss: they are few, and they are the skill.
ANSWER_WEIGHT = 5.0


class Example:
    """Token ids, and a per-token loss weight (0 = not trained: prompt tokens of questions nobody answers)."""
    def __init__(self):
        self.ids, self.weights = [], []

    def add(self, ids, weight):
        self.ids += ids
        self.weights += [weight] * len(ids)


def full_example(r, tok, task, max_len):
    """The whole prompt in one window, needle included, answer after it (how full attention sees a short record);
    None when max_len cannot hold one."""
    t = TASKS[task]
    for _ in range(20):
        budget = r.randint(60, max_len - 60)
        text, _, question, answer = haystack(r, task, int(budget * 2.2))
        prompt = t["full"].format(context=text, input=question)
        ids = tok.encode(prompt)
        # The prompt ends without a space ("The pass key is") or with one ("is: "): the answer is what follows.
        ans = tok.encode_normalized(("" if prompt.endswith(" ") else SPACE) + answer)
        if len(ids) + len(ans) + 1 <= max_len:
            ex = Example()
            ex.add(ids, 1.0)
            ex.add(ans + [2], ANSWER_WEIGHT)
            return ex
    return None  # the window is too small for this task's smallest record


def split_example(r, tok, task, max_len, with_needle):
    """One chunk of a long context (a token slice, template around it) and the question after it."""
    t = TASKS[task]
    head = tok.encode(t["context"].format(context=""))
    text, (n0, n1), question, answer = haystack(r, task, r.randint(2000, 6000))
    # The context as it sits inside the template: spaces already "▁" (the normalizer's doing), no "▁" prepended.
    text = text.replace(" ", SPACE)
    body = tok.encode_normalized(text)
    # Token offsets of the needle: characters map to tokens one run at a time, so encode the prefix.
    t0 = len(tok.encode_normalized(text[:n0]))
    t1 = len(tok.encode_normalized(text[:n1]))
    q_text, q_answer, answered = question, answer, with_needle
    if task != "kv_retrieval" and not with_needle:
        if r.random() < MISSING_NEEDLE_QUESTION:
            q_text = question  # rarely: asked about a needle that is not there (answer not trained)
        else:
            q_text, q_answer = r.choice(OTHER_QUESTIONS)
            answered = True
    q = tok.encode(t["question"].format(input=q_text), bos=r.random() < 0.5)
    ans = tok.encode_normalized(q_answer)  # the question ends in a space already
    room = max_len - len(head) - len(q) - len(ans) - 1
    # Half the slices short: several examples then pack into one training row, so more answers per step.
    n = r.randint(min(20, room), min(150, room)) if r.random() < 0.6 else r.randint(min(150, room), room)
    if with_needle:
        if t1 - t0 > room:
            return None
        n = min(room, max(n, t1 - t0 + r.randint(0, 20)))
        lo, hi = max(0, t1 - n), min(t0, len(body) - n)
        a = r.randint(lo, max(lo, hi))
    else:
        # A slice entirely before or after the needle.
        choices = [x for x in (r.randint(0, max(0, t0 - n)), r.randint(t1, max(t1, len(body) - n)))
                   if (x + n <= t0 or x >= t1) and x + n <= len(body)]
        if not choices:
            return None
        a = r.choice(choices)
    if r.random() < 0.15 and (not with_needle or t0 >= len(body) - n) and (with_needle or len(body) - n >= t1):
        a = len(body) - n  # the last chunk of a context ends where the context does
    ex = Example()
    ex.add(head + body[a:a + n], 1.0)
    ex.add(q, 1.0)
    ex.add(ans + [2], ANSWER_WEIGHT if answered else 0.0)
    return ex


def drill_example(r, tok, max_len):
    """Needle lines back to back, no noise: each line repeats its key, so every second occurrence is a copy at
    short range. Copying digits is the skill retrieval needs, and a tiny model finds it far sooner when it is
    asked for densely than from one answer per few hundred tokens."""
    ex = Example()
    ex.add([1], 1.0)
    while True:
        task = r.choice(["passkey", "number_string"])
        key = needle_key(r, task)
        template = PASSKEY_NEEDLE if task == "passkey" else NUMBER_NEEDLE
        first, rest = template.split("{v}", 1)
        middle, last = rest.split("{v}", 1)
        parts = [(first, 1.0), (key, 0.0), (middle, 1.0), (key, ANSWER_WEIGHT / 2), (last + "\n", 1.0)]
        ids = [(tok.encode_normalized(t.replace(" ", SPACE)), w) for t, w in parts]
        if len(ex.ids) + sum(len(i) for i, _ in ids) > max_len:
            return ex
        for i, w in ids:
            ex.add(i, w)


def repeat_drill(r, tok, max_len):
    """A random digit string, a newline, the same string again: the plainest copy task there is. Half its tokens
    are copy targets, so the two-layer "find the earlier occurrence, take the next token" circuit that retrieval
    rests on forms within a few hundred steps instead of thousands."""
    ex = Example()
    ex.add([1], 1.0)
    while len(ex.ids) < max_len - 12:
        digits = [str(r.randint(0, 9)) for _ in range(r.randint(5, min(40, (max_len - len(ex.ids) - 3) // 2)))]
        ids = tok.encode_normalized("".join(digits))
        nl = tok.encode_normalized("\n")
        ex.add(ids + nl, 0.0)  # random: nothing to learn, only noise in the gradient
        ex.add(ids + nl, 2.0)
    return ex


def retrieval_example(r, tok, max_len):
    task = r.choices(["passkey", "number_string", "kv_retrieval"], weights=[0.5, 0.35, 0.15])[0]
    while True:
        ex = full_example(r, tok, task, max_len) if r.random() < 0.1 else None
        if ex is not None:
            return ex
        ex = split_example(r, tok, task, max_len, with_needle=r.random() < 0.7)
        if ex is not None:
            return ex
