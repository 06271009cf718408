/**
 * `GET /v1/topics/:topic/partitions/:p/activity`: the partition object's own accounting
 * (worker/wait/activity.ts: requests in progress and handled, busy time, wakes, watchers).
 * Read access to the topic suffices. Tests and benchmarks read it to show that idle readers
 * hold no request open in the object.
 */
import type { Hono } from 'hono'
import { validateTopicName } from '../../core/log/topic-registry.ts'
import type { AppEnv } from '../http/app.ts'
import { requireTopic } from '../http/auth.ts'
import { intParam } from '../http/errors.ts'

export function mountActivityRoute(app: Hono<AppEnv>): void {
  app.get('/v1/topics/:topic/partitions/:p/activity', async (c) => {
    const topic = c.req.param('topic') as string
    validateTopicName(topic)
    requireTopic(c.var.principal, topic, 'read')
    const partition = intParam(c.req.param('p'), 'partition')!
    const cluster = c.var.broker.cluster
    const target = await cluster.target(topic, partition)
    return c.json(await cluster.onPartition(target, (stub) => stub.activity()))
  })
}
