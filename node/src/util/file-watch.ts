// Calls back when any of a set of mounted files may have changed.
//
// Kubernetes updates a Secret or ConfigMap volume by writing the new files
// into a fresh hidden directory and renaming a `..data` symlink over the old
// one (the kubelet's atomic writer); the visible names are symlinks through
// `..data`. Watching the files themselves would follow the old inodes and
// miss the swap, so this watches their directories (inotify via fs.watch)
// and reports any event there. Events come in bursts (the new directory,
// `..data_tmp`, the rename, the old directory's removal): a short debounce
// turns a burst into one callback. A slow periodic recheck backs the watch
// up (a volume type without inotify, an event lost while the directory
// itself was replaced); callers compare contents, so a spurious call costs
// one read.
import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../log.js';

export interface FileWatchOptions {
  /** Quiet time after the last event before the callback runs. */
  readonly debounceMs: number;
  /** Recheck this often even without events (0: never). */
  readonly recheckMs: number;
  /** A watch that could not start or failed (the recheck still runs). */
  readonly onWatchError: (dir: string, err: Error) => void;
}

export interface FileWatch {
  close(): void;
}

export function watchFiles(
  paths: readonly string[],
  onChange: () => void,
  opts: FileWatchOptions,
): FileWatch {
  let timer: NodeJS.Timeout | undefined;
  const fire = (): void => {
    timer = undefined;
    onChange();
  };
  const poke = (): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(fire, opts.debounceMs);
    timer.unref();
  };
  const watchers: FSWatcher[] = [];
  for (const dir of new Set(paths.map((p) => dirname(p)))) {
    try {
      const w = watch(dir, { persistent: false }, poke);
      w.on('error', (err) => opts.onWatchError(dir, err));
      watchers.push(w);
    } catch (err) {
      opts.onWatchError(dir, err as Error);
    }
  }
  const recheck = opts.recheckMs > 0 ? setInterval(poke, opts.recheckMs) : undefined;
  recheck?.unref();
  return {
    close() {
      for (const w of watchers) w.close();
      if (recheck) clearInterval(recheck);
      if (timer) clearTimeout(timer);
    },
  };
}

export interface ReloadOptions {
  readonly debounceMs: number;
  readonly recheckMs: number;
}

/** watchFiles for a reloader: a watch that cannot start is logged (the recheck still runs). */
export function followFiles(
  what: string,
  paths: readonly string[],
  reload: () => void,
  opts: ReloadOptions,
  log: Logger,
): FileWatch {
  return watchFiles(paths, reload, {
    ...opts,
    onWatchError: (dir, err) =>
      log.warn({ dir, err: err.message }, `cannot watch the ${what}; rechecking on the interval only`),
  });
}
