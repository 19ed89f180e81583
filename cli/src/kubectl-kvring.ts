#!/usr/bin/env node
// `kubectl-kvring` (package bin): kubectl runs it as `kubectl kvring ...`
// when it is on PATH. Everything is in kubectl/plugin.ts.
import { runPlugin } from './kubectl/plugin.js';

process.exitCode = await runPlugin(process.argv.slice(2));
