/**
 * Transactional produce against idempotent produce, in the same run (issue 21): 100-byte
 * records, 1,000 per send, one transaction per 10 sends (commit: AddPartitionsToTxn before the
 * first send, EndTxn and the marker after the tenth), over MemoryStorage in process. Runs
 * alternate (idempotent, transactional, …) after a warm-up; the ratio is of the medians.
 * Also a read_committed consumer against a read_uncommitted one over the transactional topic.
 * Run: node bench/node.mjs bench/transactions.ts [--quick]   (or npm run bench -- txn)
 */
import { core, memory } from './built.ts'
import { median, report, table } from './report.ts'

const { openLog } = core
const { MemoryStorage } = memory
const quick = process.argv.includes('--quick')
const VALUE = new Uint8Array(100).fill(120)
const BATCH = 1000
const SENDS_PER_TXN = 10
const rate = (records: number, ms: number) => Math.round(records / (ms / 1000))

async function timed(fn: () => Promise<void>): Promise<number> {
  const start = performance.now()
  await fn()
  return performance.now() - start
}

async function main(): Promise<void> {
  const total = quick ? 200_000 : 1_000_000
  const runs = quick ? 3 : 5
  const log = await openLog({ storage: new MemoryStorage(), settings: { 'log.retention.check.interval.ms': 0 } })
  await log.admin().createTopics({ topics: [{ topic: 'idem', numPartitions: 1 }, { topic: 'txn', numPartitions: 1 }] })
  const messages = Array.from({ length: BATCH }, () => ({ value: VALUE }))
  const idempotent = log.producer({ idempotent: true, maxBatchBytes: 4 << 20 })
  const transactional = log.producer({ transactionalId: 'bench', idempotent: true, maxInFlightRequests: 1, maxBatchBytes: 4 << 20 })

  const idempotentRun = async (n: number) => {
    for (let i = 0; i < n / BATCH; i++) await idempotent.send({ topic: 'idem', messages, acks: -1 })
  }
  const transactionalRun = async (n: number) => {
    for (let i = 0; i < n / BATCH; i += SENDS_PER_TXN) {
      const txn = await transactional.transaction()
      for (let s = 0; s < SENDS_PER_TXN; s++) await txn.send({ topic: 'txn', messages })
      await txn.commit()
    }
  }
  // Warm-up of both paths.
  await idempotentRun(100_000)
  await transactionalRun(100_000)
  const idem: number[] = []
  const txn: number[] = []
  for (let run = 0; run < runs; run++) {
    idem.push(await timed(() => idempotentRun(total)))
    txn.push(await timed(() => transactionalRun(total)))
  }
  const idemRate = rate(total, median(idem))
  const txnRate = rate(total, median(txn))

  const consume = async (readUncommitted: boolean, end: number) => {
    const consumer = log.consumer({ maxWaitTimeInMs: 10, readUncommitted })
    await consumer.subscribe({ topics: ['txn'], fromBeginning: true })
    let seen = 0
    const ms = await timed(() => new Promise<void>((resolve) => {
      void consumer.run({ eachBatch: async ({ batch }) => {
        seen += batch.messages.length
        if (seen >= end) resolve()
      } })
    }))
    await consumer.stop()
    return ms
  }
  const stored = 100_000 + runs * total
  const committedMs = await consume(false, stored)
  const uncommittedMs = await consume(true, stored)
  await log.close()

  table(`Transactional vs idempotent produce, MemoryStorage: ${total.toLocaleString('en')} records of 100 bytes, 1,000 per send, acks=-1 (records/s, median of ${runs})`, ['path', 'records/s', 'ratio'], [
    ['producer.send, idempotent', idemRate, '1.00x'],
    [`transaction: ${SENDS_PER_TXN} sends, then commit`, txnRate, `${(txnRate / idemRate).toFixed(2)}x (aim ≥ 0.8x)`],
  ])
  table(`Consumer over the transactional topic (${stored.toLocaleString('en')} records, one commit marker per 10,000), eachBatch, no group`, ['isolation', 'records/s'], [
    ['read_committed (default)', rate(stored, committedMs)],
    ['read_uncommitted', rate(stored, uncommittedMs)],
  ])
  report.transactions = { idempotent: idemRate, transactional: txnRate, ratio: txnRate / idemRate }
  console.log(JSON.stringify(report))
}

await main()
