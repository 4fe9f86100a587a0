// InfiniteBench per-example scorers (compute_scores.py semantics) on hand-computed cases.
import { describe, expect, it } from 'vitest';
import { INFINITEBENCH_SCORERS, firstIntMatch, infiniteBenchLabel } from '../../datasets/metrics/infinitebench.js';
import { PyFloat } from '../../datasets/metrics/python-compat.js';
import { rougeLsumF, rougeLsumMulti } from '../../datasets/metrics/rouge-lsum.js';
import { getMetric } from '../../datasets/metrics/registry.js';

const s = (task: string, pred: string, label: unknown, model = 'm') => INFINITEBENCH_SCORERS[task](pred, label, model);

describe('retrieval tasks', () => {
  it('passkey / number_string: the first run of ASCII digits, compared as a string', () => {
    expect(firstIntMatch('The pass key is 71432.')).toBe('71432');
    expect(s('passkey', 'The pass key is 71432.', '71432')).toBe(1);
    expect(s('passkey', 'The pass key is 71432.', ['71432'])).toBe(1);
    expect(s('passkey', 'The pass key is 71432.', 71432)).toBe(0); // int label never equals a str
    expect(s('number_string', 'digits ٧١: 1234', '1234')).toBe(1); // only ASCII digits count
    expect(s('passkey', '', '1')).toBe(0);
  });
  it('kv_retrieval: exact token after splitting on punctuation; list labels unwrapped (documented deviation)', () => {
    expect(s('kv_retrieval', 'The value is: "abc-123".', 'abc-123')).toBe(1);
    expect(s('kv_retrieval', 'The value is: "abc-123".', ['abc-123'])).toBe(1);
    expect(s('kv_retrieval', 'abc-1234', 'abc-123')).toBe(0);
  });
});

describe('code tasks', () => {
  it('code_run: Python int() of the last word', () => {
    expect(s('code_run', 'The output is `-12`.', -12)).toBe(1);
    expect(s('code_run', 'The output is `-12`.', 12)).toBe(0);
    expect(s('code_run', 'so 1_000', 1000)).toBe(1);
    expect(s('code_run', 'x = ٥', [5])).toBe(1); // Unicode digits parse, list label unwrapped
    expect(s('code_run', 'x = 5.', '5')).toBe(0); // a str label never equals an int
    expect(s('code_run', 'five', 5)).toBe(0);
    expect(s('code_run', '  ', 5)).toBe(0);
  });
  it('code_debug: leading "B." or an answer prefix followed by the letter or function name', () => {
    const label = ['fn_name', 'B'];
    expect(s('code_debug', ' B. fn_name', label)).toBe(1);
    expect(s('code_debug', 'The answer is: B', label)).toBe(1);
    expect(s('code_debug', 'My answer: fn_name', label)).toBe(1);
    expect(s('code_debug', 'The correct option is: C', label)).toBe(0); // "option" is blanked, then "is:" matches first
    expect(s('code_debug', 'answer:', label)).toBe(0); // ends right after the prefix
    expect(s('code_debug', 'no idea', label)).toBe(0);
  });
});

describe('novel and dialogue tasks', () => {
  const label = ['Walking Georgie', 'A'];
  it('longbook_choice_eng: first letter, exact text, prefixes, then the ABCD-substring quirk', () => {
    expect(s('longbook_choice_eng', 'A. Walking Georgie', label)).toBe(1);
    expect(s('longbook_choice_eng', 'C', label)).toBe(0);
    expect(s('longbook_choice_eng', ' Walking Georgie ', label)).toBe(1);
    expect(s('longbook_choice_eng', 'I think the answer is B', label)).toBe(0);
    expect(s('longbook_choice_eng', 'I think the answer is A', label)).toBe(1);
    expect(s('longbook_choice_eng', 'maybe the option AB', label)).toBe(0); // "AB" is a substring of "ABCD", not in label
    expect(s('longbook_choice_eng', 'it is A', ['x', 'A'])).toBe(1);
    expect(s('longbook_choice_eng', '   ', label)).toBe(0);
  });
  it('longdialogue_qa_eng: the first name, upper-cased word membership; a str label uses its first char', () => {
    expect(s('longdialogue_qa_eng', 'Ace.', ['ACE', 'ACE ROTHSTEIN'])).toBe(1);
    expect(s('longdialogue_qa_eng', 'Rothstein', ['ACE', 'ROTHSTEIN'])).toBe(0);
    expect(s('longdialogue_qa_eng', 'a', 'ACE')).toBe(1);
  });
  it('longbook_qa_eng: max token F1 over golds; a str label iterates its characters', () => {
    expect(s('longbook_qa_eng', 'The Eiffel Tower, Paris', ['London', 'Eiffel tower in Paris'])).toBeCloseTo(6 / 7, 15);
    // the str "xb" is read as golds "x" and "b"; the prediction normalises to [b] ("a" is an article)
    expect(s('longbook_qa_eng', 'a b', 'xb')).toBe(1);
    expect(s('longbook_qa_eng', 'a b', ['xb'])).toBe(0);
  });
  it('longbook_qa_chn: character F1, no jieba', () => {
    expect(s('longbook_qa_chn', '北京大学', ['北京'])).toBeCloseTo(2 / 3, 15);
    expect(s('longbook_qa_chn', '北京，大学！', ['北京大学'])).toBe(1);
    expect(s('longbook_qa_chn', '', ['北京'])).toBe(0);
  });
});

describe('math tasks', () => {
  it('math_find: int labels compare int(match), float labels float(match)', () => {
    expect(s('math_find', 'It is 88', 88)).toBe(1);
    expect(s('math_find', '51.0', new PyFloat(51))).toBe(1);
    expect(s('math_find', '51', new PyFloat(51))).toBe(1);
    expect(s('math_find', '51.0', 51)).toBe(0); // int("51.0") raises in the official code: scored 0
    expect(s('math_find', 'about 3.5 units', [new PyFloat(3.5)])).toBe(1);
    expect(s('math_find', 'none', 3)).toBe(0);
    expect(() => s('math_find', '3', '3')).toThrow(/Expected int or float, got str/);
  });
  it('math_calc: longest matching prefix; minus signs are lost; gpt4 drops its first number', () => {
    expect(s('math_calc', '1, 2, 5, 4', [1, 2, 3, 4])).toBe(0.5);
    expect(s('math_calc', '0: 1, 2, 3, 4', [1, 2, 3, 4], 'gpt4')).toBe(1);
    expect(s('math_calc', '0: 1, 2, 3, 4', [1, 2, 3, 4], 'other')).toBe(0);
    expect(s('math_calc', '1, -2', [1, -2])).toBe(0.5);
    expect(s('math_calc', '1 2', [[1, 2, 3]])).toBeCloseTo(2 / 3, 15);
    expect(s('math_calc', '', [1])).toBe(0);
  });
});

describe('longbook_sum_eng: Google rouge-score rougeLsum', () => {
  it('lower-cased [a-z0-9] tokens, LCS over lines', () => {
    // ref 6 tokens, cand 5, LCS 5: P = 1, R = 5/6, F = 10/11
    expect(rougeLsumF('The cat sat on the mat.', 'the cat, on the mat')).toBeCloseTo(10 / 11, 15);
    expect(rougeLsumF('café olé', 'caf ol')).toBe(1); // non-ASCII letters vanish
  });
  it('hits are capped by token counts on both sides across lines', () => {
    // ref lines [a b], [a b] (m = 4); cand [a b] (n = 2): the second line finds no count left: P = 1, R = 1/2
    expect(rougeLsumF('a b\na b', 'a b')).toBeCloseTo(2 / 3, 15);
  });
  it('empty sides score 0; multi-reference takes the best', () => {
    expect(rougeLsumF('', 'a')).toBe(0);
    expect(rougeLsumF('a', '!!!')).toBe(0);
    expect(rougeLsumMulti(['x y', 'a b'], 'a b')).toBe(1);
    expect(s('longbook_sum_eng', 'a b', ['x y', 'a b'])).toBe(1);
  });
});

describe('infiniteBenchLabel (eval_utils.get_answer)', () => {
  it('adds the option letter for choice tasks and passes other answers through', () => {
    expect(infiniteBenchLabel('code_debug', { answer: ['f2'], options: ['f1', 'f2', 'f3', 'f4'] })).toEqual(['f2', 'B']);
    expect(infiniteBenchLabel('longbook_choice_eng', { answer: 'x', options: ['a', 'b', 'c', 'x'] })).toEqual(['x', 'D']);
    expect(infiniteBenchLabel('longbook_choice_eng', { answer: ['t', 'C'], options: [] })).toEqual(['t', 'C']);
    expect(infiniteBenchLabel('passkey', { answer: ['123'] })).toEqual(['123']);
    expect(() => infiniteBenchLabel('code_debug', { answer: ['zz'], options: ['a'] })).toThrow(/not one of/);
  });
  it('the registry reads record.label and the model name', () => {
    const fn = getMetric('get_score_one_math_calc').fn;
    expect(fn('0 1 2', [], { label: [1, 2], model: 'gpt4' })).toBe(1);
    expect(getMetric('get_score_one_passkey').fn('key 42', ['42'])).toBe(1);
  });
});
