/** Printing for the benchmarks: aligned tables, and one JSON report at the end for docs/benchmarks.md. */
export const report: Record<string, unknown> = {}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

export function table(title: string, header: string[], rows: Array<Array<string | number>>): void {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? c.toLocaleString('en') : c)))]
  const widths = header.map((_, i) => Math.max(...cells.map((r) => String(r[i]).length)))
  console.log(`\n${title}`)
  for (const [i, row] of cells.entries()) {
    console.log('| ' + row.map((c, j) => String(c).padEnd(widths[j])).join(' | ') + ' |')
    if (i === 0) console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|')
  }
}

/** A numeric `--name N` option of the command line, or `fallback`. */
export function numberOption(name: string, fallback: number): number {
  const args = process.argv.slice(2)
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
