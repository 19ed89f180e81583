import { describe, expect, it } from '@jest/globals';
import { ConnectionSettingsError, clientOptions, expandAddresses } from '../src/connection.js';

// Only names /etc/hosts answers (localhost): no DNS query leaves the machine.
describe('the addresses the CLI dials', () => {
  it('keeps literal IPs and expands a DNS name into every address it resolves to', async () => {
    const out = await expandAddresses(['127.0.0.9:50051', 'localhost:50051', '[::1]:50051']);
    expect(out.slice(0, 1)).toEqual(['127.0.0.9:50051']);
    expect(out).toContain('127.0.0.1:50051');
    expect(out).not.toContain('localhost:50051');
    expect(out).toContain('[::1]:50051');
  });
});

describe('TLS settings', () => {
  it('is plaintext unless a TLS flag is given; empty variables count as unset', () => {
    const o = clientOptions(['127.0.0.1:50051'], { timeoutMs: 1000, tlsCa: '', token: '' });
    expect(o).toEqual({ timeoutMs: 1000, token: undefined });
  });

  it('checks the certificate against the DNS name given in --addr, or --tls-server-name', () => {
    const byName = clientOptions(['kv.example.svc:50051'], { timeoutMs: 1000, tls: true });
    expect(byName.channelOptions).toMatchObject({ 'grpc.ssl_target_name_override': 'kv.example.svc' });
    const explicit = clientOptions(['127.0.0.1:50051'], {
      timeoutMs: 1000,
      tls: true,
      tlsServerName: 'kv-0',
    });
    expect(explicit.channelOptions).toMatchObject({ 'grpc.ssl_target_name_override': 'kv-0' });
    expect(clientOptions(['127.0.0.1:50051'], { timeoutMs: 1000, tls: true }).channelOptions).toBeUndefined();
  });

  it('wants --tls-cert and --tls-key together', () => {
    expect(() => clientOptions(['127.0.0.1:50051'], { timeoutMs: 1000, tlsCert: '/x.crt' })).toThrow(
      ConnectionSettingsError,
    );
  });
});
