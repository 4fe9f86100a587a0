// Segmentation must equal Python jieba 0.42.1's jieba.cut(s, cut_all=False); the expected lists were
// printed by Python jieba 0.42.1 (Debian python3-jieba).
import { describe, expect, it } from 'vitest';
import { fixAsciiRuns, jiebaCut } from '../../datasets/metrics/jieba.js';

describe('jiebaCut', () => {
  it('matches Python jieba on dictionary words and HMM runs', () => {
    expect(jiebaCut('我爱北京天安门')).toEqual(['我', '爱', '北京', '天安门']);
    expect(jiebaCut('北京大学的学生')).toEqual(['北京大学', '的', '学生']);
    expect(jiebaCut('今天天气不错')).toEqual(['今天天气', '不错']);
  });
  it('splits unknown ASCII runs with Python\'s regex (escaped dot), not jieba-rs\'s', () => {
    expect(jiebaCut('COVID-19疫情')).toEqual(['COVID', '-', '19', '疫情']);
    expect(jiebaCut('版本1-1.5倍')).toEqual(['版本', '1', '-', '1.5', '倍']);
  });
  it('keeps the pure-ASCII dictionary words and Python\'s dictionary entries', () => {
    expect(jiebaCut('C++和c#')).toEqual(['C++', '和', 'c#']);
    expect(jiebaCut('做B超检查')).toEqual(['做', 'B超', '检查']);
    expect(jiebaCut('AT&Tx1 a--b')).toEqual(['AT&T', 'x1', ' ', 'a', '--', 'b']);
  });
  it('empty input, whitespace and astral characters', () => {
    expect(jiebaCut('')).toEqual([]);
    expect(jiebaCut('a b').join('|')).toBe('a| |b');
    expect(jiebaCut('😀北京').join('')).toBe('😀北京');
  });
  it('fixAsciiRuns regroups only runs of ASCII word-ish tokens', () => {
    expect(fixAsciiRuns(['COVID-19', '疫情'])).toEqual(['COVID', '-', '19', '疫情']);
    expect(fixAsciiRuns(['1-1', '.', '5', '倍'])).toEqual(['1', '-', '1.5', '倍']);
    expect(fixAsciiRuns(['AT&T', 'x1', ' ', 'a--b'])).toEqual(['AT&T', 'x1', ' ', 'a', '--', 'b']);
  });
});
