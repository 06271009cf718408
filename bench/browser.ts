/**
 * The browser benchmark: `npx tsx bench/browser.ts [records]` (default 100,000).
 * In headless Chromium (Debian's /usr/bin/chromium), inside a dedicated Web Worker, side by
 * side in one run: edgelog's IndexedDB log against the naive `idb` store (one object and one
 * `put` per record, 1,000 per transaction), appending and then reading 100-byte records.
 * Prints a table with ratios (relaxed durability — Chromium's default — and strict, which
 * is what edgelog uses for acks=-1), then the page → worker path through openBrowserLog.
 */
import { Browser, bundle, serve } from '../test/browser/harness.ts'

const records = Number(process.argv[2] ?? 100_000)
const perTx = 1000

type Row = { name: string; writeRecPerSec: number; readRecPerSec: number; note?: string }

const dir = await bundle({ page: 'bench/browser-page.ts', 'bench-worker': 'bench/browser-worker.ts', worker: 'adapters/indexeddb/worker.ts' })
const server = await serve(dir)
const browser = new Browser()
await browser.start()
const version = browser.context!.browser()?.version() ?? 'chromium'
try {
  const page = await browser.tab(server.url)
  const out: string[] = []
  out.push(`Chromium ${version}, ${records.toLocaleString('en')} records of 100 bytes, ${perTx} per transaction / send`)
  for (const durability of ['relaxed', 'strict'] as const) {
    const rows = (await page.evaluate((p) => (globalThis as any).bench.inWorker(p), { records, durability, perTx })) as Row[]
    const [base, ours, adapter] = rows
    out.push('', `durability ${durability}${durability === 'strict' ? ' (edgelog acks=-1)' : ' (browser default; edgelog acks=1)'}:`)
    out.push('| store | append rec/s | read rec/s |', '|---|---|---|')
    for (const r of rows) out.push(`| ${r.name} | ${r.writeRecPerSec.toLocaleString('en')} | ${r.readRecPerSec.toLocaleString('en')} |`)
    out.push(`| **ratio edgelog client / naive** | **${(ours.writeRecPerSec / base.writeRecPerSec).toFixed(1)}x** | **${(ours.readRecPerSec / base.readRecPerSec).toFixed(1)}x** |`)
    out.push(`| **ratio edgelog adapter / naive** | **${(adapter.writeRecPerSec / base.writeRecPerSec).toFixed(1)}x** | **${(adapter.readRecPerSec / base.readRecPerSec).toFixed(1)}x** |`)
    for (const r of rows) if (r.note) out.push(`- ${r.name}: ${r.note}`)
  }
  const [viaPage] = (await page.evaluate((p) => (globalThis as any).bench.throughBrowserLog(p), { records, durability: 'relaxed', perTx })) as Row[]
  out.push('', `End to end from the page (relaxed): ${viaPage.name}: append ${viaPage.writeRecPerSec.toLocaleString('en')} rec/s, read ${viaPage.readRecPerSec.toLocaleString('en')} rec/s`)
  console.log(out.join('\n'))
} finally {
  await browser.dispose()
  await server.close()
}
