// Whether optional APIs (the prometheus-operator's ServiceMonitor,
// cert-manager's Certificate) are
// served, re-checked every few minutes so installing the CRD later is
// noticed without restarting the operator.
import { HttpMethod } from '@kubernetes/client-node';
import type { Clock } from '../clock.js';
import type { KubeClient } from './client.js';
import { KubeApiError } from './errors.js';

export class ApiDiscovery {
  private cache = new Map<string, { at: number; served: boolean }>();

  constructor(
    private readonly client: KubeClient,
    private readonly clock: Clock,
    private readonly ttlMs = 300_000,
  ) {}

  /** True when `group/version` serves the resource `plural`. */
  async served(groupVersion: string, plural: string): Promise<boolean> {
    const key = `${groupVersion}/${plural}`;
    const hit = this.cache.get(key);
    if (hit && this.clock.now() - hit.at < this.ttlMs) return hit.served;
    let served = false;
    try {
      const list = await this.client.request<{ resources?: { name: string }[] }>(
        HttpMethod.GET,
        `/apis/${groupVersion}`,
      );
      served = (list?.resources ?? []).some((r) => r.name === plural);
    } catch (err) {
      if (!(err instanceof KubeApiError && err.isNotFound)) throw err;
    }
    this.cache.set(key, { at: this.clock.now(), served });
    return served;
  }

  serviceMonitors(): Promise<boolean> {
    return this.served('monitoring.coreos.com/v1', 'servicemonitors');
  }

  certificates(): Promise<boolean> {
    return this.served('cert-manager.io/v1', 'certificates');
  }
}
