/**
 * The browser benchmark's page: runs bench/browser-worker.ts in a dedicated worker, and
 * openBrowserLog (page → edgelog's worker, batches transferred) for the end-to-end path.
 */
import { openBrowserLog } from '../adapters/indexeddb/browser-log.ts'
import { timeConsumerRun, type ConsumerRun } from './consumer-run.ts'

interface Params { records: number; durability: 'relaxed' | 'strict'; perTx: number }
const rate = (n: number, ms: number) => Math.round((n / ms) * 1000)

async function inWorker(p: Params): Promise<unknown> {
  const worker = new Worker('/bench-worker.js', { type: 'module' })
  try {
    return await new Promise((resolve, reject) => {
      worker.onmessage = (e) => (e.data.ok ? resolve(e.data.rows) : reject(new Error(e.data.error)))
      worker.onerror = (e) => reject(new Error(e.message))
      worker.postMessage(p)
    })
  } finally {
    worker.terminate()
  }
}

async function throughBrowserLog(p: Params): Promise<unknown> {
  const name = `browser-log-${Date.now()}`
  const log = await openBrowserLog({ name })
  await log.admin().createTopics({ topics: [{ topic: 'bench', numPartitions: 1 }] })
  const producer = log.producer()
  await producer.connect()
  const vals = Array.from({ length: p.records }, () => crypto.getRandomValues(new Uint8Array(100)))
  const t0 = performance.now()
  for (let base = 0; base < p.records; base += p.perTx) {
    const messages = []
    for (let i = base; i < Math.min(p.records, base + p.perTx); i++) messages.push({ partition: 0, value: vals[i] })
    await producer.send({ topic: 'bench', acks: p.durability === 'strict' ? -1 : 1, messages })
  }
  const writeMs = performance.now() - t0
  await producer.disconnect()
  const t1 = performance.now()
  let n = 0
  const consumer = log.consumer({ groupId: 'bench', maxWaitTimeInMs: 0, maxBytesPerPartition: 4 << 20 })
  await consumer.connect()
  await consumer.subscribe({ topics: ['bench'], fromBeginning: true })
  await new Promise<void>((resolve) => {
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        n += batch.messages.length
        if (n >= p.records) resolve()
      },
    })
  })
  const readMs = performance.now() - t1
  await consumer.disconnect()
  await log.close()
  await new Promise((r) => { const q = indexedDB.deleteDatabase(name); q.onsuccess = q.onerror = q.onblocked = r })
  return [{
    name: 'edgelog via openBrowserLog (client on the page, log in its worker)',
    writeRecPerSec: rate(p.records, writeMs),
    readRecPerSec: rate(p.records, readMs),
    note: 'batches transferred across postMessage',
  }]
}

type ReadAhead = { fetches?: number; getsInFlight?: number }
interface LargeParams {
  records: number
  rounds: number
  maxBytes: number
  rawWays: string[]
  readAhead: ReadAhead
  /** The same in-worker consumer with other settings, in the same rounds. */
  variants: Array<{ label: string; maxBytes?: number; readAhead?: ReadAhead }>
  /** Also the consumer on this page through openBrowserLog (the log in edgelog's worker). */
  page: boolean
  profile?: boolean
}

/**
 * Issue 18, part 2 (bench/browser.ts): one bench worker kept for the run writes `records` once,
 * then each round reads them in turn, starting one step later each round: the raw IndexedDB
 * reads and a cold group consumer in that worker (the log in the consumer's own worker), the
 * variants, and a cold group consumer on this page through openBrowserLog (the client here, the
 * log and IndexedDB in edgelog's worker: how an application runs it).
 */
async function large(p: LargeParams): Promise<unknown> {
  const worker = new Worker('/bench-worker.js', { type: 'module' })
  const call = (step: object) => new Promise<any>((resolve, reject) => {
    worker.onmessage = (e) => (e.data.ok ? resolve(e.data.rows) : reject(new Error(e.data.error)))
    worker.onerror = (e) => reject(new Error(e.message))
    worker.postMessage({ durability: 'relaxed', perTx: 1000, ...p, variants: undefined, ...step })
  })
  try {
    const name = (await call({ op: 'write' })) as string
    const rounds = []
    for (let round = 0; round < p.rounds; round++) {
      let raw: Record<string, number> = {}
      let consumer: ConsumerRun | undefined
      let viaPage: ConsumerRun | undefined
      const variants: Record<string, ConsumerRun> = {}
      const steps: Array<() => Promise<void>> = [
        async () => { raw = await call({ op: 'raw', name }) },
        async () => { consumer = await call({ op: 'consume', name, groupId: `large-${round}` }) },
        ...(p.page ? [async () => {
          await pagePhase(p, 'page-consume')
          viaPage = await consumeOnPage(name, p.records, `page-${round}`, p.maxBytes, () => pagePhase(p, 'page-consumed'))
        }] : []),
        ...p.variants.map((v, i) => async () => {
          variants[v.label] = await call({ op: 'consume', name, groupId: `large-${round}-${i}`, maxBytes: v.maxBytes ?? p.maxBytes, readAhead: v.readAhead })
        }),
      ]
      for (let i = 0; i < steps.length; i++) await steps[(i + round) % steps.length]!()
      rounds.push({ raw, ...consumer!, viaPage, variants })
    }
    await call({ op: 'delete', name })
    return rounds
  } finally {
    worker.terminate()
  }
}

/** For bench/browser.ts --profile: the phase, and time to see it. */
async function pagePhase(p: LargeParams, name: string): Promise<void> {
  ;(globalThis as { __pagePhase?: string }).__pagePhase = name
  if (p.profile) await new Promise((r) => setTimeout(r, 300))
}

/** A cold group consumer on this page, the log in edgelog's worker (openBrowserLog): open, join, read to the end. */
async function consumeOnPage(name: string, records: number, groupId: string, maxBytes: number, read = async () => {}): Promise<ConsumerRun> {
  const t0 = performance.now()
  const log = await openBrowserLog({ name })
  const openMs = performance.now() - t0
  const run = await timeConsumerRun(log, { records, valueBytes: 100, groupId, maxBytes, t0, openMs })
  await read() // (the log's worker ends with log.close)
  await log.close()
  return run
}

const g = globalThis as Record<string, unknown>
g.bench = { inWorker, throughBrowserLog, large }
g.edgelogReady = true
