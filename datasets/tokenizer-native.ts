// Hugging Face's Rust tokenizer (the npm package `tokenizers`, whose prebuilt binaries ship inside the package)
// behind a synchronous interface. Its Node binding only offers Promise-returning encode/decode, so the binding
// lives in one worker thread per process and the caller blocks on Atomics.wait until the answer is posted
// (then reads it with receiveMessageOnPort): the same ids as the JS port, an order of magnitude faster, and no
// async ripple through the prompt builders.
//
// `nativeStatus()` says whether the binding loads on this platform; where it does not, datasets/tokenizer.ts
// falls back to the pure-JS port (@huggingface/tokenizers) and `pcomp doctor` says so.
import { createRequire } from 'node:module';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';

export interface NativeStatus {
  ok: boolean;
  /** The package version when it loads. */
  version?: string;
  /** Why it did not load (no prebuilt binary for this platform, a broken install...). */
  reason?: string;
}

const require = createRequire(import.meta.url);
let status: NativeStatus | undefined;

/** Whether `tokenizers` loads here (checked once per process; PCOMP_TOKENIZER=js forces the JS port). */
export function nativeStatus(): NativeStatus {
  if (status) return status;
  if ((process.env.PCOMP_TOKENIZER ?? '').toLowerCase() === 'js') return (status = { ok: false, reason: 'PCOMP_TOKENIZER=js asks for it' });
  try {
    const mod = require('tokenizers') as { Tokenizer?: { fromString?: unknown } };
    if (typeof mod.Tokenizer?.fromString !== 'function') throw new Error('the package exports no Tokenizer.fromString');
    const version = (require('tokenizers/package.json') as { version: string }).version;
    status = { ok: true, version };
  } catch (e) {
    status = { ok: false, reason: `\`tokenizers\` does not load here: ${(e as Error).message.split('\n')[0]}` };
  }
  return status;
}

// The worker: one Rust Tokenizer per handle, requests answered in arrival order.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { Tokenizer } = require(workerData.modulePath);
const { port, flag } = workerData;
const toks = new Map();
const done = (msg) => { port.postMessage(msg); Atomics.add(flag, 0, 1); Atomics.notify(flag, 0); };
port.on('message', async (m) => {
  try {
    if (m.op === 'load') {
      const t = Tokenizer.fromString(m.json);
      toks.set(m.handle, t);
      done({ ok: true, value: { vocabSize: t.getVocabSize(true) } });
    } else if (m.op === 'free') {
      toks.delete(m.handle); // posted by a finalizer, never awaited: no answer
    } else {
      const t = toks.get(m.handle);
      if (!t) throw new Error('no tokenizer ' + m.handle);
      if (m.op === 'encode') {
        const ids = Int32Array.from((await t.encode(m.text, null, { addSpecialTokens: m.addSpecial })).getIds());
        port.postMessage({ ok: true, value: ids }, [ids.buffer]);
        Atomics.add(flag, 0, 1); Atomics.notify(flag, 0);
      } else if (m.op === 'decode') {
        done({ ok: true, value: await t.decode(Array.from(m.ids), false) });
      } else if (m.op === 'tokenToId') {
        done({ ok: true, value: t.tokenToId(m.token) });
      } else throw new Error('unknown op ' + m.op);
    }
  } catch (e) {
    done({ ok: false, error: String(e && e.message || e) });
  }
});
`;

interface Bridge {
  port: MessagePort;
  flag: Int32Array;
  worker: Worker;
  seen: number;
  dead?: string;
}

let bridge: Bridge | undefined;
let nextHandle = 1;

function getBridge(): Bridge {
  if (bridge && !bridge.dead) return bridge;
  const { port1, port2 } = new MessageChannel();
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { port: port2, flag, modulePath: require.resolve('tokenizers') },
    transferList: [port2],
  });
  // Neither keeps the process alive: a CLI run ends when its work does.
  worker.unref();
  port1.unref();
  const b: Bridge = { port: port1, flag, worker, seen: 0 };
  worker.on('error', (e) => { b.dead = e.message; });
  worker.on('exit', (code) => { b.dead ??= `the tokenizer worker exited (${code})`; });
  bridge = b;
  return b;
}

/** Sends one request and blocks until its answer is there. */
function call<T>(msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): T {
  const b = getBridge();
  b.port.postMessage(msg, transfer);
  const want = b.seen + 1;
  // Wait in slices, so a worker that died (its 'exit' cannot be delivered while this thread blocks) is noticed
  // through the flag never moving and the worker's threadId turning -1.
  while (Atomics.load(b.flag, 0) < want) {
    if (Atomics.wait(b.flag, 0, want - 1, 1000) === 'timed-out' && b.worker.threadId < 0) {
      b.dead = 'the tokenizer worker exited';
      throw new Error(b.dead);
    }
  }
  b.seen = want;
  const got = receiveMessageOnPort(b.port);
  if (!got) throw new Error('the tokenizer worker answered nothing');
  const reply = got.message as { ok: boolean; value?: T; error?: string };
  if (!reply.ok) throw new Error(reply.error);
  return reply.value as T;
}

// A Tok that is garbage-collected frees its Rust tokenizer (tests load dozens); the request has no answer.
const finalizer = new FinalizationRegistry<number>((handle) => {
  if (bridge && !bridge.dead) bridge.port.postMessage({ op: 'free', handle });
});

/** A Rust tokenizer held by the worker; every method is synchronous. */
export class NativeTokenizer {
  readonly vocabSize: number;
  private readonly handle: number;

  /** `json` is tokenizer.json's text. Throws the library's message when it cannot load the file. */
  constructor(json: string) {
    this.handle = nextHandle++;
    this.vocabSize = call<{ vocabSize: number }>({ op: 'load', handle: this.handle, json }).vocabSize;
    finalizer.register(this, this.handle);
  }

  encode(text: string, addSpecialTokens: boolean): Int32Array {
    return call<Int32Array>({ op: 'encode', handle: this.handle, text, addSpecial: addSpecialTokens });
  }

  /** Decodes exactly these ids (callers drop special ids themselves; see datasets/tokenizer.ts). */
  decode(ids: ArrayLike<number>): string {
    const copy = Int32Array.from(ids);
    return call<string>({ op: 'decode', handle: this.handle, ids: copy }, [copy.buffer]);
  }

  tokenToId(token: string): number | undefined {
    return call<number | null>({ op: 'tokenToId', handle: this.handle, token }) ?? undefined;
  }
}
