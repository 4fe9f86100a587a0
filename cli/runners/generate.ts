// Orchestration for `pcomp generate`: resolve the model, tokenize, call the engine, print.
import { readFile, writeFile } from 'node:fs/promises';
import type { GenerateOptions } from '../commands/generate.js';
import { EngineModel, buildInfo, type Device } from '../../engine/index.js';
import { resolveConfig } from '../../engine/policy-config.js';
import { loadTokenizer } from '../../datasets/tokenizer.js';
import { resolveModel } from '../../datasets/hub.js';
import { UserError } from '../../util/errors.js';
import { withInterrupt } from './interrupt.js';
import { loadForConfigs, requireCuda } from './device.js';

export async function runGenerate(opts: GenerateOptions): Promise<void> {
  if (opts.offline) process.env.HF_HUB_OFFLINE = '1';
  if (opts.device === 'cuda') requireCuda(buildInfo());
  const dir = await resolveModel(opts.model);
  const tok = await loadTokenizer(dir);
  const load = (device: Device) => EngineModel.load(dir, { threads: opts.threads, device });
  const model = opts.config
    ? await loadForConfigs(load, opts.device, [{ name: opts.config, config: resolveConfig(opts.config, opts.set) }])
    : await load(opts.device);
  try {
    if (opts.config) {
      await runWithConfig(opts, model, tok);
      return;
    }
    let text = opts.prompt ?? '';
    if (opts.promptFile) text = await readFile(opts.promptFile, 'utf8');
    if (opts.chat) {
      if (!tok.hasChatTemplate) throw new UserError(`${dir}/tokenizer_config.json: no "chat_template", so --chat cannot be used`);
      text = tok.applyChatTemplate([{ role: 'user', content: text }], { addGenerationPrompt: true });
    }
    // An empty prompt means BOS alone (as llama2.c and HF do for unconditional generation).
    let ids = opts.chat ? tok.encode(text, { addSpecialTokens: false }) : tok.encode(text);
    if (ids.length === 0) {
      if (tok.bosId === null) throw new UserError(`${dir}: the prompt is empty and the tokenizer has no BOS token to start from`);
      ids = Int32Array.of(tok.bosId);
    }
    const stopIds = tok.eosIds.length ? tok.eosIds : model.info.eos_token_ids;
    const out = await withInterrupt((signal) => model.generate(ids, { maxNewTokens: opts.maxNewTokens, stopIds, signal }));
    process.stdout.write(tok.decode(out.tokens, { skipSpecialTokens: true }));
    if (process.stdout.isTTY) process.stdout.write('\n');
  } finally {
    model.free();
  }
}

async function runWithConfig(opts: GenerateOptions, model: EngineModel, tok: Awaited<ReturnType<typeof loadTokenizer>>): Promise<void> {
  if (!opts.contextFile || opts.question === undefined)
    throw new UserError('--config needs --context-file FILE and --question TEXT');
  const { buildChunkedSample } = await import('./sample.js');
  const config = resolveConfig(opts.config!, opts.set);
  const context = await readFile(opts.contextFile, 'utf8');
  const sample = buildChunkedSample({
    tok, context, question: opts.question, config, maxNew: opts.maxNewTokens, task: opts.task,
    window: model.info.max_position_embeddings,
  });
  // --task picks the task's templates and, as in eval, chunkEvict.kRetrieval on the retrieval tasks.
  const { isRetrievalTask } = await import('./eval-tasks.js');
  const { registry } = await import('../../datasets/registry.js');
  const retrieval = opts.task ? isRetrievalTask(registry().get(opts.task)) : false;
  const r = await withInterrupt((signal) => model.run(sample, { ...config, retrieval }, { signal }));
  if (opts.trace) await writeFile(opts.trace, JSON.stringify(r.trace, null, 2) + '\n');
  process.stdout.write(tok.decode(r.tokens, { skipSpecialTokens: true }));
  if (process.stdout.isTTY) process.stdout.write('\n');
}
