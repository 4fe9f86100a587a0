"""A Llama-style BPE tokenizer (SentencePiece layout with byte fallback) learned from the training corpus.

Layout: ids 0..2 are <unk> <s> </s>, 3..258 the byte pieces <0x00>..<0xFF>, then single characters, then merges.
Merges join two digits (all hundred pairs, first) or letters (the left part may start with the word marker "▁"),
so a run of digits or of letters is tokenized the same wherever it occurs. That restriction also makes BPE over
the whole string equal to BPE over each "▁?letters" or "digits" run, which is what lets `encode` here cache
runs and still match @huggingface/tokenizers token for token (checked against the JS tokenizer).
"""
import json
import re
from collections import Counter

SPACE = "\u2581"
CHARS = (SPACE + "abcdefghijklmnopqrstuvwxyz" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + "0123456789"
         + ".,!?'\":;-(){}[]/")
RUN = re.compile(SPACE + "?[A-Za-z]+|[0-9]+|.", re.S)
LETTERS = re.compile("[A-Za-z]+")


def _is_mergeable(a, b):
    return LETTERS.fullmatch(b) is not None and LETTERS.fullmatch(a.lstrip(SPACE) or "x") is not None \
        and a.count(SPACE) <= 1 and (SPACE not in a or a.startswith(SPACE))


def normalize(text):
    """The tokenizer.json normalizer: prepend "▁" (not to an empty string), then every space becomes "▁"."""
    return "" if text == "" else SPACE + text.replace(" ", SPACE)


# Every two-digit string is one piece, merged before anything else. A key then reads as a few tokens drawn from
# a hundred, not five to ten drawn from ten: a tiny model copies it by matching the previous token, which a
# ten-symbol alphabet leaves ambiguous (a 5-digit key usually repeats a digit). Decoding is unaffected.
DIGIT_PAIRS = [(a, b) for a in "0123456789" for b in "0123456789"]


class Tokenizer:
    def __init__(self, merges, vocab_size):
        self.vocab_size = vocab_size
        self.merges = merges = DIGIT_PAIRS + [m for m in merges if m not in DIGIT_PAIRS]
        self.pieces = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)] + list(CHARS)
        self.pieces += [a + b for a, b in merges]
        if len(self.pieces) > vocab_size:
            raise ValueError("vocab_size %d too small for %d pieces" % (vocab_size, len(self.pieces)))
        self.pieces += ["<extra_%d>" % i for i in range(vocab_size - len(self.pieces))]
        self.id = {p: i for i, p in enumerate(self.pieces)}
        self.rank = {pair: r for r, pair in enumerate(merges)}
        self.cache = {}

    def _bpe(self, run):
        parts = list(run)
        while len(parts) > 1:
            best = None
            for i in range(len(parts) - 1):
                r = self.rank.get((parts[i], parts[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        return parts

    def _run_ids(self, run):
        ids = self.cache.get(run)
        if ids is None:
            ids = []
            for piece in self._bpe(run):
                if piece in self.id:
                    ids.append(self.id[piece])
                else:  # byte fallback, as SentencePiece
                    ids.extend(3 + b for b in piece.encode("utf-8"))
            self.cache[run] = ids
        return ids

    def encode_normalized(self, text):
        """Ids of already-normalized text (no "▁" prepended): used for context bodies sliced from a long text."""
        out = []
        for m in RUN.finditer(text):
            out.extend(self._run_ids(m.group(0)))
        return out

    def encode(self, text, bos=True):
        return ([1] if bos else []) + self.encode_normalized(normalize(text))

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            p = self.pieces[i]
            if i < 3:
                continue
            if i < 259:
                out.append(i - 3)
            else:
                out.extend(p.replace(SPACE, " ").encode("utf-8"))
        s = out.decode("utf-8", errors="replace")
        return s[1:] if s.startswith(" ") else s

    def to_json(self):
        special = lambda i, c: {"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                                "normalized": False, "special": True}
        return {
            "version": "1.0", "truncation": None, "padding": None,
            "added_tokens": [special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")],
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "Prepend", "prepend": SPACE},
                {"type": "Replace", "pattern": {"String": " "}, "content": SPACE}]},
            "pre_tokenizer": None,
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
            "decoder": {"type": "Sequence", "decoders": [
                {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"},
                {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
            "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                      "vocab": self.id, "merges": [[a, b] for a, b in self.merges]},
        }


def learn_merges(texts, n_merges):
    """Plain BPE on "▁?letters" runs, counting each run once per occurrence; ties broken by the pair's text so
    the result does not depend on dict order."""
    words = Counter()
    for t in texts:
        for m in RUN.finditer(normalize(t)):
            w = m.group(0)
            if len(w) > 1:
                words[tuple(w)] += 1
    merges = []
    for _ in range(n_merges):
        pairs = Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                if _is_mergeable(a, b):
                    pairs[(a, b)] += c
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        merged = best[0] + best[1]
        new_words = Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(merged)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words[tuple(out)] += c
        words = new_words
    return merges


def tokenizer_config(max_length):
    return {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
            "unk_token": "<unk>", "pad_token": None, "clean_up_tokenization_spaces": False, "legacy": True,
            "model_max_length": max_length, "tokenizer_class": "LlamaTokenizer"}


def dump(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")
