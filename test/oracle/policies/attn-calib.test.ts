// Hand-computed cases for the reference attention calibration. 8 keys: 6 cached context tokens and
// 2 question tokens; sink and recent regions of 2, threshold 0.1.
import { describe, expect, it } from 'vitest';
import { attnCalib, calibScores, type CalibInput } from './attn-calib.js';

const A0 = [0.3, 0.05, 0.02, 0.15, 0.03, 0.2, 0.05, 0.2]; // outliers 0, 3, 5, 7
const A1 = [0.5, 0.02, 0.01, 0.04, 0.12, 0.03, 0.08, 0.2]; // outliers 0, 4, 7

const paper = (region: CalibInput['region'], probs = [[A0], [A1]], numKvHeads = 2, gqa: CalibInput['gqa'] = 'expanded-heads'): CalibInput => ({
  probs, numKvHeads, gqa, region, threshold: 0.1, sinkSize: 2, recentSize: 2,
  spanStart: 0, spanEnd: 6, strictEdges: false, equalise: true,
});
const code = (region: CalibInput['region']): CalibInput => ({ ...paper(region), spanEnd: 8, strictEdges: true });

describe('attention calibration', () => {
  it('averages the scoring rows', () => {
    const s = calibScores([[[0.2, 0.8], [0.6, 0.4]]], 1, 'expanded-heads');
    expect(s[0][0]).toBeCloseTo(0.4, 15);
    expect(s[0][1]).toBeCloseTo(0.6, 15);
  });

  it('paper regions over the cached context, half-open edges', () => {
    expect(attnCalib(paper('sink')).evicted).toEqual([[0], [0]]);
    expect(attnCalib(paper('recent')).evicted).toEqual([[5], [4]]);
    // head 1 has no middle outlier: equalisation evicts its lowest-attention context token (2)
    const middle = attnCalib(paper('middle'));
    expect(middle.outliers).toEqual([[3], []]);
    expect(middle.evicted).toEqual([[3], [2]]);
  });

  it('code regions: strict edges over cache plus question', () => {
    expect(attnCalib(code('recent')).evicted).toEqual([[7], [7]]);
    expect(attnCalib(code('middle')).evicted).toEqual([[3, 5], [2, 4]]);
    expect(attnCalib(code('all')).evicted).toEqual([[0, 3, 5, 7], [0, 2, 4, 7]]);
    expect(attnCalib({ ...code('middle'), equalise: false }).evicted).toEqual([[3, 5], [4]]);
    // strict edges over the context only: position n - R = 4 belongs to no region
    expect(attnCalib({ ...paper('recent'), strictEdges: true }).evicted).toEqual([[5], [2]]);
  });

  it('GQA group-mean and group-max score one KV head from its query heads', () => {
    const grouped = (gqa: CalibInput['gqa'], region: CalibInput['region']) => attnCalib(paper(region, [[A0], [A1]], 1, gqa)).evicted;
    // mean = [.4, .035, .015, .095, .075, .115, .065, .2]
    expect(grouped('group-mean', 'sink')).toEqual([[0]]);
    expect(grouped('group-mean', 'recent')).toEqual([[5]]);
    expect(grouped('group-mean', 'middle')).toEqual([[]]);
    // max = [.5, .05, .02, .15, .12, .2, .08, .2]
    expect(grouped('group-max', 'middle')).toEqual([[3]]);
    expect(grouped('group-max', 'recent')).toEqual([[4, 5]]);
  });
});
