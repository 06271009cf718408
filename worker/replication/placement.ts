/**
 * Where the replicas of a partition live at the edge: replica `b` of stream `<topicId>/<p>` is
 * the Durable Object named `<topicId>/<p>/r<b>` (a PartitionObject: no new class, no
 * migration), created with the location hint of broker `b`. A "broker" here is a region: the
 * list comes from EDGELOG_REPLICA_LOCATIONS, and its length is the largest replication factor.
 * `wrangler dev` ignores the hints (every replica runs locally); Cloudflare places each object
 * near its hint on first use and keeps it there.
 */
import { EdgelogError } from '../../core/errors.ts'
import type { BrokerId, PartitionAssignment } from '../../core/replication/types.ts'
import type { EdgelogEnv } from '../env.ts'

/** Five regions apart from each other; a deployment narrows or reorders them with the variable. */
export const DEFAULT_REPLICA_LOCATIONS = ['enam', 'weur', 'apac', 'wnam', 'eeur'] as const

const HINTS = new Set(['wnam', 'enam', 'sam', 'weur', 'eeur', 'apac', 'oc', 'afr', 'me'])

/** The regions replicas may go to, in broker-id order (EDGELOG_REPLICA_LOCATIONS, comma-separated). */
export function replicaLocations(env: Pick<EdgelogEnv, 'EDGELOG_REPLICA_LOCATIONS'>): string[] {
  const raw = env.EDGELOG_REPLICA_LOCATIONS
  if (raw === undefined || raw.trim() === '') return [...DEFAULT_REPLICA_LOCATIONS]
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean)
  const bad = list.filter((l) => !HINTS.has(l))
  if (bad.length > 0 || new Set(list).size !== list.length) {
    throw new EdgelogError('INVALID_CONFIG', `EDGELOG_REPLICA_LOCATIONS must list distinct location hints (${[...HINTS].join(', ')}), got ${JSON.stringify(raw)}`)
  }
  return list
}

export function replicaName(stream: string, broker: BrokerId): string {
  return `${stream}/r${broker}`
}

/** The stub of one replica, placed by its broker's location hint. */
export function replicaStub(env: EdgelogEnv, stream: string, broker: BrokerId) {
  const hint = replicaLocations(env)[broker]
  const id = env.PARTITION.idFromName(replicaName(stream, broker))
  return hint ? env.PARTITION.get(id, { locationHint: hint as DurableObjectLocationHint }) : env.PARTITION.get(id)
}

/** Kafka's rack-unaware assignment: partition p's replicas start at broker p and go round. */
export function replicasFor(partition: number, rf: number, brokers: number): BrokerId[] {
  return Array.from({ length: rf }, (_, i) => (partition + i) % brokers)
}

export function streamOf(a: Pick<PartitionAssignment, 'topicId' | 'partition'>): string {
  return `${a.topicId}/${a.partition}`
}
