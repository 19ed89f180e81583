#!/usr/bin/env node
// The `kvring` program (package bin). Everything is in program.ts so tests
// can run the CLI in-process; this file only wires it to the process.
import { run } from './program.js';

process.exitCode = await run(process.argv.slice(2));
