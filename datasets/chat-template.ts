/**
 * Bounded rendering of a model's chat_template (tokenizer_config.json, or chat_template.jinja).
 *
 * A chat template is a program from the model folder, run once per record by `pcomp eval`. Rendered
 * as is, `{% for i in range(1000000000) %}` kills Node with a V8 fatal out-of-memory error, and nested
 * loops run for ever on the main thread, where no Ctrl-C or SIGTERM handler can run. Here a render
 * has a budget, and stops with an error when it spends it:
 * - time (timeMs of wall clock per render: the longest a render can keep a signal waiting),
 * - evaluation steps (every expression and statement the interpreter evaluates),
 * - loop iterations (every block evaluated: a loop body per iteration, if/macro bodies too),
 * - nesting depth (recursion through macros),
 * - size (any string value, the output included, and any list a step produces; range() refuses
 *   lists past the iteration budget before allocating them).
 * The render stays synchronous and in-process (the common case costs a counter per step; no worker
 * or process start per record), so `Tok.applyChatTemplate` keeps its signature.
 *
 * How: @huggingface/jinja's Template.render() runs its own Interpreter; this module wraps that class's
 * `evaluate` and `evaluateBlock` methods once, and they count only while a bounded render is active
 * (`active`, set for the duration of one synchronous render). Outside a bounded render the wrapper is
 * one null check. The library's own `range` global is replaced (Environment.set, while a bounded
 * render runs) by a bounded copy with the same semantics (Python's range: start/stop/step, step 0
 * refused).
 */
import { Environment, Interpreter, type Template } from '@huggingface/jinja';

export interface TemplateLimits {
  /** Wall-clock budget of one render, in milliseconds. */
  timeMs: number;
  /** Expressions and statements evaluated. */
  maxSteps: number;
  /** Blocks evaluated (each loop iteration's body is one). Also the longest list range() makes. */
  maxIterations: number;
  /** Nesting depth of evaluation (recursion through macros ends here). */
  maxDepth: number;
  /** Longest string (the output included) any step may produce, in UTF-16 code units. */
  maxChars: number;
  /** Longest list any step may produce. */
  maxItems: number;
}

/**
 * The defaults. Real chat templates (Llama-2/3, Mistral, Qwen2/3, with tools) take a few hundred
 * steps per message and well under a millisecond; the budgets are orders of magnitude above that.
 * maxChars scales with the input: the messages' text may be a 1M-token record.
 */
export function defaultLimits(inputChars: number): TemplateLimits {
  return {
    timeMs: 2000,
    maxSteps: 2_000_000,
    maxIterations: 100_000,
    maxDepth: 400,
    maxChars: 4 * inputChars + (1 << 20),
    maxItems: 1_000_000,
  };
}

/** A render that ran out of budget; the message says which budget (the caller names the file). */
export class TemplateBudgetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateBudgetError';
  }
}

interface Budget {
  limits: TemplateLimits;
  deadline: number;
  steps: number;
  blocks: number;
  depth: number;
  /** Characters of all block results (loop bodies accumulate theirs inside the library's evaluateFor). */
  produced: number;
  /** Set once a budget runs out: every later step throws again, so nothing can swallow the stop. */
  tripped: string | null;
}

let active: Budget | null = null;

function over(b: Budget, what: string): never {
  b.tripped ??= `stopped: the template ${what}; real chat templates stay far below these budgets, so this one is refused`;
  throw new TemplateBudgetError(b.tripped);
}

function checkValue(b: Budget, v: unknown): void {
  const value = (v as { value?: unknown } | null | undefined)?.value;
  if (typeof value === 'string') {
    if (value.length > b.limits.maxChars) over(b, `built a string of ${value.length} characters (budget ${b.limits.maxChars})`);
  } else if (Array.isArray(value)) {
    if (value.length > b.limits.maxItems) over(b, `built a list of ${value.length} items (budget ${b.limits.maxItems})`);
  }
}

function tick(b: Budget): void {
  if (b.tripped !== null) throw new TemplateBudgetError(b.tripped);
  if (++b.steps > b.limits.maxSteps) over(b, `ran more than ${b.limits.maxSteps} evaluation steps`);
  if ((b.steps & 255) === 0 && performance.now() > b.deadline) over(b, `ran longer than ${b.limits.timeMs} ms`);
}

type Method = (this: unknown, ...args: unknown[]) => unknown;
const proto = Interpreter.prototype as unknown as Record<string, Method>;
const originalEvaluate = proto.evaluate;
const originalBlock = proto.evaluateBlock;
if (typeof originalEvaluate !== 'function' || typeof originalBlock !== 'function') {
  // A future @huggingface/jinja that renamed these would leave templates unbounded: fail loudly instead.
  throw new Error('datasets/chat-template.ts: @huggingface/jinja Interpreter has no evaluate/evaluateBlock to bound');
}
proto.evaluate = function boundedEvaluate(this: unknown, ...args: unknown[]) {
  const b = active;
  if (b === null) return originalEvaluate.apply(this, args);
  tick(b);
  if (++b.depth > b.limits.maxDepth) {
    b.depth--;
    over(b, `nested deeper than ${b.limits.maxDepth} levels (runaway macro recursion?)`);
  }
  try {
    const v = originalEvaluate.apply(this, args);
    checkValue(b, v);
    return v;
  } finally {
    b.depth--;
  }
};
proto.evaluateBlock = function boundedBlock(this: unknown, ...args: unknown[]) {
  const b = active;
  if (b === null) return originalBlock.apply(this, args);
  if (++b.blocks > b.limits.maxIterations) over(b, `ran more than ${b.limits.maxIterations} loop iterations`);
  tick(b);
  const v = originalBlock.apply(this, args);
  checkValue(b, v);
  const value = (v as { value?: unknown }).value;
  if (typeof value === 'string' && (b.produced += value.length) > 16 * b.limits.maxChars)
    over(b, `produced more than ${16 * b.limits.maxChars} characters in its blocks (budget ${b.limits.maxChars} of output)`);
  return v;
};

// The library's setupGlobals() installs its range() through Environment.set at the start of every
// render; during a bounded render the bounded copy is installed in its place.
const envProto = Environment.prototype as unknown as Record<string, Method>;
const originalSet = envProto.set;
if (typeof originalSet !== 'function') throw new Error('datasets/chat-template.ts: @huggingface/jinja Environment has no set');
envProto.set = function boundedSet(this: unknown, name: unknown, value: unknown) {
  const b = active;
  if (b !== null && name === 'range') value = boundedRange(b.limits.maxIterations);
  return originalSet.call(this, name, value);
};

/** Python's range(), as @huggingface/jinja defines it, refusing lists past the budget before building them. */
function boundedRange(limit: number) {
  return (start: number, stop?: number, step = 1): number[] => {
    if (stop === undefined) {
      stop = start;
      start = 0;
    }
    if (step === 0) throw new Error('range() step must not be zero');
    const n = step > 0 ? Math.ceil((stop - start) / step) : Math.ceil((start - stop) / -step);
    if (n > limit) {
      const b = active;
      if (b !== null) over(b, `asked for range() of ${n} items (budget ${limit})`);
      throw new TemplateBudgetError(`range() of ${n} items exceeds the budget of ${limit}`);
    }
    const out: number[] = [];
    if (step > 0) for (let i = start; i < stop; i += step) out.push(i);
    else for (let i = start; i > stop; i += step) out.push(i);
    return out;
  };
}

function textLength(v: unknown, depth = 0): number {
  if (typeof v === 'string') return v.length;
  if (depth > 8 || v === null || typeof v !== 'object') return 0;
  let n = 0;
  for (const x of Array.isArray(v) ? v : Object.values(v)) n += textLength(x, depth + 1);
  return n;
}

/**
 * Renders a compiled template within `limits` (default: defaultLimits of the context's text size).
 * Throws TemplateBudgetError when a budget runs out; errors of the template itself pass through.
 */
export function renderBounded(template: Template, context: Record<string, unknown>, limits?: TemplateLimits): string {
  const lim = limits ?? defaultLimits(textLength(context));
  if (active !== null) throw new Error('renderBounded: renders do not nest');
  const budget: Budget = {
    limits: lim, deadline: performance.now() + lim.timeMs, steps: 0, blocks: 0, depth: 0, produced: 0, tripped: null,
  };
  active = budget;
  try {
    const out = template.render(context);
    if (out.length > lim.maxChars) over(budget, `rendered ${out.length} characters (budget ${lim.maxChars})`);
    return out;
  } catch (e) {
    // A stack overflow inside the library (deep recursion that slipped under maxDepth) is a budget
    // failure too, not a crash.
    if (budget.tripped !== null) throw new TemplateBudgetError(budget.tripped);
    if (e instanceof RangeError && /call stack|string length|array length/i.test(e.message))
      throw new TemplateBudgetError(`stopped: the template exhausted the interpreter (${e.message})`);
    throw e;
  } finally {
    active = null;
  }
}
