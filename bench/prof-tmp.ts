import { openLog } from '/work/main/core/open-log.ts'
import { MemoryStorage } from '/work/main/adapters/memory/index.ts'
const VALUE = new Uint8Array(100).fill(120)
const log = await openLog({ storage: new MemoryStorage(), settings: { 'log.retention.check.interval.ms': 0 } })
await log.admin().createTopics({ topics: [{ topic: 'bench', numPartitions: 1 }] })
const producer = log.producer({ maxBatchBytes: 4 << 20 })
const messages = Array.from({ length: 1000 }, () => ({ value: VALUE }))
for (let i = 0; i < 1000; i++) await producer.send({ topic: 'bench', messages, acks: 1 })
for (let round = 0; round < 3; round++) {
const consumer = log.consumer({ maxWaitTimeInMs: 10 })
await consumer.subscribe({ topics: ['bench'], fromBeginning: true })
let seen = 0
const t = performance.now()
await new Promise<void>((resolve) => { void consumer.run({ eachBatch: async ({ batch }) => { seen += batch.messages.length; if (seen >= 1000000) resolve() } }) })
console.log('consume', (1000000 / ((performance.now() - t) / 1000)).toFixed(0))
await consumer.stop()
}
await log.close()
