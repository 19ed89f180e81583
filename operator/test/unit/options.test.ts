import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKubeConfig } from '../../src/kube/kubeconfig.js';
import { parseDuration, parseHostPort, parseOptions } from '../../src/options.js';

describe('kvring-operator options', () => {
  it('has production defaults', () => {
    const o = parseOptions([], {});
    expect(o).toMatchObject({
      metricsBindAddress: '0.0.0.0:8080',
      leaderElect: true,
      leaderElectionId: 'kvring-operator',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      workers: 2,
      resyncMs: 600_000,
      clusterDomain: 'cluster.local',
      drainTimeoutMs: 600_000,
      logLevel: 'info',
    });
    expect(o.identity).toMatch(/_[0-9a-f]{8}$/);
  });

  it('parses flags, and takes the namespace to watch from WATCH_NAMESPACE', () => {
    const o = parseOptions(
      [
        '--kubeconfig',
        '/k',
        '--no-leader-elect',
        '--lease-duration=4s',
        '--retry-period',
        '500ms',
        '--workers',
        '4',
      ],
      { WATCH_NAMESPACE: 'shop' },
    );
    expect(o).toMatchObject({
      kubeconfig: '/k',
      namespace: 'shop',
      leaderElect: false,
      leaseDurationMs: 4_000,
      retryPeriodMs: 500,
      workers: 4,
    });
  });

  it('rejects a bad duration with a message that shows the expected form', () => {
    expect(() => parseDuration('soon')).toThrow(/expected a duration such as 500ms, 15s, 10m or 1h/);
    expect(parseDuration('1.5m')).toBe(90_000);
    expect(parseDuration('30')).toBe(30_000);
  });

  it('splits host:port, IPv6 included', () => {
    expect(parseHostPort('127.0.0.1:9090')).toEqual({ host: '127.0.0.1', port: 9090 });
    expect(parseHostPort('[::]:8080')).toEqual({ host: '::', port: 8080 });
    expect(parseHostPort(':8080')).toEqual({ host: '0.0.0.0', port: 8080 });
  });

  it('without any Kubernetes configuration it says what to do instead of guessing localhost:8080', () => {
    const home = mkdtempSync(join(tmpdir(), 'kvring-home-'));
    const saved = process.env.HOME;
    process.env.HOME = home;
    try {
      expect(() => loadKubeConfig(undefined, {})).toThrow(
        'no Kubernetes configuration found: pass --kubeconfig PATH, set KUBECONFIG, or run inside a pod with a service account',
      );
    } finally {
      process.env.HOME = saved;
      rmSync(home, { recursive: true, force: true });
    }
  });
});
