#!/usr/bin/env node
// The `kvring` program (package bin). Everything is in program.ts so tests
// can run the CLI in-process; this file only wires it to the process.
import { run } from './program.js';

// grpc-js hands an IP target to TLS as the server name, and Node warns about
// it on every TLS call to an address (DEP0123). The certificate is still
// verified against the IP (or --tls-server-name); a person running the CLI
// gains nothing from the warning, so that one is dropped, the rest kept.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = (warning: string | Error, ...rest: unknown[]): void => {
  const code =
    rest.find((r) => typeof r === 'string' && r.startsWith('DEP')) ??
    (rest[0] as { code?: string } | undefined)?.code;
  if (code === 'DEP0123') return;
  (emitWarning as (w: string | Error, ...r: unknown[]) => void)(warning, ...rest);
};

process.exitCode = await run(process.argv.slice(2));
