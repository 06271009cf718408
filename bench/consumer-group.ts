/**
 * Consuming through a consumer group versus a plain partition read (issue 3): the same client,
 * the same 100-byte records, once with `groupId` (heartbeats, assignment, committed offsets after
 * every batch) and once without (the consumer reads every partition from the start, nothing
 * committed). Goal: the group costs no more than 20% of the plain read's throughput.
 * Run: npx tsx bench/consumer-group.ts [--quick] [--records N] [--partitions P]
 */
import type { EdgelogClient } from '../core/client/client.ts'
import { core, memory } from './built.ts'
import { median, report, table, numberOption } from './report.ts'

const { openLog } = core
const { MemoryStorage } = memory

const option = numberOption
const quick = process.argv.slice(2).includes('--quick')
const RECORDS = option('records', quick ? 200_000 : 1_000_000)
const PARTITIONS = option('partitions', 1)
const RUNS = quick ? 1 : 3
const VALUE = new Uint8Array(100).fill(120)

async function fill(log: EdgelogClient): Promise<void> {
  await log.admin().createTopics({ topics: [{ topic: 'bench', numPartitions: PARTITIONS }] })
  const producer = log.producer()
  const perPartition = Math.ceil(RECORDS / PARTITIONS)
  const batch = 1000
  for (let p = 0; p < PARTITIONS; p++) {
    for (let sent = 0; sent < perPartition; sent += batch) {
      const n = Math.min(batch, perPartition - sent)
      await producer.send({ topic: 'bench', messages: Array.from({ length: n }, () => ({ value: VALUE, partition: p })) })
    }
  }
}

/** ms to hand every record to eachMessage (or eachBatch), from run() to the last one. */
async function consume(log: EdgelogClient, mode: 'plain' | 'group', handler: 'eachMessage' | 'eachBatch', run: number): Promise<number> {
  const total = Math.ceil(RECORDS / PARTITIONS) * PARTITIONS
  const consumer = log.consumer({
    ...(mode === 'group' ? { groupId: `bench-${handler}-${run}` } : {}),
    maxWaitTimeInMs: 100,
    heartbeatInterval: 3_000,
  })
  await consumer.subscribe({ topics: ['bench'], fromBeginning: true })
  let seen = 0
  let resolveDone!: () => void
  const done = new Promise<void>((r) => { resolveDone = r })
  const start = performance.now()
  if (handler === 'eachMessage') {
    await consumer.run({ eachMessage: async () => { if (++seen === total) resolveDone() } })
  } else {
    await consumer.run({ eachBatch: async ({ batch }) => { seen += batch.messages.length; if (seen === total) resolveDone() } })
  }
  await done
  const ms = performance.now() - start
  await consumer.disconnect()
  if (mode === 'group') {
    const [committed] = await log.admin().fetchOffsets({ groupId: `bench-${handler}-${run}`, topics: ['bench'] })
    const sum = committed.partitions.reduce((s, p) => s + Number(p.offset), 0)
    if (sum !== total) throw new Error(`the group committed ${sum} of ${total}`)
  }
  return ms
}

const log = await openLog({ storage: new MemoryStorage() })
await fill(log)
const rows: Array<Array<string | number>> = []
const results: Record<string, unknown> = {}
for (const handler of ['eachMessage', 'eachBatch'] as const) {
  const plain: number[] = []
  const group: number[] = []
  // Warm up once, then alternate so that neither mode gets the warmer JIT or the quieter machine.
  await consume(log, 'plain', handler, -1)
  for (let run = 0; run < RUNS; run++) {
    plain.push(await consume(log, 'plain', handler, run))
    group.push(await consume(log, 'group', handler, run))
  }
  const plainRate = Math.round(RECORDS / (median(plain) / 1000))
  const groupRate = Math.round(RECORDS / (median(group) / 1000))
  const overhead = (median(group) / median(plain) - 1) * 100
  rows.push([handler, plainRate, groupRate, (groupRate / plainRate).toFixed(3), `${overhead.toFixed(1)}%`])
  results[handler] = { plainRecordsPerSec: plainRate, groupRecordsPerSec: groupRate, ratio: groupRate / plainRate, overheadPercent: overhead }
}
table(
  `Consuming ${RECORDS.toLocaleString('en')} 100-byte records (${PARTITIONS} partition${PARTITIONS > 1 ? 's' : ''}, memory storage, median of ${RUNS}): group vs plain read`,
  ['handler', 'plain records/s', 'group records/s', 'group/plain', 'group overhead (goal ≤ 20%)'],
  rows,
)
report.consumerGroup = { records: RECORDS, partitions: PARTITIONS, ...results }
console.log(`\n${JSON.stringify({ consumerGroup: report.consumerGroup })}`)
await log.close()
