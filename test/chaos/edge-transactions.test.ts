/**
 * Issue 21's proof at the edge: a consume-transform-produce pipeline over HTTP, exactly once,
 * while `wrangler dev` is killed with SIGKILL mid-transaction. Each step reads input records
 * from the group's committed offset, and in one transaction sends their transforms and moves
 * the offset (sendOffsets). Any failure drops the pipeline instance; a new one with the same
 * transactional id takes over (its InitProducerId aborts, or finishes, what the last left).
 * Afterwards the output read read_committed holds each input's result exactly once, in order,
 * and the group's offset is at the input's end.
 *
 * EDGELOG_CHAOS=short: 600 inputs, 3 kills. Full: 2,000 inputs, 6 kills.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { connect, HttpBroker } from '../../adapters/http/index.ts'
import { decodeBatch } from '../../core/codec/record-batch.ts'
import { CommittedFilter } from '../../core/client/consumer/committed-filter.ts'
import { report, scaled } from './scale.ts'
import { EdgeServer, rng, sleep, withRetries } from './edge-workload.ts'

const INPUT = scaled(600, 2_000)
const KILLS = scaled(3, 6)
const PER_TXN = 5
const seed = Number(process.env.EDGELOG_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31))
const dir = mkdtempSync(join(tmpdir(), 'edgelog-chaos-txn-'))
const server = new EdgeServer(dir, Date.now())

afterAll(async () => {
  await server.kill().catch(() => {})
  rmSync(dir, { recursive: true, force: true })
})

const decoder = new TextDecoder()

async function readValues(broker: HttpBroker, topic: string, from: number, isolation: 0 | 1, limit = Infinity): Promise<Array<{ offset: number; value: string }>> {
  const out: Array<{ offset: number; value: string }> = []
  let offset = from
  for (;;) {
    const r = await broker.fetch({ topic, partition: 0, offset, maxBytes: 1 << 20, isolationLevel: isolation })
    if (r.batches.length === 0) return out
    // What a read_committed reader drops (aborted transactions; markers in either level).
    const filter = new CommittedFilter(isolation === 1 ? r.abortedTransactions ?? [] : [])
    for (const bytes of r.batches) {
      const { header, records } = await decodeBatch(bytes)
      offset = header.baseOffset + header.lastOffsetDelta + 1
      if (!filter.keep(header, bytes)) continue
      for (const rec of records) if (rec.offset >= from) out.push({ offset: rec.offset, value: decoder.decode(rec.value!) })
      if (out.length >= limit) return out.slice(0, limit)
    }
  }
}

/** One pipeline instance: steps until the input is done ('done') or anything fails ('failed'). */
async function instance(stats: { txns: number; failures: number }): Promise<'done' | 'failed'> {
  const options = { url: 'http://edge', fetch: server.fetchFor('pipeline'), requestTimeout: 5_000 }
  const log = connect(options)
  const broker = new HttpBroker(options)
  const producer = log.producer({ transactionalId: 'pipeline', idempotent: true, maxInFlightRequests: 1, retry: { retries: 0 } })
  try {
    // First, as Kafka's exactly-once pattern has it: InitProducerId fences the last instance and
    // finishes (or aborts) its transaction, so the offsets read next are its final ones.
    await producer.connect()
    for (;;) {
      // require_stable: never an offset an unfinished transaction is about to move (UNSTABLE_OFFSET_COMMIT ends the instance).
      const committed = (await broker.fetchOffsets({ groupId: 'pipe', topics: ['in'], requireStable: true }))[0]?.offset ?? -1
      const from = Math.max(0, committed)
      if (from >= INPUT) return 'done'
      const inputs = await readValues(broker, 'in', from, 0, PER_TXN)
      const txn = await producer.transaction()
      await txn.send({ topic: 'out', messages: inputs.map((r) => ({ value: `T(${r.value})` })) })
      await txn.sendOffsets({ consumerGroupId: 'pipe', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: String(inputs[inputs.length - 1].offset + 1) }] }] })
      await txn.commit()
      stats.txns++
    }
  } catch {
    stats.failures++
    return 'failed'
  } finally {
    await producer.disconnect().catch(() => {})
    await log.close().catch(() => {})
  }
}

describe('transactions under SIGKILL at the edge', () => {
  it('consume-transform-produce writes each input once', async () => {
    const random = rng(seed)
    console.log(`chaos: edge-transactions seed=${seed}`)
    await server.start()
    const setup = connect({ url: 'http://edge', fetch: server.fetchFor('setup') })
    await setup.admin().createTopics({ topics: [{ topic: 'in', numPartitions: 1 }, { topic: 'out', numPartitions: 1 }] })
    await setup.producer({ idempotent: true }).send({ topic: 'in', acks: -1, messages: Array.from({ length: INPUT }, (_, i) => ({ value: `r${i}` })) })

    const stats = { txns: 0, failures: 0 }
    let finished = false
    const pipeline = (async () => {
      const deadline = Date.now() + 240_000
      while (Date.now() < deadline) {
        if ((await instance(stats)) === 'done') { finished = true; return }
        await sleep(100)
      }
    })()
    for (let k = 0; k < KILLS && !finished; k++) {
      await sleep(500 + random() * 2_000)
      await server.kill()
      await sleep(200 + random() * 1_500)
      await server.start()
    }
    await pipeline
    expect(finished).toBe(true)

    const broker = new HttpBroker({ url: 'http://edge', fetch: server.fetchFor('check') })
    const output = await withRetries('read output', () => readValues(broker, 'out', 0, 1))
    const everything = await withRetries('read all', () => readValues(broker, 'out', 0, 0))
    report('edge-transactions', { inputs: INPUT, kills: KILLS, transactions: stats.txns, failedInstances: stats.failures, storedOutputs: everything.length, committedOutputs: output.length })
    expect(output.map((r) => r.value)).toEqual(Array.from({ length: INPUT }, (_, i) => `T(r${i})`))
    const offsets = await setup.admin().fetchOffsets({ groupId: 'pipe', topics: ['in'] })
    expect(Number(offsets[0].partitions[0].offset)).toBe(INPUT)
  }, 400_000)
})
