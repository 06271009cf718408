/**
 * A cold group consumer's read, timed the same way in the log's worker (bench/browser-worker.ts)
 * and on the page (bench/browser-page.ts); bench/browser.ts prints the figures.
 */
import type { EdgelogClient } from '../core/client/client.ts'

export interface ConsumerRun {
  /** Open the log, join a new group, first batch handed to eachBatch. */
  coldMs: number
  openMs: number
  /** From run() to the last record (join included). */
  fromRunRecPerSec: number
  /** From the first batch handed out to the last record (join and first fetch excluded). */
  afterFirstRecPerSec: number
  firstBatchRecords: number
  /** Time spent in broker.fetch, where the caller measures it (0 otherwise). */
  fetchMs: number
  handlerMs: number
}

const rate = (n: number, ms: number) => Math.round((n / ms) * 1000)

/**
 * Joins a new group on topic 'bench' of `log` (opened at `t0`, `openMs` after it) and reads
 * `records` values of `valueBytes` bytes to the end; `fetchMs` is read once the read is done.
 */
export async function timeConsumerRun(
  log: Pick<EdgelogClient, 'consumer'>, options: { records: number; valueBytes: number; groupId: string; maxBytes: number; t0: number; openMs: number; fetchMs?: () => number },
): Promise<ConsumerRun> {
  const { records, valueBytes } = options
  const consumer = log.consumer({ groupId: options.groupId, maxWaitTimeInMs: 0, maxBytesPerPartition: options.maxBytes })
  await consumer.connect()
  await consumer.subscribe({ topics: ['bench'], fromBeginning: true })
  let n = 0
  let firstAt = 0
  let firstBatchRecords = 0
  let handlerMs = 0
  let runAt = 0
  await new Promise<void>((resolve) => {
    runAt = performance.now()
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const th = performance.now()
        if (firstAt === 0) { firstAt = th; firstBatchRecords = batch.messages.length }
        for (const m of batch.messages) if (m.value?.byteLength === valueBytes) n++
        handlerMs += performance.now() - th
        if (n >= records) resolve()
      },
    })
  })
  const end = performance.now()
  await consumer.disconnect()
  if (n !== records) throw new Error(`consumer read ${n} of ${records}`)
  return {
    coldMs: firstAt - options.t0, openMs: options.openMs,
    fromRunRecPerSec: rate(records, end - runAt),
    afterFirstRecPerSec: rate(records - firstBatchRecords, end - firstAt),
    firstBatchRecords, fetchMs: options.fetchMs?.() ?? 0, handlerMs,
  }
}
