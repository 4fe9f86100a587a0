// Each LongBench metric on small hand-computed cases, including the quirks that move official scores.
import { describe, expect, it } from 'vitest';
import { classificationScore } from '../../datasets/metrics/classification.js';
import { codeSimScore, firstCodeLine, fuzzRatio } from '../../datasets/metrics/code-sim.js';
import { normalizeAnswer, normalizeZhAnswer } from '../../datasets/metrics/normalize.js';
import { qaF1Score, qaF1ZhScore } from '../../datasets/metrics/qa-f1.js';
import { countScore, retrievalScore, retrievalZhScore } from '../../datasets/metrics/retrieval.js';
import { rougeScore, rougeZhScore } from '../../datasets/metrics/rouge.js';
import { difflibRatio } from '../../datasets/metrics/sequence-matcher.js';
import { getMetric, METRICS } from '../../datasets/metrics/registry.js';

/** pltrdy's F for given P and R, in its own operation order. */
const pltrdyF = (p: number, r: number) => 2.0 * ((p * r) / (p + r + 1e-8));

describe('normalizeAnswer', () => {
  it('lower-cases, drops ASCII punctuation, removes whole-word articles, collapses spaces', () => {
    expect(normalizeAnswer('The  Eiffel-Tower, in PARIS!')).toBe('eiffeltower in paris');
    expect(normalizeAnswer('an apple a day')).toBe('apple day');
    expect(normalizeAnswer('theatre anthem')).toBe('theatre anthem');
  });
  it('treats letters and underscores as word characters beyond ASCII, like Python 3 \\b', () => {
    expect(normalizeAnswer('éthe the_end the')).toBe('éthe theend');
    expect(normalizeAnswer('über the')).toBe('über');
  });
  it('zh: also drops Chinese punctuation and all whitespace', () => {
    expect(normalizeZhAnswer('北京， 天安门！ A.b')).toBe('北京天安门ab');
    expect(normalizeZhAnswer('《书》')).toBe('《书'); // the official list has 》 but not 《
  });
});

describe('qa_f1_score / qa_f1_zh_score', () => {
  it('token F1 after normalisation', () => {
    // pred {eiffel, tower, paris}, gold {eiffel, tower, in, paris}: P = 1, R = 3/4
    expect(qaF1Score('The Eiffel Tower, Paris', 'Eiffel tower in Paris')).toBeCloseTo(6 / 7, 15);
    expect(qaF1Score('a a b', 'a c')).toBe(0); // "a" is an article: pred [b] vs gold [c]
    expect(qaF1Score('b b c', 'b c c')).toBeCloseTo(2 / 3, 15); // multiset overlap {b, c}
  });
  it('empty or punctuation-only predictions score 0', () => {
    expect(qaF1Score('', 'x')).toBe(0);
    expect(qaF1Score('...', 'x')).toBe(0);
    expect(qaF1Score('the', 'the')).toBe(0);
  });
  it('zh: jieba words of the raw text, normalised one by one', () => {
    // Python jieba: 我爱北京天安门 → 我/爱/北京/天安门; gold 北京天安门 → 北京/天安门
    expect(qaF1ZhScore('我爱北京天安门', '北京天安门')).toBeCloseTo(2 / 3, 15);
    expect(qaF1ZhScore('北京，天安门！', '北京天安门')).toBe(1);
    expect(qaF1ZhScore('', '北京')).toBe(0);
  });
});

describe('rouge_score (pltrdy rouge 1.0.1 semantics)', () => {
  it('distinct-word counts and the set union of LCS words', () => {
    // ref/hyp words {the, cat, is|sat, on, mat}: m = n = 5; LCS words {the, cat, on, mat}: llcs = 4
    expect(rougeScore('the cat sat on the mat.', 'the cat is on the mat.')).toBe(pltrdyF(0.8, 0.8));
    expect(rougeScore('same text', 'same text')).toBe(pltrdyF(1, 1)); // 0.999999995, not 1
    expect(pltrdyF(1, 1)).toBeCloseTo(0.999999995, 15);
  });
  it('case-sensitive tokens; punctuation other than "." stays attached', () => {
    // {"Cat,", dog} vs {cat, dog}: only "dog" is shared
    expect(rougeScore('Cat, dog', 'cat dog')).toBe(pltrdyF(0.5, 0.5));
  });
  it('the backtrack tie-break decides which words enter the union', () => {
    // ref sentences "a b" and "b"; hyp "b a". Backtracking "a b" vs "b a" goes left on the tie and keeps
    // {b}; the second sentence adds nothing: llcs = 1 of m = n = 2. Going up would keep {a}, then add b.
    expect(rougeScore('b a', 'a b. b')).toBe(pltrdyF(0.5, 0.5));
  });
  it('empty, dots-only and whitespace-only predictions', () => {
    expect(rougeScore('', 'x')).toBe(0); // no sentence: ValueError → 0
    expect(rougeScore('...', 'x')).toBe(0);
    expect(rougeScore('x', '')).toBe(0);
    expect(rougeScore('   ', 'a')).toBe(0); // one empty sentence: scored, with no overlap
  });
  it('a backtrack deeper than CPython allows scores 0, as the official bare except makes it', () => {
    const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');
    expect(rougeScore(words(990), words(990))).toBe(pltrdyF(1, 1));
    expect(rougeScore(words(991), words(991))).toBe(0);
    expect(rougeScore(words(991), words(991), { emulateRecursionLimit: false })).toBe(pltrdyF(1, 1));
    // rouge_zh_score has one extra caller frame
    expect(rougeZhScore(words(989), words(989))).toBe(pltrdyF(1, 1));
    expect(rougeZhScore(words(990), words(990))).toBe(0);
  });
  it('zh: jieba words joined by spaces', () => {
    // 我/爱/北京/天安门 vs 北京/天安门: m = 2, n = 4, llcs = 2
    expect(rougeZhScore('我爱北京天安门', '北京天安门')).toBe(pltrdyF(0.5, 1));
  });
});

describe('classification_score', () => {
  it('scores 1/len(matches) when the gold class is named', () => {
    expect(classificationScore('Type: LOC', 'LOC', ['LOC', 'HUM', 'NUM'])).toBe(1);
    expect(classificationScore('LOC or HUM', 'LOC', ['LOC', 'HUM', 'NUM'])).toBe(0.5);
    expect(classificationScore('nothing', 'LOC', ['LOC', 'HUM'])).toBe(0);
    expect(classificationScore('', 'LOC', ['LOC'])).toBe(0);
  });
  it('keeps the official remove-while-iterating quirk: the item after a removed one is not examined', () => {
    // matches [A, AB, ABC]; A is removed, so AB is skipped and survives: 1/2, not 1
    expect(classificationScore('ABC', 'ABC', ['A', 'AB', 'ABC'])).toBe(0.5);
  });
});

describe('retrieval_score / retrieval_zh_score / count_score', () => {
  it('share of numbers in the prediction equal to the gold id, compared as strings', () => {
    expect(retrievalScore('Paragraph 3, not 30, so 3', 'Paragraph 3')).toBeCloseTo(2 / 3, 15);
    expect(retrievalScore('no number', 'Paragraph 3')).toBe(0);
    expect(retrievalZhScore('段落12', '段落12')).toBe(1);
    expect(retrievalZhScore('段落١٢', '段落12')).toBe(0); // Unicode digits are numbers, but a different string
    expect(countScore('There are 07 paragraphs', '7')).toBe(0);
    expect(countScore('7 or 8', '7')).toBe(0.5);
    expect(countScore('', '7')).toBe(0);
  });
  it('an answer without the paragraph marker is an error, not a silent 0', () => {
    expect(() => retrievalScore('1', 'no marker')).toThrow(/no Paragraph/);
  });
});

describe('code_sim_score (fuzzywuzzy ratio over difflib, not Levenshtein)', () => {
  it('uses the first line without `, # or //', () => {
    expect(firstCodeLine('\n\n```python\n# comment\nx = 1 // 2\nreturn x\n')).toBe('return x');
    expect(firstCodeLine('# only\n// comments')).toBe('');
  });
  it('fuzz.ratio values printed by fuzzywuzzy 0.18 without python-Levenshtein', () => {
    expect(fuzzRatio('abcd', 'abce')).toBe(75);
    expect(fuzzRatio('return x', 'return y + 1')).toBe(70);
    expect(fuzzRatio('😀a😀b', '😀a😀c')).toBe(75); // code points, not UTF-16 units
    expect(codeSimScore('abcd', 'abce')).toBe(0.75);
  });
  it('edge cases: equal strings 100 (even empty), one empty 0', () => {
    expect(codeSimScore('', '')).toBe(1);
    expect(codeSimScore('', 'x')).toBe(0);
    expect(codeSimScore('```\n# c', 'x')).toBe(0);
  });
  it('autojunk: when |b| >= 200, elements in more than 1% of b cannot start a match', () => {
    const a = 'abcdefghij'.repeat(5);
    expect(difflibRatio(a, 'x'.repeat(150) + a)).toBe(0); // CPython: 0.0 (0.4 with autojunk=False)
    // every element is popular, yet difflib still extends the empty match at (0, 0) by one: 2·1/223
    expect(difflibRatio('a'.repeat(10) + 'bbb', 'ab'.repeat(100) + 'ba'.repeat(5))).toBe(2 / 223);
  });
  it('matching blocks are found recursively, unlike an edit distance', () => {
    expect(difflibRatio('abxcd', 'abcd')).toBe((2 * 4) / 9);
    expect(difflibRatio('', '')).toBe(1);
  });
});

describe('metric registry', () => {
  it('registers every LongBench metric and takes the max over answers from 0', () => {
    for (const name of ['qa_f1_score', 'qa_f1_zh_score', 'rouge_score', 'rouge_zh_score', 'classification_score',
      'retrieval_score', 'retrieval_zh_score', 'count_score', 'code_sim_score']) {
      expect(METRICS.get(name)?.direction).toBe('higher-is-better');
    }
    const f1 = getMetric('qa_f1_score').fn;
    expect(f1('paris', ['london', 'Paris', 'rome'])).toBe(1);
    expect(f1('paris', [])).toBe(0);
    expect(getMetric('classification_score').fn('LOC', ['LOC'], { all_classes: ['LOC', 'HUM'] })).toBe(1);
    expect(() => getMetric('bleu')).toThrow(/unknown metric "bleu"/);
  });
});

describe('code_sim_score_levenshtein (fuzzywuzzy with python-Levenshtein)', () => {
  it('is the indel ratio 2·LCS/(|a|+|b|), rounded half to even', async () => {
    const { fuzzRatioLevenshtein } = await import('../../datasets/metrics/code-sim.js');
    expect(fuzzRatioLevenshtein('abcd', 'abce')).toBe(75); // LCS 3 of 8
    expect(fuzzRatioLevenshtein('ab', 'ba')).toBe(50); // LCS 1 of 4
    expect(fuzzRatioLevenshtein('abcde', 'abc')).toBe(75); // 6/8 = 0.75
    expect(fuzzRatioLevenshtein('a', 'abcdefg')).toBe(25); // 2/8 = 0.25 → 25
    expect(fuzzRatioLevenshtein('', '')).toBe(100);
    expect(getMetric('code_sim_score_levenshtein').fn('x', ['x', 'y'])).toBe(1);
    // where difflib and Levenshtein disagree: autojunk blinds difflib, not the indel ratio
    const a = 'abcdefghij'.repeat(5);
    expect(fuzzRatio(a, 'x'.repeat(150) + a)).toBe(0);
    expect(fuzzRatioLevenshtein(a, 'x'.repeat(150) + a)).toBe(40);
  });
});
