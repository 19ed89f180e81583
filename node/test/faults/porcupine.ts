// Runs the independent checker (tools/porcupine, built into .cache/bin by
// scripts/faults.sh) on a history file and reads its verdict.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface PorcupineReport {
  readonly verdict: 'linearizable' | 'not linearizable' | 'unknown';
  readonly keys: number;
  /** Keys written with a TTL (checked with expiry allowed). */
  readonly ttlKeys: number;
  readonly operations: number;
  /** Writes/deletes in doubt that Porcupine searched over. */
  readonly inDoubt: number;
  /** In-doubt operations no read can have observed, left out (exactly; see tools/porcupine/history.go). */
  readonly prunedInDoubt: number;
  readonly illegal: string[];
  readonly unknown: string[];
  readonly visualizations: string[];
  readonly elapsedMs: number;
}

export function porcupineBinary(root: string): string {
  return process.env.KVRING_PORCUPINE ?? join(root, '.cache', 'bin', 'kvring-porcupine');
}

export function runPorcupine(
  binary: string,
  history: string,
  outDir: string,
  name: string,
  timeoutMs = 300_000,
): Promise<PorcupineReport> {
  if (!existsSync(binary))
    return Promise.reject(
      new Error(
        `${binary} is missing: build it with \`bash scripts/faults.sh --build-only\` (Go, module proxy)`,
      ),
    );
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      ['-history', history, '-out', outDir, '-name', name, '-timeout', '120s'],
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = (err as { code?: unknown } | null)?.code;
        // 0 linearizable, 1 not, 3 undecided: all print a report.
        if (err && code !== 1 && code !== 3) {
          reject(
            new Error(
              `kvring-porcupine failed (${typeof code === 'number' || typeof code === 'string' ? code : err.message}): ${stderr}`,
            ),
          );
          return;
        }
        try {
          resolve(JSON.parse(stdout) as PorcupineReport);
        } catch {
          reject(new Error(`kvring-porcupine printed no report: ${stdout.slice(0, 500)} ${stderr}`));
        }
      },
    );
  });
}
