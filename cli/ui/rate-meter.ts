// Samples/s, tokens/s and ETA for progress events, so every runner reports them the same way.
// Rates are exponentially weighted over recent samples: a long run's ETA follows the current
// speed (prompts get longer, a shard finishes its short samples first) without jumping per sample.

export interface Rates {
  samplesPerSec?: number;
  tokensPerSec?: number;
  etaSec?: number;
}

export class RateMeter {
  private last: number;
  private secPerSample?: number;
  private tokensPerSecond?: number;

  /** `smoothing`: weight of the newest sample (1 = no memory). */
  constructor(private readonly now: () => number = () => performance.now() / 1000, private readonly smoothing = 0.2) {
    this.last = now();
  }

  /** Call when a sample finishes; `tokens` is what the engine processed for it (prompt + generated). */
  sample(tokens: number, remaining: number): Rates {
    const t = this.now();
    const dt = Math.max(t - this.last, 1e-9);
    this.last = t;
    const a = this.secPerSample === undefined ? 1 : this.smoothing;
    this.secPerSample = a * dt + (1 - a) * (this.secPerSample ?? 0);
    this.tokensPerSecond = a * (tokens / dt) + (1 - a) * (this.tokensPerSecond ?? 0);
    return this.rates(remaining);
  }

  rates(remaining: number): Rates {
    if (this.secPerSample === undefined) return {};
    return { samplesPerSec: 1 / this.secPerSample, tokensPerSec: this.tokensPerSecond, etaSec: remaining * this.secPerSample };
  }
}
