/**
 * `GET /v1/topics/:topic/partitions/:p/tiers`: where a partition's segments are (tiered
 * storage, docs/tiered-storage.md): the local ones in the object's SQLite, the remote files in
 * R2 with their offsets, and orphan files waiting for the sweep. `?objects=true` also lists the
 * R2 keys under the partition's prefix (one R2 list request): what tests compare against the
 * index. Read access to the topic suffices.
 */
import type { Hono } from 'hono'
import { validateTopicName } from '../../core/log/topic-registry.ts'
import type { AppEnv } from './app.ts'
import { requireTopic } from './auth.ts'
import { intParam } from './errors.ts'
import { unwrap } from '../rpc.ts'

export function mountTiersRoute(app: Hono<AppEnv>): void {
  app.get('/v1/topics/:topic/partitions/:p/tiers', async (c) => {
    const topic = c.req.param('topic') as string
    validateTopicName(topic)
    requireTopic(c.var.principal, topic, 'read')
    const partition = intParam(c.req.param('p'), 'partition')!
    const cluster = c.var.broker.cluster
    const target = await cluster.target(topic, partition)
    return c.json(await cluster.onPartition(target, (stub) => unwrap(stub.tiers(target, c.req.query('objects') === 'true'))))
  })
}
