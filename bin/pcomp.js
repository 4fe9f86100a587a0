#!/usr/bin/env node
// Entry point: registers the TypeScript loader (tsx) and hands over to cli/main.ts.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
