/**
 * The browser benchmark's page: runs bench/browser-worker.ts in a dedicated worker, and
 * openBrowserLog (page → edgelog's worker, batches transferred) for the end-to-end path.
 */
import { openBrowserLog } from '../adapters/indexeddb/browser-log.ts'

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

const g = globalThis as Record<string, unknown>
g.bench = { inWorker, throughBrowserLog }
g.edgelogReady = true
