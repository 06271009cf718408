/**
 * The browser benchmark: `npx tsx bench/browser.ts [records]` (default 100,000).
 * In headless Chromium (Debian's /usr/bin/chromium), inside a dedicated Web Worker, side by
 * side in one run: edgelog's IndexedDB log against the naive `idb` store (one object and one
 * `put` per record, 1,000 per transaction), appending and then reading 100-byte records.
 * Prints a table with ratios (relaxed durability — Chromium's default — and strict, which
 * is what edgelog uses for acks=-1), then the page → worker path through openBrowserLog.
 * Then the large read (issue 18, part 2; `--large N`, default 1,000,000 records): raw IndexedDB
 * reads of the stored values and cold group consumers (in the log's worker, and on the page
 * through openBrowserLog), in rounds, with medians, same-round ratios and cold-start times.
 * Options are listed where they are parsed below.
 */
import type { Page } from 'playwright-core'
import { Browser, bundle, serve } from '../test/browser/harness.ts'
import type { ConsumerRun } from './consumer-run.ts'

const args = process.argv.slice(2)
const flag = (name: string, fallback: number) => {
  const at = args.indexOf(name)
  return at >= 0 && args[at + 1] !== undefined && !args[at + 1].startsWith('--') ? Number(args[at + 1]) : fallback
}
const records = Number(args[0] !== undefined && !args[0].startsWith('--') ? args[0] : 100_000)
// Issue 18, part 2: `--large N` records (default 1,000,000; 0 skips) read by a cold group
// consumer and by raw IndexedDB, `--rounds R` rounds (default 5), `--max-bytes B` the
// consumer's maxBytesPerPartition (default 4 MiB), `--large-only` skips the table above it,
// `--all-raw` times every raw way in the large rounds too (default: the two fastest; one getAll
// of every value holds the whole partition at once).
const largeRecords = flag('--large', 1_000_000)
const largeRounds = flag('--rounds', 5)
const largeMaxBytes = flag('--max-bytes', 4 << 20)
const largeOnly = args.includes('--large-only')
const allRaw = args.includes('--all-raw')
// `--no-page`: leave out the consumer on the page through openBrowserLog. `--profile`: see profileBenchWorker.
const noPage = args.includes('--no-page')
const profile = args.includes('--profile')
// Tuning the adapter's read-ahead (IndexedDBStorageOptions.readAhead): `--ahead F` fetches, `--gets N` in flight.
// `--variant maxBytes,fetches,gets` (repeatable; an empty field keeps the default): the same
// consumer with other settings, read in the same rounds, for same-run comparisons.
const variants = args.flatMap((a, i) => (a === '--variant' ? [args[i + 1]] : [])).map((v) => {
  const [mb, f, g] = v.split(',')
  return { label: v, ...(mb ? { maxBytes: Number(mb) } : {}), readAhead: { ...(f ? { fetches: Number(f) } : {}), ...(g ? { getsInFlight: Number(g) } : {}) } }
})
const readAhead = { ...(args.includes('--ahead') ? { fetches: flag('--ahead', 2) } : {}), ...(args.includes('--gets') ? { getsInFlight: flag('--gets', 32) } : {}) }
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

/**
 * `--profile`: CPU profiles (DevTools protocol, 100 µs sampling) of the first round, summed by
 * function (self time): the bench worker while the raw reads run and while the in-worker
 * consumer runs; then, for the consumer on the page, the page's thread and edgelog's worker
 * (where the log and IndexedDB are) while it runs.
 */
async function profileBenchWorker(page: Page) {
  const cdp = await page.context().newCDPSession(page)
  let bench: string | undefined
  let edge: string | undefined
  let id = 0
  const waiting = new Map<number, (result: any) => void>()
  cdp.on('Target.attachedToTarget', (e: any) => {
    if (e.targetInfo.type !== 'worker') return
    if (e.targetInfo.url.includes('bench-worker')) bench = e.sessionId
    else edge = e.sessionId
  })
  cdp.on('Target.receivedMessageFromTarget', (e: any) => {
    const m = JSON.parse(e.message)
    waiting.get(m.id)?.(m.result)
    waiting.delete(m.id)
  })
  const ask = (session: string | undefined, method: string, params: object = {}) => new Promise<any>((resolve) => {
    const i = ++id
    waiting.set(i, resolve)
    void cdp.send('Target.sendMessageToTarget' as any, { sessionId: session, message: JSON.stringify({ id: i, method, params }) } as any)
  })
  await cdp.send('Target.setAutoAttach' as any, { autoAttach: true, waitForDebuggerOnStart: false, flatten: false } as any)
  const benchPhase = async () => (bench ? (await ask(bench, 'Runtime.evaluate', { expression: 'globalThis.__benchPhase ?? ""', returnByValue: true }))?.result?.value : '')
  const pagePhase = () => page.evaluate(() => (globalThis as any).__pagePhase ?? '')
  const until = async (phase: () => Promise<string>, want: string) => { while ((await phase()) !== want) await new Promise((r) => setTimeout(r, 10)) }
  const summary = (profile: any) => {
    const byId = new Map<number, any>(profile.nodes.map((n: any) => [n.id, n]))
    const self = new Map<string, number>()
    let busy = 0
    profile.samples.forEach((nodeId: number, i: number) => {
      const key = byId.get(nodeId).callFrame.functionName || '(anonymous)'
      const us = profile.timeDeltas[i] ?? 0
      self.set(key, (self.get(key) ?? 0) + us)
      if (key !== '(idle)') busy += us
    })
    const top = [...self].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 14)
    return `busy ${Math.round(busy / 1000)} ms: ` + top.map(([k, us]) => `${k} ${Math.round(us / 1000)}`).join(', ')
  }
  const start = async (session: string | undefined) => {
    await ask(session, 'Profiler.enable')
    await ask(session, 'Profiler.setSamplingInterval', { interval: 100 })
    await ask(session, 'Profiler.start')
  }
  const out: string[] = []
  const done = (async () => {
    for (const [from, to, what] of [['raw', 'rawed', 'the raw reads (each way once)'], ['consume', 'consumed', 'the in-worker consumer']]) {
      await until(benchPhase, from)
      await start(bench)
      await until(benchPhase, to)
      out.push(`- round 1, bench worker's CPU during ${what} (self ms; the 300 ms pauses around it idle): ${summary((await ask(bench, 'Profiler.stop')).profile)}`)
    }
    if (noPage) return
    await until(pagePhase, 'page-consume')
    await cdp.send('Profiler.enable')
    await cdp.send('Profiler.setSamplingInterval', { interval: 100 })
    await cdp.send('Profiler.start')
    const before = edge
    while (edge === before) await new Promise((r) => setTimeout(r, 1))
    const edgeSession = edge
    await start(edgeSession)
    await until(pagePhase, 'page-consumed')
    out.push(`- round 1, the page's CPU during the page consumer: ${summary((await cdp.send('Profiler.stop')).profile)}`)
    out.push(`- round 1, edgelog's worker's CPU during the page consumer: ${summary((await ask(edgeSession, 'Profiler.stop')).profile)}`)
  })()
  return { result: async () => { await done; return out.join('\n') } }
}

interface LargeRound extends ConsumerRun {
  raw: Record<string, number>
  variants: Record<string, ConsumerRun>
  viaPage?: ConsumerRun
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const fmt = (x: number) => Math.round(x).toLocaleString('en')
const range = (xs: number[], f: (x: number) => string) => `${f(Math.min(...xs))}–${f(Math.max(...xs))}`

/**
 * The large read (issue 18, part 2): per round, the raw reads and a cold group consumer on the
 * same stored values; medians over the rounds and the ratios within each round.
 */
async function large(page: Page, naiveRead: number[]): Promise<string> {
  const rawWays = allRaw
    ? ['one getAll of every value', 'getAll of 8 values at a time, one after another', 'one getAll per value (count 1), one after another',
      'getAllKeys, then one get per key, all in flight', 'getAllKeys, then gets 16 in flight', 'a cursor', 'getAllKeys, then gets 16 in flight, + decodeRecords', 'edgelog adapter alone: readBatches loop']
    : ['getAllKeys, then gets 16 in flight', 'getAllKeys, then one get per key, all in flight', 'getAllKeys, then gets 16 in flight, + decodeRecords', 'edgelog adapter alone: readBatches loop']
  const profiler = profile ? await profileBenchWorker(page) : undefined
  const rounds = (await page.evaluate((p) => (globalThis as any).bench.large(p), {
    records: largeRecords, rounds: largeRounds, maxBytes: largeMaxBytes, rawWays, readAhead, variants, page: !noPage, profile,
  })) as LargeRound[]
  const ways = Object.keys(rounds[0].raw)
  const isRaw = (w: string) => !w.includes('decodeRecords') && !w.startsWith('edgelog')
  // Per round: the fastest raw way of that round.
  const fastest = rounds.map((r) => Math.max(...ways.filter(isRaw).map((w) => r.raw[w])))
  const out: string[] = []
  out.push('', `Large read (issue 18, part 2): ${largeRecords.toLocaleString('en')} records of 100 bytes written once (relaxed), then ${rounds.length} rounds alternating ` +
    `raw IndexedDB reads and a cold group consumer (log opened on the stored database, new group, maxBytesPerPartition ${largeMaxBytes.toLocaleString('en')}, read-ahead ${JSON.stringify(readAhead)}); medians over the rounds (min–max):`)
  out.push('| read | rec/s median | min–max |', '|---|---|---|')
  for (const w of ways) out.push(`| raw IndexedDB: ${w}${isRaw(w) ? '' : ' (reference: not a raw read)'} | ${fmt(median(rounds.map((r) => r.raw[w])))} | ${range(rounds.map((r) => r.raw[w]), fmt)} |`)
  out.push(`| fastest raw way of each round | ${fmt(median(fastest))} | ${range(fastest, fmt)} |`)
  const fromRun = rounds.map((r) => r.fromRunRecPerSec)
  const after = rounds.map((r) => r.afterFirstRecPerSec)
  out.push(`| edgelog group consumer, from run() to the last record (join and first fetch included) | ${fmt(median(fromRun))} | ${range(fromRun, fmt)} |`)
  out.push(`| edgelog group consumer, from its first batch to the last record (join and first fetch excluded) | ${fmt(median(after))} | ${range(after, fmt)} |`)
  const ratioRun = rounds.map((r, i) => r.fromRunRecPerSec / fastest[i])
  const ratioAfter = rounds.map((r, i) => r.afterFirstRecPerSec / fastest[i])
  const x2 = (x: number) => `${x.toFixed(2)}x`
  if (rounds[0].viaPage) {
    const pr = rounds.map((r) => r.viaPage!.fromRunRecPerSec)
    const pa = rounds.map((r) => r.viaPage!.afterFirstRecPerSec)
    const ri = rounds.map((r, i) => r.viaPage!.fromRunRecPerSec / fastest[i])
    const ra = rounds.map((r, i) => r.viaPage!.afterFirstRecPerSec / fastest[i])
    const pc = rounds.map((r) => r.viaPage!.coldMs)
    out.push(`| edgelog group consumer on the page, log in its worker (openBrowserLog), from run() (join included) | ${fmt(median(pr))} | ${range(pr, fmt)} |`)
    out.push(`| edgelog group consumer on the page, from its first batch (join and first fetch excluded) | ${fmt(median(pa))} | ${range(pa, fmt)} |`)
    out.push(`| **page consumer (join included) / fastest raw, same round** | **${x2(median(ri))}** | ${range(ri, x2)} |`)
    out.push(`| **page consumer (join excluded) / fastest raw, same round** | **${x2(median(ra))}** | ${range(ra, x2)} |`)
    if (naiveRead.length > 0) out.push(`| **page consumer (join included) / naive idb read** | **${(median(pr) / naiveRead[0]).toFixed(1)}x** | ${range(pr.map((x) => x / naiveRead[0]), (x) => `${x.toFixed(1)}x`)} |`)
    out.push(`| page cold start: openBrowserLog (starts edgelog's worker), join a new group, first batch (ms) | ${fmt(median(pc))} | ${range(pc, fmt)} |`)
  }
  for (const v of variants) {
    const vr = rounds.map((r, i) => r.variants[v.label].afterFirstRecPerSec / fastest[i])
    const vi = rounds.map((r, i) => r.variants[v.label].fromRunRecPerSec / fastest[i])
    out.push(`| variant --variant ${v.label} (maxBytes,fetches,gets): join included / fastest raw; excluded | ${x2(median(vi))}; ${x2(median(vr))} | ${range(vi, x2)}; ${range(vr, x2)} |`)
  }
  out.push(`| **consumer (join included) / fastest raw, same round** | **${x2(median(ratioRun))}** | ${range(ratioRun, x2)} |`)
  out.push(`| **consumer (join excluded) / fastest raw, same round** | **${x2(median(ratioAfter))}** | ${range(ratioAfter, x2)} |`)
  if (naiveRead.length > 0) {
    const naive = naiveRead[0]
    out.push(`| **consumer (join included) / naive idb read (${fmt(naive)} rec/s, ${records.toLocaleString('en')} records, relaxed, this run)** | **${(median(fromRun) / naive).toFixed(1)}x** | ${range(fromRun.map((x) => x / naive), (x) => `${x.toFixed(1)}x`)} |`)
  }
  const cold = rounds.map((r) => r.coldMs)
  out.push(`| cold start: open the log, join a new group, first batch (ms) | ${fmt(median(cold))} | ${range(cold, fmt)} |`)
  out.push(`- per round: ${rounds.map((r, i) => `#${i + 1} cold ${fmt(r.coldMs)} ms (open ${fmt(r.openMs)}, first batch ${fmt(r.firstBatchRecords)} records), in broker.fetch ${fmt(r.fetchMs)} ms, in eachBatch ${fmt(r.handlerMs)} ms, ` +
    `join incl. ${x2(ratioRun[i])}, excl. ${x2(ratioAfter[i])}`).join('; ')}`)
  if (profiler) out.push(await profiler.result())
  out.push(JSON.stringify({ large: { records: largeRecords, maxBytes: largeMaxBytes, rounds } }))
  return out.join('\n')
}

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
  const naiveRead: number[] = []
  if (!largeOnly) out.push(`Chromium ${version}, ${records.toLocaleString('en')} records of 100 bytes, ${perTx} per transaction / send`)
  for (const durability of largeOnly ? [] : ['relaxed', 'strict'] as const) {
    const rows = (await page.evaluate((p) => (globalThis as any).bench.inWorker(p), { records, durability, perTx })) as Row[]
    const [base, ours] = rows
    naiveRead.push(base.readRecPerSec)
    const adapter = rows.find((r) => r.name.startsWith('edgelog adapter'))!
    const raw = rows.filter((r) => r.name.startsWith('raw IndexedDB') && !r.name.includes('decodeRecords') && !r.name.includes('edgelog'))
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
  if (!largeOnly) {
    const [viaPage] = (await page.evaluate((p) => (globalThis as any).bench.throughBrowserLog(p), { records, durability: 'relaxed', perTx })) as Row[]
    out.push('', `End to end from the page (relaxed): ${viaPage.name}: append ${viaPage.writeRecPerSec!.toLocaleString('en')} rec/s, read ${viaPage.readRecPerSec.toLocaleString('en')} rec/s`)
  }
  console.log(out.join('\n'))
  if (largeRecords > 0) console.log(await large(page, naiveRead))
} finally {
  await browser.dispose()
  await server.close()
}
