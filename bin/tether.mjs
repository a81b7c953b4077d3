#!/usr/bin/env node
// The `tether` command line from a checkout (after `npm install`): registers tsx's ESM loader through its
// API, then runs the TypeScript sources. Same as `npm run cli -- <args>`.
import { register } from 'tsx/esm/api';

register();
await import(new URL('../src/cli/main.ts', import.meta.url).href);
