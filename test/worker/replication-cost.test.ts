/**
 * What replication costs per append at the edge, counted by the objects themselves (requests,
 * SQLite rows written and read: what Cloudflare bills), for docs/replication.md's cost
 * paragraph: in steady state an acks=all append is one request to the leader and one push to
 * each follower, nothing more; an unreplicated topic's partition object is as before.
 */
import { env, SELF } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { callReplica } from '../../worker/replication/protocol.ts'

const BASE = 'http://127.0.0.1'
let counter = 0
const unique = (p: string) => `${p}-${Date.now().toString(36)}-${counter++}`

async function json(method: string, path: string, body?: unknown): Promise<any> {
  const res = await SELF.fetch(`${BASE}${path}`, {
    method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  })
  return { status: res.status, data: await res.json() }
}

const objectOf = (name: string) => env.PARTITION.get(env.PARTITION.idFromName(name))

/** Requests and rows of each object over one append of 100 records with acks=all. */
async function perAppend(topic: string, names: string[]) {
  const before = await Promise.all(names.map((n) => objectOf(n).activity()))
  const r = await json('POST', `/v1/topics/${topic}/partitions/0/records?acks=all`, { records: Array.from({ length: 100 }, (_, k) => ({ value: `v${k}` })) })
  expect(r.status).toBe(200)
  const after = await Promise.all(names.map((n) => objectOf(n).activity()))
  return after.map((a, i) => ({ requests: a.requests - before[i].requests, written: a.rowsWritten - before[i].rowsWritten, read: a.rowsRead - before[i].rowsRead }))
}

describe('replication cost per append', () => {
  it('factor 3, acks=all: one request per replica, the leader\'s rows as unreplicated, each follower\'s few more', async () => {
    const plain = unique('cost1')
    await json('POST', '/v1/topics', { topics: [{ topic: plain, numPartitions: 1 }] })
    const replicated = unique('cost3')
    await json('POST', '/v1/topics', { topics: [{ topic: replicated, numPartitions: 1, replicationFactor: 3, configEntries: [{ name: 'min.insync.replicas', value: '2' }] }] })
    const [p1, p3] = await Promise.all([plain, replicated].map(async (t) => (await json('POST', '/v1/metadata', { topics: [t] })).data.topics[0].topicId))
    const plainNames = [`${p1}/0`]
    const replicaNames = [0, 1, 2].map((b) => `${p3}/0/r${b}`)
    // Warm-up: the first append after a leader starts probes its followers (and checks epochs).
    for (let i = 0; i < 2; i++) {
      await perAppend(plain, plainNames)
      await perAppend(replicated, replicaNames)
    }
    // The followers' high watermark pushes of the warm-up (500 ms after an append) are done first.
    const [meta] = (await json('POST', '/v1/metadata', { topics: [replicated] })).data.topics
    const assignment = { topic: replicated, topicId: p3, partition: 0, replicas: [0, 1, 2], leader: 0, leaderEpoch: 0, isr: [0, 1, 2], partitionEpoch: -1, config: meta.config }
    for (;;) {
      const hws = await Promise.all([0, 1, 2].map(async (b) => (await callReplica(objectOf(replicaNames[b]), { op: 'status', self: b, assignment })).highWatermark))
      if (hws.every((h) => h === hws[0])) break
      await new Promise((r) => setTimeout(r, 100))
    }
    const one = await perAppend(plain, plainNames)
    const three = await perAppend(replicated, replicaNames)
    console.log('rf1 per append', JSON.stringify(one), 'rf3 per append (leader, follower, follower)', JSON.stringify(three))
    expect(one.map((o) => o.requests)).toEqual([1])
    // (Each follower also gets the high watermark alone 500 ms after an append that no other follows.)
    expect(three.map((o) => o.requests)).toEqual([1, 1, 1])
    // The leader writes what an unreplicated partition writes (batch, head, segment) and reads its
    // batch back to push it; a follower also writes its replication checkpoint and leader position.
    expect(three.map((o) => o.written)).toEqual([one[0].written, one[0].written + 2, one[0].written + 2])
  })
})
