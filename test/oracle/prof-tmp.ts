import { mkdtempSync } from 'node:fs'; import os from 'node:os'; import path from 'node:path';
import { ReferenceModel } from './forward.js'; import { writeTinyModel } from './model-writer.js';
const d = mkdtempSync(path.join(os.tmpdir(), 'orc-'));
writeTinyModel(d, { hiddenSize: 64, numHeads: 8, numKvHeads: 2, intermediateSize: 172, numLayers: 3 });
const m = ReferenceModel.load(d);
for (let r = 0; r < 3; r++) { const t1 = performance.now(); m.logits(Array.from({length:256},(_, i)=> (i*7)%300)); console.log('fwd', (performance.now()-t1).toFixed(0)); }
