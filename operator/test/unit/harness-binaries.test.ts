import { describe, expect, it } from '@jest/globals';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinaries, MissingBinariesError, pinnedVersions } from '@kvring/control-plane';

describe('finding the Kubernetes test binaries', () => {
  it('fails, naming the build script, when they are missing (tests never skip)', () => {
    const empty = mkdtempSync(join(tmpdir(), 'kvring-bin-'));
    try {
      let err: unknown;
      try {
        findBinaries(
          ['etcd', 'kube-apiserver', 'kubectl'],
          { KUBEBUILDER_ASSETS: empty },
          join(empty, 'none'),
        );
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(MissingBinariesError);
      expect((err as Error).message).toContain('Run scripts/k8s/build.sh etcd kube-apiserver kubectl');
      expect((err as Error).message).toContain('KUBEBUILDER_ASSETS');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('prefers KUBEBUILDER_ASSETS when it holds every binary asked for', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvring-bin-'));
    try {
      for (const n of ['etcd', 'kube-apiserver']) {
        writeFileSync(join(dir, n), '#!/bin/sh\n');
        chmodSync(join(dir, n), 0o755);
      }
      expect(
        findBinaries(['etcd', 'kube-apiserver'], { KUBEBUILDER_ASSETS: dir }, join(dir, 'none')),
      ).toEqual({
        etcd: join(dir, 'etcd'),
        'kube-apiserver': join(dir, 'kube-apiserver'),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the pinned versions the build script uses', () => {
    expect(pinnedVersions()).toMatchObject({ KUBERNETES_VERSION: expect.stringMatching(/^v1\.35\.\d+$/) });
  });
});
