/**
 * The page script of browser-crash.test.ts: opens the browser log (in a worker this page
 * holds, so that the test can terminate it), runs producers that send continuously with
 * acks -1, and reports every acknowledged record at once through the binding
 * `globalThis.edgelogAck` (page.exposeFunction), so that the record of it is outside the
 * page before anything can crash. After a crash the test reads every partition back here.
 */
import { openBrowserLog } from '../../adapters/indexeddb/index.ts'
import { isEdgelogError } from '../../core/errors.ts'
import { decodeRecords } from '../../core/codec/record-batch.ts'
import type { EdgelogClient } from '../../core/client/client.ts'

type Binding = (payload: string) => unknown

interface ProducerSpec { idempotent: boolean; loops: number }

export interface ProduceOptions {
  topic: string
  partitions: number
  /** Unique per tab and round: every value starts with it. */
  tag: string
  producers: ProducerSpec[]
}

export interface PartitionRead {
  partition: number
  highWatermark: number
  logStartOffset: number
  /** [offset, id] of every record, in the order fetched. */
  records: Array<[number, string]>
  /** Records whose value does not match its id (length or fill). */
  corrupt: number
}

export interface ReadResult {
  partitions: PartitionRead[]
  /** Batches stored past a partition's head (written without their head: a torn commit). */
  beyondHead: number
}

const g = globalThis as Record<string, unknown>
g.__name ??= (f: unknown) => f
globalThis.addEventListener('unhandledrejection', (event) => note({ kind: 'unhandled', error: describeError(event.reason) }))

let log: EdgelogClient | undefined
let worker: Worker | undefined
let stopping = false
let running: Array<Promise<void>> = []
let producers: Array<{ disconnect(): Promise<void> }> = []
let seq = 0

const ack = (payload: string) => { void (g.edgelogAck as Binding | undefined)?.(payload) }
const note = (payload: unknown) => { void (g.edgelogNote as Binding | undefined)?.(JSON.stringify(payload)) }

/** A value: its id, then a fill whose length and character the id determines. */
function valueOf(id: string, len: number): string {
  return `${id}|${String.fromCharCode(97 + (len % 26)).repeat(len)}`
}

function idOf(value: string): { id: string; ok: boolean } {
  const bar = value.indexOf('|')
  if (bar < 0) return { id: value, ok: false }
  const id = value.slice(0, bar)
  const len = Number(id.slice(id.lastIndexOf('.') + 1))
  return { id, ok: value === valueOf(id, len) }
}

function describeError(e: unknown) {
  const err = e as { name?: string; code?: string; message?: string; retriable?: boolean }
  return { typed: isEdgelogError(e), name: err?.name, code: err?.code, retriable: err?.retriable, message: String(err?.message ?? e).slice(0, 300) }
}

async function open(name: string, workerName: string): Promise<void> {
  log = await openBrowserLog({
    name,
    clientId: workerName,
    worker: () => {
      worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: workerName })
      worker.addEventListener('error', (e) => note({ kind: 'worker-error', error: { typed: false, message: e.message } }))
      return worker
    },
  })
}

async function createTopic(topic: string, partitions: number): Promise<void> {
  try {
    await log!.admin().createTopics({ topics: [{ topic, numPartitions: partitions }] })
  } catch (e) {
    if (!isEdgelogError(e, 'TOPIC_ALREADY_EXISTS')) throw e
  }
}

/** One producer loop: sends of a few records to a few partitions, one after the other, each acks -1. */
async function loop(producer: { send(r: unknown): Promise<Array<{ partition: number; baseOffset: string; errorCode: number }>> }, options: ProduceOptions, kind: string): Promise<void> {
  while (!stopping) {
    const byPartition = new Map<number, string[]>()
    const parts = 1 + Math.floor(Math.random() * Math.min(3, options.partitions))
    for (let k = 0; k < parts; k++) {
      const partition = Math.floor(Math.random() * options.partitions)
      const ids = byPartition.get(partition) ?? []
      const count = 1 + Math.floor(Math.random() * 4)
      for (let i = 0; i < count; i++) {
        // Mostly small values, now and then one of several KiB (batches of varied sizes), and
        // rarely one over 64 KiB: a batch that Chromium stores as a blob file beside LevelDB.
        const dice = Math.random()
        const len = dice < 0.01 ? 70_000 + Math.floor(Math.random() * 90_000)
          : dice < 0.1 ? 2_000 + Math.floor(Math.random() * 8_000)
            : Math.floor(Math.random() * 200)
        ids.push(`${options.tag}.${kind}.${seq++}.${len}`)
      }
      byPartition.set(partition, ids)
    }
    const messages: Array<{ partition: number; value: string }> = []
    for (const [partition, ids] of byPartition) {
      for (const id of ids) messages.push({ partition, value: valueOf(id, Number(id.slice(id.lastIndexOf('.') + 1))) })
    }
    try {
      const results = await producer.send({ topic: options.topic, acks: -1, messages })
      // Acknowledged: the records of each partition sit at baseOffset, baseOffset + 1, … in send order.
      const lines: string[] = []
      for (const r of results) {
        const ids = byPartition.get(r.partition)
        if (!ids || r.errorCode !== 0) {
          note({ kind: 'bad-result', result: r })
          continue
        }
        // -1: stored by an earlier attempt whose answer was lost (offsets unknown, presence checked).
        const base = Number(r.baseOffset)
        ids.forEach((id, i) => lines.push(`${r.partition} ${base < 0 ? -1 : base + i} ${id}`))
      }
      ack(lines.join('\n'))
    } catch (e) {
      note({ kind: 'send-error', producer: kind, error: describeError(e) })
      await new Promise((r) => setTimeout(r, 20))
    }
  }
}

/** Opens the log, creates the topic, and starts the producers; resolves once they send. */
async function start(name: string, workerName: string, options: ProduceOptions): Promise<void> {
  stopping = false
  await open(name, workerName)
  await createTopic(options.topic, options.partitions)
  for (const [n, spec] of options.producers.entries()) {
    const producer = log!.producer({ idempotent: spec.idempotent })
    await producer.connect()
    producers.push(producer)
    const kind = `${spec.idempotent ? 'i' : 'p'}${n}`
    for (let l = 0; l < spec.loops; l++) running.push(loop(producer as never, options, kind))
  }
}

/** Stops the loops (each finishes its send), disconnects the producers and closes the log. */
async function stop(): Promise<void> {
  stopping = true
  await Promise.all(running)
  for (const p of producers) await p.disconnect()
  running = []
  producers = []
  await log?.close()
  log = undefined
  worker = undefined
}

/** Reads every partition of `topic` from the log's start to its high watermark. */
async function readAll(topic: string, partitions: number): Promise<PartitionRead[]> {
  const broker = log!.broker
  const dec = new TextDecoder()
  const out: PartitionRead[] = []
  for (let partition = 0; partition < partitions; partition++) {
    const first = await broker.fetch({ topic, partition, offset: 0, maxBytes: 1 })
    const { highWatermark, logStartOffset } = first
    const records: Array<[number, string]> = []
    let corrupt = 0
    let offset = logStartOffset
    while (offset < highWatermark) {
      const r = await broker.fetch({ topic, partition, offset, maxBytes: 1 << 20 })
      if (r.batches.length === 0) break
      let next = offset
      for (const batch of r.batches) {
        for (const rec of decodeRecords(batch)) {
          if (rec.offset < offset) continue
          const { id, ok } = idOf(dec.decode(rec.value!))
          if (!ok) corrupt++
          records.push([rec.offset, id])
          next = Math.max(next, rec.offset + 1)
        }
      }
      if (next === offset) break
      offset = next
    }
    out.push({ partition, highWatermark, logStartOffset, records, corrupt })
  }
  return out
}

/** Batches in IndexedDB past their partition's stored head: a commit half applied. */
async function batchesBeyondHead(name: string): Promise<number> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const req = indexedDB.open(name)
    req.onsuccess = () => resolve(req.result)
    req.onerror = () => reject(req.error)
  })
  try {
    const tx = db.transaction(['batches', 'meta'], 'readonly')
    const get = <T>(req: IDBRequest<T>) => new Promise<T>((resolve, reject) => {
      req.onsuccess = () => resolve(req.result)
      req.onerror = () => reject(req.error)
    })
    const [keys, metaKeys] = await Promise.all([get(tx.objectStore('batches').getAllKeys()), get(tx.objectStore('meta').getAllKeys())])
    const heads = new Map<string, number>()
    for (const key of metaKeys as string[]) {
      if (!key.startsWith('head/')) continue
      const head = await get(tx.objectStore('meta').get(key)) as { nextOffset: number }
      heads.set(key.slice('head/'.length), head.nextOffset)
    }
    let beyond = 0
    for (const key of keys as Array<[string, number]>) {
      const next = heads.get(key[0])
      if (next === undefined || key[1] >= next) beyond++
    }
    return beyond
  } finally {
    db.close()
  }
}

/**
 * After a crash: opens the log again, reads everything back and checks IndexedDB directly.
 * (The topic is created if the crash came before it was: nothing was acknowledged then.)
 */
async function verify(name: string, workerName: string, topic: string, partitions: number): Promise<ReadResult> {
  await open(name, workerName)
  await createTopic(topic, partitions)
  const read = await readAll(topic, partitions)
  await log!.close()
  log = undefined
  return { partitions: read, beyondHead: await batchesBeyondHead(name) }
}

/** The log takes writes again: `count` records with acks -1, reported like the others. */
async function writeAfter(name: string, workerName: string, topic: string, partitions: number, tag: string, count: number): Promise<Array<{ partition: number; baseOffset: number }>> {
  await open(name, workerName)
  const producer = log!.producer({ idempotent: true })
  await producer.connect()
  const out: Array<{ partition: number; baseOffset: number }> = []
  for (let p = 0; p < partitions; p++) {
    const ids = Array.from({ length: count }, (_, i) => `${tag}.after.${p}-${i}.${i}`)
    const [r] = await producer.send({ topic, acks: -1, messages: ids.map((id) => ({ partition: p, value: valueOf(id, i(id)) })) })
    const base = Number(r.baseOffset)
    ack(ids.map((id, n) => `${p} ${base + n} ${id}`).join('\n'))
    out.push({ partition: p, baseOffset: base })
  }
  await producer.disconnect()
  await log!.close()
  log = undefined
  return out
  function i(id: string) { return Number(id.slice(id.lastIndexOf('.') + 1)) }
}

g.crashTest = {
  start, stop, verify, writeAfter,
  /** Ends the log's worker the hard way, as a crash of it would. */
  terminateWorker: () => { worker?.terminate() },
  describeError,
}
g.edgelogReady = true
