// One thread of a threaded load (driver.ts): its own clients, a share of the
// workers, and the phases its parent asks for.
import { parentPort, workerData } from 'node:worker_threads';
import type { LatencyHistogram } from './histogram.js';
import {
  KeySet,
  LoadClients,
  runLoadKeepingHistogram,
  type LoadResult,
  type LoadTargetOptions,
  type OpKind,
} from './load.js';

export interface WorkerInit {
  readonly target: LoadTargetOptions;
  readonly prefix: string;
  readonly keySize: number;
}

export interface WorkerPhase {
  readonly op: OpKind;
  readonly ops: number;
  readonly firstOp: number;
  readonly keySpace: number;
  readonly valueSize: number;
  readonly maxDurationMs?: number;
  readonly maxErrors?: number;
}

export type WorkerRequest =
  | { readonly type: 'warmUp'; readonly id: number }
  | { readonly type: 'run'; readonly id: number; readonly phase: WorkerPhase }
  | { readonly type: 'stop'; readonly id: number };

export type WorkerReply =
  | { readonly type: 'done'; readonly id: number }
  | {
      readonly type: 'result';
      readonly id: number;
      readonly result: LoadResult;
      /** Posted as it is: a RecordableHistogram survives structured cloning. */
      readonly histogram: LatencyHistogram;
    }
  | { readonly type: 'error'; readonly id: number; readonly message: string };

if (parentPort) {
  const port = parentPort;
  const init = workerData as WorkerInit;
  const clients = new LoadClients(init.target);
  const keys = new KeySet(init.prefix, init.keySize);
  let abort = new AbortController();
  const reply = (r: WorkerReply): void => port.postMessage(r);

  port.on('message', (req: WorkerRequest) => {
    const fail = (err: unknown): void =>
      reply({ type: 'error', id: req.id, message: err instanceof Error ? err.message : String(err) });
    if (req.type === 'stop') {
      abort.abort();
    } else if (req.type === 'warmUp') {
      clients.warmUp().then(() => reply({ type: 'done', id: req.id }), fail);
    } else {
      abort = new AbortController();
      runLoadKeepingHistogram(clients, { ...req.phase, keys, signal: abort.signal }).then(
        ({ result, histogram }) => reply({ type: 'result', id: req.id, result, histogram }),
        fail,
      );
    }
  });
}
