/**
 * The operator's side of edge replication, for EdgeBroker: describeCluster with one broker per
 * region, preferred-leader election and partition reassignment (Kafka's kafka-leader-election
 * and kafka-reassign-partitions, KafkaJS's alterPartitionReassignments and
 * listPartitionReassignments). A whole request is checked before the controller is asked
 * anything: one bad entry changes nothing. Factor-1 topics keep their single partition object
 * (broker 0): a reassignment onto [0] has nothing to do, anything else is refused.
 */
import { EdgelogError, isEdgelogError } from '../../core/errors.ts'
import type { ClusterInfo, PartitionReassignment, PartitionResult, TopicPartitions } from '../../core/broker.ts'
import type { Cluster } from '../cluster.ts'
import type { TopicView } from '../objects/controller.ts'
import { replicaLocations } from './placement.ts'
import { callController } from './protocol.ts'
import { checkTarget } from '../../core/replication/reassign.ts'

/** A broker per region replicas may go to (node id = broker index, host = its location hint). */
export function edgeBrokers(cluster: Cluster, clusterId: string): ClusterInfo {
  let locations: string[]
  try {
    locations = replicaLocations(cluster.env)
  } catch {
    locations = ['edge'] // a bad variable turns replication off (controller-state.ts): one broker
  }
  return { clusterId, brokers: locations.map((host, nodeId) => ({ nodeId, host, port: 443 })), controller: 0 }
}

export async function electPreferredLeaders(cluster: Cluster, partitions: Array<{ topic: string; partition: number }>): Promise<PartitionResult[]> {
  if (!Array.isArray(partitions) || partitions.length === 0) throw new EdgelogError('INVALID_REQUEST', 'partitions must be a non-empty array of { topic, partition }')
  const views = await viewsOf(cluster, partitions.map((p) => ({ topic: p?.topic, partition: p?.partition })))
  return Promise.all(partitions.map(({ topic, partition }) => settle(topic, partition, async () => {
    const view = views.get(topic)!
    if (!view.assignments) throw new EdgelogError('ELECTION_NOT_NEEDED', `${topic}-${partition} has one replica (broker 0), which leads`)
    await callController(cluster.controller(), { op: 'electPreferred', topicId: view.topicId, partition })
  }))).finally(() => { for (const t of views.keys()) cluster.invalidate(t) })
}

export async function reassignPartitions(
  cluster: Cluster, topics: Array<{ topic: string; partitionAssignment: Array<{ partition: number; replicas: number[] | null }> }>,
): Promise<PartitionResult[]> {
  if (!Array.isArray(topics)) throw new EdgelogError('INVALID_REQUEST', 'topics must be an array of { topic, partitionAssignment: [{ partition, replicas }] }')
  const entries = topics.flatMap((t) => {
    if (!Array.isArray(t?.partitionAssignment)) throw new EdgelogError('INVALID_REQUEST', `Topic ${JSON.stringify(t?.topic)}: partitionAssignment must be an array of { partition, replicas }`)
    return t.partitionAssignment.map((a) => ({ topic: t.topic, partition: a?.partition, replicas: a?.replicas }))
  })
  const views = await viewsOf(cluster, entries)
  const seen = new Set<string>()
  for (const e of entries) {
    const where = `${e.topic}-${e.partition}`
    if (seen.has(where)) throw new EdgelogError('INVALID_REQUEST', `${where} is listed twice`)
    seen.add(where)
    const view = views.get(e.topic)!
    if (!view.assignments) {
      // A factor-1 topic lives in one partition object: only [0] (where it is) is possible.
      if (e.replicas !== null && (!Array.isArray(e.replicas) || e.replicas.length !== 1 || e.replicas[0] !== 0)) {
        throw new EdgelogError('INVALID_REPLICATION_FACTOR', `${where} has replication factor 1 (its single partition object, broker 0): it cannot move to replicas ${JSON.stringify(e.replicas)}; create a topic with a replication factor instead`)
      }
    } else if (e.replicas !== null) checkTarget(e.replicas, edgeBrokers(cluster, '').brokers.length, where)
  }
  return Promise.all(entries.map((e) => settle(e.topic, e.partition, async () => {
    const view = views.get(e.topic)!
    if (!view.assignments) {
      if (e.replicas === null) throw new EdgelogError('NO_REASSIGNMENT_IN_PROGRESS', `${e.topic}-${e.partition} has no reassignment in progress`)
      return
    }
    await callController(cluster.controller(), { op: 'reassign', topicId: view.topicId, partition: e.partition, replicas: e.replicas as number[] | null })
  }))).finally(() => { for (const t of views.keys()) cluster.invalidate(t) })
}

/** The reassignments in progress, of `topics` (or of every topic). */
export async function listReassignments(cluster: Cluster, topics?: TopicPartitions[]): Promise<PartitionReassignment[]> {
  if (topics !== undefined && !Array.isArray(topics)) throw new EdgelogError('INVALID_REQUEST', 'topics must be an array of { topic, partitions }')
  const views = topics ? await Promise.all(topics.map((t) => cluster.topic(t?.topic, { fresh: true }))) : await cluster.topics()
  return views.flatMap((view, i) => (view.assignments ?? [])
    .filter((a) => (a.adding?.length || a.removing?.length) && (!topics?.[i]?.partitions || topics[i].partitions.includes(a.partition)))
    .map((a) => ({ topic: view.name, partition: a.partition, replicas: a.replicas, addingReplicas: a.adding ?? [], removingReplicas: a.removing ?? [] })))
}

/** Every topic named, fresh, with each partition index checked. */
async function viewsOf(cluster: Cluster, entries: Array<{ topic: unknown; partition: unknown }>): Promise<Map<string, TopicView>> {
  const views = new Map<string, TopicView>()
  for (const { topic, partition } of entries) {
    if (typeof topic !== 'string') throw new EdgelogError('INVALID_TOPIC_EXCEPTION', `topic must be a string, got ${JSON.stringify(topic)}`)
    if (!views.has(topic)) views.set(topic, await cluster.topic(topic, { fresh: true }))
    const view = views.get(topic)!
    if (!Number.isInteger(partition) || (partition as number) < 0 || (partition as number) >= view.partitions) {
      throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `Topic '${topic}' has no partition ${JSON.stringify(partition)}`)
    }
  }
  return views
}

async function settle(topic: string, partition: number, run: () => Promise<void>): Promise<PartitionResult> {
  try {
    await run()
    return { topic, partition, errorCode: 0 }
  } catch (error) {
    if (!isEdgelogError(error)) throw error
    return { topic, partition, errorCode: error.errorCode, error: error.toJSON() }
  }
}
