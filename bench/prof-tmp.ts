import { openLog } from '/work/main/core/open-log.ts'
import { MemoryStorage } from '/work/main/adapters/memory/index.ts'
const VALUE = new Uint8Array(100).fill(120)
const log = await openLog({ storage: new MemoryStorage(), settings: { 'log.retention.check.interval.ms': 0 } })
await log.admin().createTopics({ topics: [{ topic: 'bench', numPartitions: 1 }] })
const producer = log.producer({ maxBatchBytes: 4 << 20 })
const messages = Array.from({ length: 1000 }, () => ({ value: VALUE }))
for (let r = 0; r < 4; r++) {
const t = performance.now()
for (let i = 0; i < 300; i++) await producer.send({ topic: 'bench', messages, acks: 1 })
console.log('produce', (300000 / ((performance.now() - t) / 1000)).toFixed(0))
}
await log.close()
