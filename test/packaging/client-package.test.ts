// The client as an application installs it: `npm pack` the @kvring/client
// workspace, install the tarball into a fresh project outside the repository
// (so nothing resolves through the repository's node_modules), compile a
// small program with tsc against the package's declarations only, and run
// it against a real 3-node cluster on loopback.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchEmbeddedPostgres, type EmbeddedPostgresHandle } from '@kvring/devcluster/embedded-postgres';
import { randomSubnet, startLocalCluster, type LocalCluster } from '@kvring/devcluster/local-cluster';
import { REPO_ROOT, runOk } from './support/tools.js';

const TSC = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const FIXTURE = join(REPO_ROOT, 'test', 'packaging', 'fixtures', 'client-app', 'main.ts');

describe('@kvring/client as an installed package', () => {
  let work = '';
  let app = '';
  let pg: EmbeddedPostgresHandle | undefined;
  let cluster: LocalCluster | undefined;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'kvring-client-pkg-'));
    app = join(work, 'app');
    pg = await launchEmbeddedPostgres({});
    cluster = await startLocalCluster({ nodes: 3, subnet: randomSubnet(), postgresUrl: pg.url });
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
    await pg?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('packs with its declarations and no repository-only files', async () => {
    const stdout = await runOk(
      'npm',
      ['pack', '--workspace', 'client', '--pack-destination', work, '--json'],
      {
        timeoutMs: 60_000,
      },
    );
    const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = packed!.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['package.json', 'dist/index.js', 'dist/index.d.ts']));
    expect(files).toEqual(expect.arrayContaining(['dist/ring/index.d.ts', 'dist/gen/kvring/v1/kvring.d.ts']));
    expect(
      files.filter((f) => f.startsWith('src/') || f.endsWith('.map') || f.includes('tsbuildinfo')),
    ).toEqual([]);
  });

  it('installs into a fresh project, compiles against its declarations and talks to a cluster', async () => {
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    expect(tarball).toBeDefined();
    mkdirSync(join(app, 'src'), { recursive: true });
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'kvring-client-app', private: true, type: 'module' }, null, 2),
    );
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify(
        {
          compilerOptions: {
            target: 'ES2022',
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            strict: true,
            outDir: 'dist',
            rootDir: 'src',
            types: ['node'],
          },
          include: ['src'],
        },
        null,
        2,
      ),
    );
    copyFileSync(FIXTURE, join(app, 'src', 'main.ts'));
    // Its dependencies come from the registry (or npm's cache), as for any application.
    await runOk(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', join(work, tarball!), '@types/node@20'],
      { cwd: app, timeoutMs: 180_000 },
    );
    await runOk(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: app, timeoutMs: 120_000 });
    const out = await runOk(
      process.execPath,
      [join(app, 'dist', 'main.js'), ...cluster!.nodes.map((n) => n.clientAddress)],
      { cwd: app, timeoutMs: 60_000 },
    );
    const seen = JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(seen).toMatchObject({
      value: 'hello from an installed client',
      foundAfterDelete: false,
      members: 3,
    });
    expect(seen.version).toEqual(expect.any(Number));
    expect(['kv-0', 'kv-1', 'kv-2']).toContain(seen.primary);
  }, 300_000);
});
