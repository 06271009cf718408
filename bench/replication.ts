/**
 * Replication's cost in process (issue 16): produce with acks=all through the KafkaJS-shaped
 * client over a simulated 3-broker cluster (core/replication: one memory store per broker, the
 * simulated network without delay), replication factor 3 with min.insync.replicas=2 against
 * replication factor 1 on the same cluster, in the same run; LocalBroker (no replication
 * machinery at all) as the reference. 100-byte values, 1,000 per send; sends one at a time
 * (latency-bound: each waits for the followers' next fetch) and from 4 producers at once.
 * Run: node bench/node.mjs bench/replication.ts [--quick]
 */
import { core, memory, loadReplication } from './built.ts'
import { median, report, table } from './report.ts'

const { createClient, LocalBroker } = core
const { MemoryStorage } = memory
const { SimCluster } = await loadReplication()

const quick = process.argv.includes('--quick')
const VALUE = new Uint8Array(100).fill(120)
const BATCH = 1000
const SENDS = quick ? 100 : 400
const RUNS = quick ? 3 : 5

type AnyBroker = Parameters<typeof createClient>[0]

async function produceRate(broker: AnyBroker, topic: string, producers: number): Promise<{ rate: number; p50: number; p99: number }> {
  const kafka = createClient(broker)
  const messages = Array.from({ length: BATCH }, () => ({ value: VALUE }))
  const clients = await Promise.all(Array.from({ length: producers }, async () => {
    const p = kafka.producer({ maxBatchBytes: 4 << 20 })
    await p.connect()
    return p
  }))
  const latencies: number[] = []
  const start = performance.now()
  await Promise.all(clients.map(async (p) => {
    for (let i = 0; i < SENDS / producers; i++) {
      const t = performance.now()
      await p.send({ topic, messages, acks: -1 })
      latencies.push(performance.now() - t)
    }
  }))
  const ms = performance.now() - start
  await Promise.all(clients.map((p) => p.disconnect()))
  latencies.sort((a, b) => a - b)
  return { rate: Math.round((SENDS * BATCH) / (ms / 1000)), p50: latencies[Math.floor(latencies.length / 2)], p99: latencies[Math.floor(latencies.length * 0.99)] }
}

async function measure(producers: number) {
  const rf1: number[] = []
  const rf3: number[] = []
  const local: number[] = []
  const lat = { rf1: [] as number[], rf3: [] as number[], local: [] as number[] }
  for (let run = 0; run < RUNS; run++) {
    const cluster = await SimCluster.start({
      brokers: 3, createStorage: () => new MemoryStorage(), settings: { 'log.retention.check.interval.ms': 0 },
      // Kafka's replica.fetch.wait.max.ms (500): a parked follower fetch wakes on the leader's append.
      replica: { fetchMaxWaitMs: 500, fetchBackoffMs: 50 },
    })
    const client = cluster.client()
    const topics = [`rf1-${run}`, `rf3-${run}`]
    await client.createTopics({ topics: [
      { topic: topics[0], numPartitions: 1, replicationFactor: 1 },
      { topic: topics[1], numPartitions: 1, replicationFactor: 3, configEntries: [{ name: 'min.insync.replicas', value: '2' }] },
    ] })
    await new Promise((resolve) => setTimeout(resolve, 50))
    // Alternate which goes first, so neither always runs on a warmer heap.
    const order = run % 2 === 0 ? [0, 1] : [1, 0]
    for (const i of order) {
      const r = await produceRate(client, topics[i], producers)
      ;(i === 0 ? rf1 : rf3).push(r.rate)
      ;(i === 0 ? lat.rf1 : lat.rf3).push(r.p50)
    }
    await cluster.close()
    const broker = new LocalBroker({ storage: new MemoryStorage(), settings: { 'log.retention.check.interval.ms': 0 } })
    const r = await produceRate(broker, 'local', producers)
    local.push(r.rate)
    lat.local.push(r.p50)
    await broker.close()
  }
  return {
    rf1: median(rf1), rf3: median(rf3), local: median(local),
    p50: { rf1: median(lat.rf1), rf3: median(lat.rf3), local: median(lat.local) },
  }
}

const rows: Array<Array<string | number>> = []
const figures: Record<string, unknown> = {}
for (const producers of [1, 4]) {
  const m = await measure(producers)
  const ratio = m.rf3 / m.rf1
  figures[`producers${producers}`] = { ...m, ratio: Number(ratio.toFixed(2)) }
  rows.push([`${producers} producer${producers > 1 ? 's' : ''}, acks=-1`, m.local, m.rf1, m.rf3, `${ratio.toFixed(2)}x`,
    `${m.p50.local.toFixed(2)} / ${m.p50.rf1.toFixed(2)} / ${m.p50.rf3.toFixed(2)}`])
}
table(`Produce through the KafkaJS-shaped client, 100-byte values, ${BATCH} per send, ${SENDS} sends (records/s, median of ${RUNS})`,
  ['', 'LocalBroker', 'cluster RF=1', 'cluster RF=3 (min.insync=2)', 'RF=3 / RF=1', 'p50 ms per send (local / RF1 / RF3)'], rows)
report.replication = figures
console.log(`\nJSON ${JSON.stringify({ replication: figures })}`)
