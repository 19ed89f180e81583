// Plain-text tables for terminals: the CLI's status and the benchmark's figures.

/** Columns padded to their widest cell; numbers right-aligned. */
export function renderTable(header: readonly string[], body: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => body.length > 0 && body.every((r) => /^[-\d.,%]+$/.test(r[i] ?? '')));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...body.map(line)].join('\n');
}
