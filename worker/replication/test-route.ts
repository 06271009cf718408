/**
 * The test-only fault switch over HTTP, for tests against a real `wrangler dev`
 * (test/http/replication-faults.test.ts): refused (404, as if absent) unless the deployment sets
 * EDGELOG_TEST_REPLICA_FAULTS=true, and cluster admin required.
 *
 *   POST /v1/test/topics/{topic}/partitions/{p}/replicas/{b}/fault   { "fault": "unreachable" | "isolated" | null }
 */
import type { Hono } from 'hono'
import { EdgelogError } from '../../core/errors.ts'
import { streamId } from '../../core/log/keys.ts'
import { requireCluster } from '../http/auth.ts'
import { readJson } from '../http/errors.ts'
import type { AppEnv } from '../http/app.ts'
import { replicaStub } from './placement.ts'
import { callReplica } from './protocol.ts'

export function mountReplicaFaultRoute(app: Hono<AppEnv>): void {
  app.post('/v1/test/topics/:topic/partitions/:p/replicas/:b/fault', async (c) => {
    if (c.env.EDGELOG_TEST_REPLICA_FAULTS !== 'true') return c.json({ error: { code: 'INVALID_REQUEST', message: 'Not found' } }, 404)
    requireCluster(c.var.principal, 'admin')
    const p = Number(c.req.param('p'))
    const b = Number(c.req.param('b'))
    const view = await c.var.broker.cluster.topic(c.req.param('topic'), { fresh: true })
    const a = view.assignments?.[p]
    if (!a || !a.replicas.includes(b)) throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `No replica ${b} of ${view.name}-${p}`)
    const { fault } = (await readJson(c)) as { fault?: 'unreachable' | 'isolated' | null }
    return c.json(await callReplica(replicaStub(c.env, streamId(view.topicId, p), b), { op: 'fault', fault: fault ?? null }))
  })
}
