// Who and what a run is: the model's identity (what must not change under a resumed run), a short
// model name for the default run directory, and the provenance written beside it in the manifest.
import path from 'node:path';
import { existsSync, statSync } from 'node:fs';
import { isCommitHash, weightFiles, type HubEnv } from '../../datasets/hub.js';
import type { ModelIdentity } from '../../results/manifest.js';
import type { Shard } from '../../results/shard.js';
import { weightHashes } from '../../results/provenance.js';

/** Is the spec a local folder (rather than a Hub id)? */
export function isLocalModel(spec: string): boolean {
  return existsSync(spec) && statSync(spec).isDirectory();
}

const GENERIC_FOLDER = /^(hf|model|models|weights|checkpoint|snapshots|[0-9a-f]{40})$/i;

/**
 * A readable model name: the Hub name without org and revision, or the folder name, skipping
 * generic folder names (`stories260K/hf` → stories260K, a hub snapshot's commit → the repo name).
 */
export function modelName(spec: string, dir: string): string {
  const hub = /^[\w.-]+\/([\w.-]+)(?:@.+)?$/.exec(spec);
  if (hub && !isLocalModel(spec)) return hub[1]!;
  const parts = path.resolve(dir).split(path.sep).filter(Boolean);
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i]!;
    if (GENERIC_FOLDER.test(part)) continue;
    const repo = /^models--(.+)$/.exec(part); // HF cache: models--org--name/snapshots/<commit>
    return repo ? repo[1]!.split('--').at(-1)! : part;
  }
  return 'model';
}

/** runs/<benchmark>/<model>, with the shard in the name so n processes never share a directory. */
export function defaultOutDir(benchmark: string, name: string, shard: Shard): string {
  const safe = name.replace(/[^A-Za-z0-9._+=@-]/g, '_');
  const suffix = shard.count > 1 ? `-shard-${shard.index}-of-${shard.count}` : '';
  return path.join('runs', benchmark, `${safe}${suffix}`);
}

/**
 * The identity a resumed run must match: the spec as given, the resolved hub commit, and the
 * sha256 of each weight file (so a checkpoint replaced in place is caught even under the same name).
 */
export async function modelIdentity(spec: string, dir: string, env: HubEnv): Promise<ModelIdentity> {
  const files = (await weightFiles(dir)).map((f) => path.join(dir, f));
  let weights: Record<string, string>;
  try {
    weights = await weightHashes(files, path.join(env.cacheDir, 'pcomp-weight-hashes.json'));
  } catch {
    weights = await weightHashes(files); // an unwritable cache only costs hashing again next time
  }
  const identity: ModelIdentity = { id: spec.replace(/[\\/]+$/, ''), weights };
  const snapshot = path.basename(path.resolve(dir));
  if (!isLocalModel(spec) && isCommitHash(snapshot)) identity.revision = snapshot;
  return identity;
}
