// Compiles workspace packages of a source snapshot (build.sh) to their
// dist/ with swc: each src/**/*.ts to the same path under dist/ as .js, with
// the options jest uses (jest.config.js), so the code is transformed as the
// test suite runs it. No type check and no declarations: only the programs
// run from here.
//
//   node compile.mjs ROOT PACKAGE...
import { transformFile } from '@swc/core';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const [root, ...packages] = process.argv.slice(2);
if (!root || packages.length === 0) {
  console.error('usage: node compile.mjs ROOT PACKAGE...');
  process.exit(2);
}

function sources(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') && !e.name.endsWith('.test.ts') ? [path] : [];
  });
}

let files = 0;
for (const pkg of packages) {
  const src = join(root, pkg, 'src');
  const out = join(root, pkg, 'dist');
  for (const file of sources(src)) {
    const target = join(out, relative(src, file)).replace(/\.ts$/, '.js');
    const { code } = await transformFile(file, {
      jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
      module: { type: 'es6' },
      sourceMaps: false,
    });
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, code);
    files++;
  }
}
console.error(`[old-version] compiled ${files} files of ${packages.join(', ')}`);
