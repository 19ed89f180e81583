// A folder laid out the way the kubelet mounts a Secret or ConfigMap volume:
// each file a symlink through `..data` to a timestamped directory, and an
// update that writes a new directory and renames a new `..data` symlink
// over the old one (atomic: a reader sees all old files or all new ones).
// Tests of hot reload update their files this way, as Kubernetes does.
import {
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class SecretVolume {
  readonly dir = mkdtempSync(join(tmpdir(), 'kvring-secret-'));
  private generation = 0;

  constructor(files: Readonly<Record<string, string | Buffer>>) {
    this.update(files);
  }

  /** The path a program is given for `name` (the symlink). */
  path(name: string): string {
    return join(this.dir, name);
  }

  /** Replaces every file at once, as the kubelet does when the Secret changes. */
  update(files: Readonly<Record<string, string | Buffer>>): void {
    const data = `..${new Date().toISOString().replace(/[:.]/g, '_')}.${++this.generation}`;
    mkdirSync(join(this.dir, data));
    for (const [name, content] of Object.entries(files)) writeFileSync(join(this.dir, data, name), content);
    let previous: string | undefined;
    try {
      previous = readlinkSync(join(this.dir, '..data'));
    } catch {
      previous = undefined;
    }
    symlinkSync(data, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    for (const name of Object.keys(files)) {
      try {
        symlinkSync(join('..data', name), join(this.dir, name));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    if (previous) rmSync(join(this.dir, previous), { recursive: true, force: true });
  }
}
