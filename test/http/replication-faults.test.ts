/**
 * Issue 16's failure proof against a real `wrangler dev` (its own, started with the test-only
 * fault switch allowed and replica.lag.time.max.ms at 1 s): a follower made unreachable leaves
 * the ISR, acks=all with min.insync.replicas=3 fails NOT_ENOUGH_REPLICAS and stores nothing;
 * the leader made unreachable, a new leader from the ISR takes over at epoch + 1 and every
 * acknowledged record is still there. Faults go through
 * POST /v1/test/topics/:topic/partitions/:p/replicas/:b/fault (worker/replication/test-route.ts).
 */
import { describe, expect, it } from 'vitest'
import { until } from '../until.ts'
import { useWranglerDev } from './wrangler-suite.ts'

const dev = useWranglerDev('edgelog-replication-faults-', { vars: { EDGELOG_TEST_REPLICA_FAULTS: 'true', EDGELOG_SETTINGS: JSON.stringify({ 'replica.lag.time.max.ms': 1000 }) } })

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; data: any }> {
  const res = await fetch(`${dev.url}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: res.status, data: await res.json() }
}
const create = (topic: string, config: Record<string, string>) => call('POST', '/v1/topics', { name: topic, partitions: 1, replicationFactor: 3, config })
const produce = (topic: string, values: string[], acks: 'all' | '1') => call('POST', `/v1/topics/${topic}/partitions/0/records?acks=${acks}`, { records: values.map((value) => ({ value })) })
const partition0 = async (topic: string) => (await call('GET', `/v1/topics/${topic}`)).data.partitions[0]
const values = async (topic: string) => (await call('GET', `/v1/topics/${topic}/partitions/0/records?offset=0`)).data.records.map((r: any) => r.value)
const fault = (topic: string, b: number, f: 'unreachable' | null) => call('POST', `/v1/test/topics/${topic}/partitions/0/replicas/${b}/fault`, { fault: f })


describe('replication faults against wrangler dev', () => {
  it('a follower unreachable: the ISR shrinks in describe, acks=all under min.insync.replicas=3 fails NOT_ENOUGH_REPLICAS and stores nothing', async () => {
    expect((await create('F', { 'min.insync.replicas': '3' })).status).toBe(201)
    expect((await produce('F', ['a'], 'all')).status).toBe(200)
    expect((await fault('F', 2, 'unreachable')).data).toEqual({ fault: 'unreachable' })
    expect((await produce('F', ['b'], 'all')).data.error.code).toBe('NOT_ENOUGH_REPLICAS_AFTER_APPEND')
    expect((await until(() => partition0('F'), (p) => p.isr.length === 2, 50_000, 200)).isr).toEqual([0, 1])
    const refused = await produce('F', ['never'], 'all')
    expect(refused.status).toBe(503)
    expect(refused.data.error.code).toBe('NOT_ENOUGH_REPLICAS')
    await fault('F', 2, null)
    await produce('F', ['c'], '1')
    await until(() => partition0('F'), (p) => p.isr.length === 3 && p.highWatermark === 3, 50_000, 200)
    expect(await values('F')).toEqual(['a', 'b', 'c'])
  }, 120_000)

  it('the leader unreachable: a new leader from the ISR at epoch 1, every acknowledged record there', async () => {
    expect((await create('L', { 'min.insync.replicas': '2' })).status).toBe(201)
    const acked = Array.from({ length: 10 }, (_, i) => `v${i}`)
    for (const v of acked) expect((await produce('L', [v], 'all')).status).toBe(200)
    await fault('L', 0, 'unreachable')
    const failed = await produce('L', ['during'], 'all')
    expect(failed.data.error.code).toBe('LEADER_NOT_AVAILABLE')
    const p = await partition0('L')
    expect([p.leader, p.leaderEpoch, p.isr]).toEqual([1, 1, [1, 2]])
    await until(() => partition0('L'), (q) => q.highWatermark >= acked.length, 50_000, 200)
    expect((await values('L')).slice(0, acked.length)).toEqual(acked)
    expect((await produce('L', ['after'], 'all')).status).toBe(200)
    expect(await values('L')).toEqual([...acked, 'after'])
    await fault('L', 0, null)
  }, 120_000)
})
