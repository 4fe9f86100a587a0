"""Train the built-in tiny model and write it as a Hugging Face Llama folder (see docs/builtin-model.md).

  python3 scripts/train-builtin/train.py --out models/tiny            # the committed model (about 25 minutes)
  python3 scripts/train-builtin/train.py --out "$(mktemp -d)" --steps 60   # a smoke run

Everything is generated here from --seed: the tokenizer is learned on the generated corpus, the batches are
packed from generated stories and retrieval examples, and torch's RNG is seeded, on one thread.
"""
import argparse
import json
import math
import os
import random
import struct
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import LlamaForCausalLM, block_causal_mask  # noqa: E402
from stories import corpus, story  # noqa: E402
from tasks import TASKS, NOISE, drill_example, repeat_drill, retrieval_example, split_example, full_example  # noqa: E402
from tokenizer import CHARS, DIGIT_PAIRS, Tokenizer, learn_merges, tokenizer_config, dump  # noqa: E402

MAX_LEN = 512


def model_config(a):
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": a.dim, "intermediate_size": a.ffn, "num_hidden_layers": a.layers,
        "num_attention_heads": a.heads, "num_key_value_heads": a.kv_heads, "head_dim": a.dim // a.heads,
        "vocab_size": a.vocab, "max_position_embeddings": MAX_LEN, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "rope_scaling": None, "hidden_act": "silu", "tie_word_embeddings": True, "bos_token_id": 1,
        "eos_token_id": 2, "pad_token_id": None, "attention_bias": False, "mlp_bias": False, "torch_dtype": "float32",
    }


def build_tokenizer(seed, vocab):
    texts = corpus(seed + 1, 400)
    for t in TASKS.values():
        texts += [t["full"], t["context"], t["question"], t["input"]] * 20
    texts += [NOISE] * 200
    n_base = 3 + 256 + len(CHARS) + len(DIGIT_PAIRS)  # specials, bytes, single characters, digit pairs
    return Tokenizer(learn_merges(texts, vocab - n_base), vocab)


class Batches:
    """Rows of MAX_LEN tokens packed with whole documents (each from position 0): stories and retrieval examples."""
    def __init__(self, tok, seed, retrieval_share, drill_share):
        self.tok, self.r, self.share, self.drill_share = tok, random.Random(seed), retrieval_share, drill_share
        self.text = []

    def _text(self, n):
        while len(self.text) < n:
            self.text += self.tok.encode(story(self.r), bos=False) + self.tok.encode_normalized("\n")
        out, self.text = self.text[:n], self.text[n:]
        return out

    def row(self, T):
        ids, w, pos, doc = [], [], [], []
        d = 0
        while len(ids) < T:
            room = T - len(ids)
            pick = self.r.random()
            if room >= 60 and pick < self.drill_share:
                drill = drill_example if self.r.random() < 0.5 else repeat_drill
                ex = drill(self.r, self.tok, min(room, self.r.randint(60, 250)))
                e_ids, e_w = ex.ids, ex.weights
            elif room >= 200 and pick < self.drill_share + self.share:
                ex = retrieval_example(self.r, self.tok, room)
                if len(ex.ids) > room:
                    continue
                e_ids, e_w = ex.ids, ex.weights
            else:
                n = room if room < 200 or self.r.random() < 0.5 else self.r.randint(64, room)
                e_ids = [1] + self._text(n - 1)
                e_w = [1.0] * n
            ids += e_ids
            w += e_w
            pos += list(range(len(e_ids)))
            doc += [d] * len(e_ids)
            d += 1
        return ids, w, pos, doc

    def batch(self, b, T):
        rows = [self.row(T) for _ in range(b)]
        t = lambda k, dt: torch.tensor([r[k] for r in rows], dtype=dt)
        return t(0, torch.long), t(1, torch.float), t(2, torch.long), t(3, torch.long)


def loss_of(model, ids, w, pos, doc):
    logits = model(ids[:, :-1], pos[:, :-1], block_causal_mask(doc[:, :-1]))
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none")
    # A token is trained only when its predecessor is in the same document.
    wt = w[:, 1:].reshape(-1) * (doc[:, 1:] == doc[:, :-1]).reshape(-1).float()
    is_answer = (wt > 1).float()
    answer_ce = (ce.detach() * is_answer).sum() / is_answer.sum().clamp(min=1)
    return (ce * wt).sum() / wt.sum(), answer_ce.item()


@torch.no_grad()
def answer_accuracy(model, tok, seed, n):
    """Teacher-forced exact match of the answer tokens (= greedy decoding gets the answer), per task and layout."""
    r = random.Random(seed)
    out = {}
    for task in TASKS:
        for layout in ("full", "split"):
            hit = 0
            for _ in range(n):
                ex = full_example(r, tok, task, MAX_LEN) if layout == "full" else None
                while ex is None:
                    ex = split_example(r, tok, task, MAX_LEN, with_needle=True)
                ids = torch.tensor([ex.ids])
                pos = torch.arange(len(ex.ids))[None]
                logits = model(ids, pos, block_causal_mask(torch.zeros_like(ids)))
                ans = [i for i, x in enumerate(ex.weights) if x > 1]
                pred = logits[0, [i - 1 for i in ans]].argmax(-1)
                hit += int(torch.equal(pred, ids[0, ans]))
            out[f"{task}/{layout}"] = hit / n
    return out


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        b = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def export(model, tok, cfg, out):
    os.makedirs(out, exist_ok=True)
    state = {k: v for k, v in model.state_dict().items() if k != "inv_freq"}
    write_safetensors(os.path.join(out, "model.safetensors"), dict(sorted(state.items())))
    dump(os.path.join(out, "config.json"), cfg)
    dump(os.path.join(out, "generation_config.json"), {"bos_token_id": 1, "eos_token_id": 2, "do_sample": False})
    dump(os.path.join(out, "tokenizer.json"), tok.to_json())
    dump(os.path.join(out, "tokenizer_config.json"), tokenizer_config(MAX_LEN))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--steps", type=int, default=2800)
    p.add_argument("--minutes", type=float, default=50.0, help="stop early (cosine schedule cut) past this")
    p.add_argument("--batch", type=int, default=6)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--ffn", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--vocab", type=int, default=640)
    p.add_argument("--retrieval-share", type=float, default=0.45)
    p.add_argument("--drill-share", type=float, default=0.45)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--eval-n", type=int, default=40)
    a = p.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    t_start = time.time()
    tok = build_tokenizer(a.seed, a.vocab)
    cfg = model_config(a)
    model = LlamaForCausalLM(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"params {n_params} ({n_params * 4 / 2**20:.2f} MiB f32), merges {len(tok.merges)}", flush=True)

    data = Batches(tok, a.seed + 2, a.retrieval_share, a.drill_share)
    decay = [p for p in model.parameters() if p.dim() == 2]
    other = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95))
    warmup = 20
    log, window, t_train = [], [], time.time()
    step = 0
    for step in range(1, a.steps + 1):
        # Cosine over the planned steps, or over the time budget if that runs out first.
        frac = max(step / a.steps, (time.time() - t_train) / (a.minutes * 60))
        lr = a.lr * min(1.0, step / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))
        for g in opt.param_groups:
            g["lr"] = lr
        # Every other step packs half-length rows (twice as many): cheaper attention, more short copies per
        # step; the full-length steps keep every position up to MAX_LEN trained.
        T = MAX_LEN if step % 2 == 0 else MAX_LEN // 2
        loss, answer_ce = loss_of(model, *data.batch(a.batch * MAX_LEN // T, T))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        window.append((loss.item(), answer_ce))
        if step % a.log_every == 0 or step == 1:
            entry = {"step": step, "loss": sum(x for x, _ in window) / len(window),
                     "answer_loss": sum(y for _, y in window) / len(window), "lr": lr,
                     "minutes": (time.time() - t_start) / 60}
            log.append(entry)
            print(json.dumps(entry), flush=True)
            window = []
        if step % 100 == 0:
            export(model, tok, cfg, a.out)  # a usable checkpoint, should the run be cut short
        if frac >= 1.0:
            break

    model.eval()
    acc = answer_accuracy(model, tok, a.seed + 3, a.eval_n)
    print("answer accuracy (teacher-forced, <= 512 tokens):", json.dumps(acc), flush=True)
    export(model, tok, cfg, a.out)
    record = {"seed": a.seed, "args": {k: v for k, v in vars(a).items() if k != "out"}, "params": n_params, "steps": step, "tokens": step * a.batch * MAX_LEN,
              "wall_minutes": (time.time() - t_start) / 60, "torch": torch.__version__, "loss_curve": log,
              "answer_accuracy": acc}
    dump(os.path.join(a.out, "training-log.json"), record)
    print(f"wrote {a.out} after {step} steps, {record['wall_minutes']:.1f} min", flush=True)


if __name__ == "__main__":
    main()
