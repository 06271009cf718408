/**
 * Preferred-leader election and partition reassignment over HTTP (Kafka's ElectLeaders and
 * AlterPartitionReassignments / ListPartitionReassignments; kafka-leader-election.sh and
 * kafka-reassign-partitions.sh through edgelog/http). Cluster admin required, as Kafka asks
 * ALTER on the cluster.
 *
 *   POST /v1/elect-leaders              { electionType?: "PREFERRED", partitions: [{ topic, partition }] }
 *   POST /v1/partition-reassignments    { topics: [{ topic, partitionAssignment: [{ partition, replicas | null }] }] }
 *     → 200 { partitions: [{ topic, partition }] }; a failed partition carries `error`, and the
 *       answer has the first failure's status and `error` unless `?errors=inline` (then 200).
 *   GET  /v1/partition-reassignments[?topic=T]   → { topics: [{ topic, partitions: [{ partition, replicas, addingReplicas, removingReplicas }] }] }
 *
 * A malformed request (unknown topic or partition, bad replica list) changes nothing and
 * answers its error.
 */
import type { Context, Hono } from 'hono'
import type { PartitionResult, TopicPartitions } from '../../core/broker.ts'
import { requireCluster } from './auth.ts'
import { fail, readJson, statusOf } from './errors.ts'
import type { AppEnv } from './app.ts'
import type { EdgeBroker } from '../edge-broker.ts'

export function mountReassignmentRoutes(app: Hono<AppEnv>): void {
  app.post('/v1/elect-leaders', async (c) => {
    requireCluster(c.var.principal, 'admin')
    const body = await readJson(c)
    if (body.electionType !== undefined && body.electionType !== 'PREFERRED') {
      fail('INVALID_REQUEST', `Only PREFERRED elections are run on request (unclean ones follow unclean.leader.election.enable), got ${JSON.stringify(body.electionType)}`)
    }
    return answer(c, await c.var.broker.electLeaders(body as { partitions: Array<{ topic: string; partition: number }> }))
  })

  app.post('/v1/partition-reassignments', async (c) => {
    requireCluster(c.var.principal, 'admin')
    const body = await readJson(c)
    return answer(c, await c.var.broker.alterPartitionReassignments(body as Parameters<EdgeBroker['alterPartitionReassignments']>[0]))
  })

  app.get('/v1/partition-reassignments', async (c) => {
    requireCluster(c.var.principal, 'describe')
    const topic = c.req.query('topic')
    // A topic without `partitions`: every partition of it.
    const found = await c.var.broker.listPartitionReassignments(topic === undefined ? {} : { topics: [{ topic } as TopicPartitions] })
    const topics = new Map<string, unknown[]>()
    for (const { topic: t, ...p } of found) topics.set(t, [...(topics.get(t) ?? []), p])
    return c.json({ topics: [...topics].map(([t, partitions]) => ({ topic: t, partitions })) })
  })
}

function answer(c: Context<AppEnv>, results: PartitionResult[]) {
  const partitions = results.map((r) => (r.error ? { topic: r.topic, partition: r.partition, error: r.error } : { topic: r.topic, partition: r.partition }))
  const failed = results.find((r) => r.error)
  if (!failed || c.req.query('errors') === 'inline') return c.json({ partitions })
  return c.json({ error: failed.error, partitions }, statusOf(failed.error!.code) as 400)
}
