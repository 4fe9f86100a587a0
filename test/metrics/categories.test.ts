// The scorer's own task table must agree with the task registry (datasets/tasks/*.json) on metric,
// category, language and post-processing, so `pcomp score` and `pcomp eval` score a task the same way.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  INFINITEBENCH_TASKS,
  LONGBENCH_E_TASKS,
  LONGBENCH_TASKS,
  longBenchBaseTask,
  longBenchCategoryMap,
} from '../../datasets/metrics/longbench-categories.js';
import { METRICS } from '../../datasets/metrics/registry.js';

const tasksDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../datasets/tasks');
const read = (name: string) => JSON.parse(readFileSync(path.join(tasksDir, name), 'utf8'));
const haveRegistry = existsSync(path.join(tasksDir, 'longbench.json'));
if (!haveRegistry) console.warn('[skip] task registry agreement: datasets/tasks/longbench.json is absent');

describe('scorer task tables', () => {
  it('every task names a registered metric', () => {
    for (const info of [...Object.values(LONGBENCH_TASKS), ...Object.values(INFINITEBENCH_TASKS)]) expect(METRICS.has(info.metric)).toBe(true);
    expect(Object.keys(LONGBENCH_TASKS)).toHaveLength(21);
    expect(LONGBENCH_E_TASKS.every((t) => LONGBENCH_TASKS[t])).toBe(true);
    expect(longBenchBaseTask('qasper_e')).toBe('qasper');
    expect(longBenchBaseTask('made_up_e')).toBe('made_up_e');
    expect(Object.keys(longBenchCategoryMap())).toEqual(Object.keys(LONGBENCH_TASKS));
  });
});

describe.skipIf(!haveRegistry)('agreement with datasets/tasks/*.json', () => {
  it('LongBench: metric, category, language, first-line post-processing', () => {
    const defs = read('longbench.json').tasks as Array<Record<string, unknown>>;
    expect(defs.map((d) => d.name).sort()).toEqual(Object.keys(LONGBENCH_TASKS).sort());
    for (const d of defs) {
      const mine = LONGBENCH_TASKS[d.name as string];
      expect({ name: d.name, metric: d.metric, category: d.category, language: d.language, firstLine: d.postprocess === 'first_line' })
        .toEqual({ name: d.name, metric: mine.metric, category: mine.category, language: mine.language, firstLine: mine.firstLineOnly });
    }
  });
  it('LongBench-E task list', () => {
    const defs = read('longbench-e.json').tasks as Array<{ name: string; base: string }>;
    expect(defs.map((d) => d.base).sort()).toEqual([...LONGBENCH_E_TASKS].sort());
  });
  it('InfiniteBench: metric, category, display name', () => {
    const defs = read('infinitebench.json').tasks as Array<Record<string, unknown>>;
    expect(defs.map((d) => d.name).sort()).toEqual(Object.keys(INFINITEBENCH_TASKS).sort());
    for (const d of defs) {
      const mine = INFINITEBENCH_TASKS[d.name as string];
      expect({ name: d.name, metric: d.metric, category: d.category, label: d.displayName })
        .toEqual({ name: d.name, metric: mine.metric, category: mine.category, label: mine.label });
    }
  });
});
