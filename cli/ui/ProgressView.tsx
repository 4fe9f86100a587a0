// The terminal view of a run: one bar per config, one bar per task of the config being worked on,
// then the live rates, ETA and running score, then the last few log lines. It renders state only.
import React from 'react';
import { Box, Text } from 'ink';
import { formatDuration, formatRate, formatScore, percent, progressBar, type ProgressState, type TaskProgress } from './progress-state.js';

const BAR_WIDTH = 24;

function TaskRow({ task, active, nameWidth }: { task: TaskProgress; active: boolean; nameWidth: number }) {
  const mark = task.finished ? '✓' : active ? '▸' : ' ';
  const count = `${task.done}/${task.total}`.padStart(11);
  return (
    <Text>
      {'  '}
      <Text color={task.finished ? 'green' : active ? 'cyan' : undefined}>{mark}</Text> {task.task.padEnd(nameWidth)}{' '}
      <Text color={task.finished ? 'green' : 'cyan'}>{progressBar(task.done, task.total, BAR_WIDTH)}</Text>
      {count} {percent(task.done, task.total).padStart(4)}
      {task.score !== undefined ? `  score ${formatScore(task.score)}` : ''}
    </Text>
  );
}

function ConfigRow({ config, tasks, nameWidth }: { config: string; tasks: TaskProgress[]; nameWidth: number }) {
  const done = tasks.reduce((s, t) => s + t.done, 0);
  const total = tasks.reduce((s, t) => s + t.total, 0);
  const finished = tasks.filter((t) => t.finished).length;
  return (
    <Text>
      <Text bold>{config.padEnd(nameWidth + 4)}</Text>
      <Text color={finished === tasks.length ? 'green' : 'blue'}>{progressBar(done, total, BAR_WIDTH)}</Text>
      {` ${finished}/${tasks.length} tasks, ${done}/${total} samples`}
    </Text>
  );
}

export function ProgressView({ state }: { state: ProgressState }) {
  const configs = [...new Set(state.tasks.map((t) => t.config))];
  // the config being worked on; before the first sample, the first one with work left
  const focus = state.current?.config ?? configs.find((c) => state.tasks.some((t) => t.config === c && !t.finished));
  const nameWidth = Math.max(8, ...state.tasks.map((t) => t.task.length), ...configs.map((c) => c.length - 4));
  const cur = state.current;
  return (
    <Box flexDirection="column">
      <Text bold>
        {state.title}
        {state.outDir ? <Text dimColor>{`  → ${state.outDir}`}</Text> : null}
      </Text>
      {configs.map((config) => (
        <Box key={config} flexDirection="column">
          <ConfigRow config={config} tasks={state.tasks.filter((t) => t.config === config)} nameWidth={nameWidth} />
          {config === focus && !state.end
            ? state.tasks
                .filter((t) => t.config === config)
                .map((t) => <TaskRow key={t.task} task={t} active={cur?.task === t.task && cur.config === config} nameWidth={nameWidth} />)
            : null}
        </Box>
      ))}
      {cur ? (
        <Text>
          <Text color="cyan">{`${cur.config}/${cur.task}`}</Text>
          {` · ${formatRate(cur.samplesPerSec)} samples/s · ${formatRate(cur.tokensPerSec)} tok/s · ETA ${formatDuration(cur.etaSec)}`}
          {cur.runningScore !== undefined ? ` · running score ${formatScore(cur.runningScore)}` : ''}
        </Text>
      ) : null}
      {state.logs.map((log, i) => (
        <Text key={i} color={log.level === 'error' ? 'red' : log.level === 'warn' ? 'yellow' : undefined} dimColor={log.level === 'info'}>
          {log.level === 'info' ? '' : `${log.level}: `}
          {log.message}
        </Text>
      ))}
      {state.end ? (
        <Text color={state.end.ok ? 'green' : 'red'}>
          {state.end.ok ? 'done' : 'stopped'}
          {` in ${formatDuration(state.end.elapsedSec)}: ${state.end.samples} samples`}
          {state.end.tokensPerSec !== undefined ? `, ${formatRate(state.end.tokensPerSec)} tok/s` : ''}
          {state.end.message ? ` · ${state.end.message}` : ''}
        </Text>
      ) : null}
    </Box>
  );
}
