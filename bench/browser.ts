/**
 * The browser benchmark: `npx tsx bench/browser.ts [records]` (default 100,000).
 * In headless Chromium (Debian's /usr/bin/chromium), inside a dedicated Web Worker, side by
 * side in one run: edgelog's IndexedDB log against the naive `idb` store (one object and one
 * `put` per record, 1,000 per transaction), appending and then reading 100-byte records.
 * Prints a table with ratios (relaxed durability — Chromium's default — and strict, which
 * is what edgelog uses for acks=-1), then the page → worker path through openBrowserLog.
 */
import type { Page } from 'playwright-core'
import { Browser, bundle, serve } from '../test/browser/harness.ts'

const records = Number(process.argv[2] ?? 100_000)
// `--heap [records]`: only the worker's heap while a consumer reads (default 1,000,000 records).
const heapAt = process.argv.indexOf('--heap')
const heapRecords = heapAt >= 0 ? Number(process.argv[heapAt + 1] ?? 1_000_000) : 0

/**
 * Samples the heap of the page's dedicated worker through the DevTools protocol (a collection,
 * then Runtime.getHeapUsage, every `everyMs`), tagged with the worker's `__benchPhase`.
 */
async function sampleWorkerHeap(page: Page, everyMs: number) {
  const cdp = await page.context().newCDPSession(page)
  let session: string | undefined
  let id = 0
  const waiting = new Map<number, (result: any) => void>()
  cdp.on('Target.attachedToTarget', (e: any) => { if (e.targetInfo.type === 'worker') session = e.sessionId })
  cdp.on('Target.receivedMessageFromTarget', (e: any) => {
    const m = JSON.parse(e.message)
    waiting.get(m.id)?.(m.result)
    waiting.delete(m.id)
  })
  const ask = (method: string, params: object = {}) => new Promise<any>((resolve) => {
    const i = ++id
    waiting.set(i, resolve)
    void cdp.send('Target.sendMessageToTarget' as any, { sessionId: session, message: JSON.stringify({ id: i, method, params }) } as any)
  })
  await cdp.send('Target.setAutoAttach' as any, { autoAttach: true, waitForDebuggerOnStart: false, flatten: false } as any)
  const samples: Array<{ phase: string; used: number }> = []
  let stop = false
  const loop = (async () => {
    while (!stop) {
      await new Promise((r) => setTimeout(r, everyMs))
      if (!session || stop) continue
      const phase = (await ask('Runtime.evaluate', { expression: 'globalThis.__benchPhase ?? ""', returnByValue: true }))?.result?.value
      await ask('HeapProfiler.collectGarbage')
      const usage = await ask('Runtime.getHeapUsage')
      if (usage?.usedSize !== undefined) samples.push({ phase, used: usage.usedSize })
    }
  })()
  return { samples, stop: async () => { stop = true; await loop } }
}
const perTx = 1000

type Row = { name: string; writeRecPerSec?: number; readRecPerSec: number; note?: string }

const dir = await bundle({ page: 'bench/browser-page.ts', 'bench-worker': 'bench/browser-worker.ts', worker: 'adapters/indexeddb/worker.ts' })
const server = await serve(dir)
const browser = new Browser()
await browser.start()
const version = browser.context!.browser()?.version() ?? 'chromium'
try {
  const page = await browser.tab(server.url)
  if (heapRecords) {
    const sampler = await sampleWorkerHeap(page, 100)
    const [row] = (await page.evaluate((p) => (globalThis as any).bench.inWorker(p), { records: heapRecords, durability: 'relaxed', perTx: 1000, heapOnly: true })) as Row[]
    await sampler.stop()
    const mb = (x: number) => `${(x / 1e6).toFixed(1)} MB`
    const of = (phase: string) => sampler.samples.filter((s) => s.phase === phase).map((s) => s.used)
    const [write, read] = [of('write'), of('read')]
    console.log(`Chromium ${version}, ${heapRecords.toLocaleString('en')} records of 100 bytes written to IndexedDB then read by a group consumer (${row.readRecPerSec.toLocaleString('en')} rec/s; ${row.note})`)
    console.log(`worker heap after a collection, every 100 ms (DevTools protocol): while writing ${write.length} samples, ${mb(Math.min(...write))} … ${mb(Math.max(...write))}; ` +
      `while reading ${read.length} samples: first ${mb(read[0])}, last ${mb(read[read.length - 1])}, min ${mb(Math.min(...read))}, max ${mb(Math.max(...read))}`)
    console.log(JSON.stringify({ heap: { records: heapRecords, write, read } }))
    process.exit(0)
  }
  const out: string[] = []
  out.push(`Chromium ${version}, ${records.toLocaleString('en')} records of 100 bytes, ${perTx} per transaction / send`)
  for (const durability of ['relaxed', 'strict'] as const) {
    const rows = (await page.evaluate((p) => (globalThis as any).bench.inWorker(p), { records, durability, perTx })) as Row[]
    const [base, ours] = rows
    const adapter = rows.find((r) => r.name.startsWith('edgelog adapter'))!
    const raw = rows.filter((r) => r.name.startsWith('raw IndexedDB'))
    const fastest = raw.reduce((a, b) => (b.readRecPerSec > a.readRecPerSec ? b : a), raw[0])
    out.push('', `durability ${durability}${durability === 'strict' ? ' (edgelog acks=-1)' : ' (browser default; edgelog acks=1)'}:`)
    out.push('| store | append rec/s | read rec/s |', '|---|---|---|')
    for (const r of rows) out.push(`| ${r.name} | ${r.writeRecPerSec?.toLocaleString('en') ?? '—'} | ${r.readRecPerSec.toLocaleString('en')} |`)
    out.push(`| **ratio edgelog client / naive** | **${(ours.writeRecPerSec! / base.writeRecPerSec!).toFixed(1)}x** | **${(ours.readRecPerSec / base.readRecPerSec).toFixed(1)}x** |`)
    out.push(`| **ratio edgelog adapter / naive** | **${(adapter.writeRecPerSec! / base.writeRecPerSec!).toFixed(1)}x** | **${(adapter.readRecPerSec / base.readRecPerSec).toFixed(1)}x** |`)
    const second = rows.find((r) => r.name.startsWith('edgelog, second read'))!
    out.push(`| **ratio edgelog client, second read / fastest raw read (${fastest.name.replace('raw IndexedDB: ', '')})** | | **${(second.readRecPerSec / fastest.readRecPerSec).toFixed(2)}x** |`)
    out.push(`| **ratio edgelog client, second read / naive** | | **${(second.readRecPerSec / base.readRecPerSec).toFixed(1)}x** |`)
    for (const r of rows) if (r.note) out.push(`- ${r.name}: ${r.note}`)
  }
  const [viaPage] = (await page.evaluate((p) => (globalThis as any).bench.throughBrowserLog(p), { records, durability: 'relaxed', perTx })) as Row[]
  out.push('', `End to end from the page (relaxed): ${viaPage.name}: append ${viaPage.writeRecPerSec!.toLocaleString('en')} rec/s, read ${viaPage.readRecPerSec.toLocaleString('en')} rec/s`)
  console.log(out.join('\n'))
} finally {
  await browser.dispose()
  await server.close()
}
