/**
 * Group members consuming over HTTP while the server dies and comes back (issue 13: one run of
 * two members through SIGKILLs of `wrangler dev` left ~10,000 records unread 30 s after the last
 * restart, with no crash event). The silent stalls found, each reproduced here:
 * - a join whose answer is lost (stored by the server, connection reset before the answer):
 *   the member joined again under a new server-made id, and the first id stayed in the group
 *   as a ghost holding partitions nobody read until its session ran out (30 s by default);
 * - a heartbeat that never answers (a half-open connection): with no timeout the member never
 *   heart-beat again, gave its partitions up when its session lapsed and never rejoined;
 * - the server killed again and again: every record is read in the end.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { connect } from '../../adapters/http/index.ts'
import type { Consumer } from '../../core/client/consumer.ts'
import type { EdgelogClient } from '../../core/client/client.ts'
import { startLocalHttpServer, type LocalHttpServer } from './local-http-server.ts'

let server: LocalHttpServer | undefined
const clients: EdgelogClient[] = []
afterEach(async () => {
  await Promise.race([Promise.allSettled(clients.splice(0).map((c) => c.close())), new Promise((r) => setTimeout(r, 2_000))])
  await server?.close()
  server = undefined
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
    await sleep(20)
  }
}

function client(url: string, requestTimeout = 1_000): EdgelogClient {
  const log = connect({ url, requestTimeout })
  clients.push(log)
  return log
}

async function produce(log: EdgelogClient, topic: string, partitions: number, perPartition: number, tag: string): Promise<void> {
  const producer = log.producer({ idempotent: true, retry: { retries: 20, initialRetryTime: 50, maxRetryTime: 500 } })
  await producer.connect()
  for (let p = 0; p < partitions; p++) {
    await producer.send({ topic, messages: Array.from({ length: perPartition }, (_, i) => ({ value: `${tag}-${p}-${i}`, partition: p })) })
  }
}

/** A member that records what it read ("partition/offset"), and its crash events. */
async function member(log: EdgelogClient, topic: string, groupId: string, seen: Set<string>, config: Record<string, unknown> = {}) {
  const consumer: Consumer = log.consumer({
    groupId, heartbeatInterval: 100, sessionTimeout: 6_000, maxWaitTimeInMs: 200,
    retry: { retries: 5, initialRetryTime: 50, maxRetryTime: 500 }, ...config,
  })
  const crashes: Array<{ error: unknown; restart: boolean }> = []
  consumer.on(consumer.events.CRASH, (e) => crashes.push(e.payload))
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({ eachMessage: async ({ partition, message }) => { seen.add(`${partition}/${message.offset}`) } })
  return { consumer, crashes }
}

describe('group members over HTTP through server restarts', () => {
  it('a join whose answer is lost leaves no ghost member holding partitions', { timeout: 20_000 }, async () => {
    server = await startLocalHttpServer()
    const admin = client(server.url)
    await admin.admin().createTopics({ topics: [{ topic: 't', numPartitions: 4 }] })
    await produce(admin, 't', 4, 10, 'a')
    // The first join is stored by the coordinator, then the server "dies" before answering.
    let joins = 0
    server.fault = (_m, path) => (path.endsWith('/heartbeat') && ++joins === 1 ? 'lose-answer' : undefined)
    const seen = new Set<string>()
    await member(client(server.url), 't', 'g', seen)
    // Well within the 6 s session: a ghost would hold about half the partitions that long.
    await until(() => seen.size === 40, 3_000, 'every record read by the one member')
    const [group] = await admin.broker.describeGroups({ groupIds: ['g'] })
    expect(group.members).toHaveLength(1)
  })

  it('a heartbeat that never answers does not stop the member for good', { timeout: 20_000 }, async () => {
    server = await startLocalHttpServer()
    const admin = client(server.url)
    await admin.admin().createTopics({ topics: [{ topic: 't', numPartitions: 2 }] })
    await produce(admin, 't', 2, 5, 'a')
    const seen = new Set<string>()
    const { crashes } = await member(client(server.url), 't', 'g', seen, { sessionTimeout: 1_500 })
    await until(() => seen.size === 10, 5_000, 'the first records')
    // One heartbeat hangs (a half-open connection): no answer, no error, ever.
    let hung = false
    server.fault = (_m, path) => (path.endsWith('/heartbeat') && !hung ? ((hung = true), 'hang') : undefined)
    await until(() => hung, 2_000, 'a heartbeat hanging')
    await sleep(2_500) // past the session: the member gave its partitions up and must rejoin
    await produce(admin, 't', 2, 5, 'b')
    await until(() => seen.size === 20, 8_000, 'the records produced after the hang')
    expect(crashes).toEqual([])
  })

  it('two members read every record through repeated kills of the server', { timeout: 60_000 }, async () => {
    server = await startLocalHttpServer()
    const admin = client(server.url)
    await admin.admin().createTopics({ topics: [{ topic: 't', numPartitions: 6 }] })
    const seen = new Set<string>()
    const a = await member(client(server.url), 't', 'g', seen)
    const b = await member(client(server.url), 't', 'g', seen)
    let total = 0
    for (let round = 0; round < 4; round++) {
      await produce(admin, 't', 6, 50, `r${round}`)
      total += 300
      await sleep(150)
      // Killed while requests are in flight; the requests it was handling are stored, their answers lost.
      server.fault = () => 'lose-answer'
      await sleep(30)
      await server.kill()
      server.fault = null
      await sleep(400 + round * 300)
      await server.restart()
    }
    await until(() => seen.size === total, 15_000, `every record read (${total})`)
    // Whatever crashed was retriable and restarted (the server was away), never a silent stop.
    for (const c of [...a.crashes, ...b.crashes]) expect(c.restart).toBe(true)
  })
})
