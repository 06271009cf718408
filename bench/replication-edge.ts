/**
 * Replication's cost at the edge (issue 16) on `wrangler dev`: produce with acks=all to a topic
 * with replication factor 3 (min.insync.replicas=2: the leader object pushes each append to two
 * follower objects and answers once both have it) against replication factor 1 (one partition
 * object, as every topic before), in the same run, rounds interleaved; acks=1 on factor 3 for
 * reference (answered after the leader, the pushes go on behind). 1,000 records of 100 bytes
 * per binary request, requests one after another on one connection. At the end every replica
 * is checked to hold every record (the high watermark of the factor-3 topic is what it got).
 *
 *   npx tsx bench/replication-edge.ts [requestsPerRound=100] [rounds=3]
 *
 * wrangler dev ignores location hints: all objects run in one workerd process on this machine,
 * so the figure is the protocol's own cost (requests, rows, CPU), not the distance between
 * regions (docs/replication.md estimates that).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeBatch } from '../core/codec/record-batch.ts'
import { startWranglerDev } from '../test/http/wrangler-dev.ts'
import { median, table } from './report.ts'

const REQUESTS = Number(process.argv[2] ?? 100)
const ROUNDS = Number(process.argv[3] ?? 3)
const PER_REQUEST = 1000
const value = (i: number) => `${i}`.padStart(10, '0').padEnd(100, 'x')

async function ok(res: Response): Promise<Response> {
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`)
  return res
}

const dir = mkdtempSync(join(tmpdir(), 'edgelog-bench-repl-'))
const dev = await startWranglerDev(dir, { args: ['--log-level', 'warn'] })
try {
  const url = dev.url
  const create = async (name: string, rf: number, config: Record<string, string>) => ok(await fetch(`${url}/v1/topics`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ topics: [{ topic: name, numPartitions: 1, replicationFactor: rf, configEntries: Object.entries(config).map(([n, v]) => ({ name: n, value: v })) }] }),
  }))
  const cases = [
    { name: 'rf1', rf: 1, acks: 'all', config: {} as Record<string, string> },
    { name: 'rf3', rf: 3, acks: 'all', config: { 'min.insync.replicas': '2' } },
    { name: 'rf3-acks1', rf: 3, acks: '1', config: { 'min.insync.replicas': '2' } },
  ]
  for (const c of cases) await create(c.name, c.rf, c.config)
  const bodies = Array.from({ length: REQUESTS }, (_, r) => encodeBatch(Array.from({ length: PER_REQUEST }, (_, i) => ({ key: null, value: new TextEncoder().encode(value(r * PER_REQUEST + i)), timestamp: Date.now() }))))
  // Warm-up: the objects exist, the isolate has its metadata.
  for (const c of cases) await ok(await fetch(`${url}/v1/topics/${c.name}/partitions/0/records?acks=${c.acks}`, { method: 'POST', headers: { 'content-type': 'application/vnd.kafka.record-batch' }, body: bodies[0] as never }))
  const results = new Map<string, { rates: number[]; latencies: number[] }>(cases.map((c) => [c.name, { rates: [], latencies: [] }]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of cases) {
      const r = results.get(c.name)!
      const started = performance.now()
      for (const body of bodies) {
        const t = performance.now()
        await ok(await fetch(`${url}/v1/topics/${c.name}/partitions/0/records?acks=${c.acks}`, { method: 'POST', headers: { 'content-type': 'application/vnd.kafka.record-batch' }, body: body as never }))
        r.latencies.push(performance.now() - t)
      }
      r.rates.push((REQUESTS * PER_REQUEST) / ((performance.now() - started) / 1000))
    }
  }
  const expected = (1 + ROUNDS * REQUESTS) * PER_REQUEST
  const rows = []
  const base = median(results.get('rf1')!.rates)
  for (const c of cases) {
    const r = results.get(c.name)!
    const described = await (await ok(await fetch(`${url}/v1/topics/${c.name}`))).json() as { partitions: Array<{ highWatermark: number; isr?: number[] }> }
    const hw = described.partitions[0].highWatermark
    if (c.acks === 'all' && hw !== expected) throw new Error(`${c.name}: high watermark ${hw}, expected ${expected}`)
    const sorted = [...r.latencies].sort((a, b) => a - b)
    rows.push([`${c.name} acks=${c.acks}`, Math.round(median(r.rates)).toLocaleString('en-US'), (median(r.rates) / base).toFixed(2),
      median(r.latencies).toFixed(1), sorted[Math.floor(sorted.length * 0.99)].toFixed(1), `${hw.toLocaleString('en-US')} / ISR ${JSON.stringify(described.partitions[0].isr ?? [0])}`])
  }
  table(`Produce on wrangler dev, ${REQUESTS} requests × ${PER_REQUEST} records of 100 B per round, median of ${ROUNDS} rounds`,
    ['topic', 'records/s', 'ratio to rf1', 'p50 ms', 'p99 ms', 'high watermark / ISR'], rows)
} finally {
  await dev.kill()
  rmSync(dir, { recursive: true, force: true })
}
