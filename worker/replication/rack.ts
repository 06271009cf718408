/**
 * KIP-392 at the edge: a reader's "rack" is a location hint (the regions replicas are placed
 * at). A fetch names it as Kafka's consumer does (`rackId`, the consumer's client.rack, a
 * query parameter over HTTP); otherwise the Worker takes it from where it runs (the request's
 * `cf.continent`), so that a Worker in Europe reads from the replica in weur or eeur. Locally
 * (`wrangler dev`) there is no continent: reads go to the leader.
 */
import type { PartitionAssignment } from '../../core/replication/types.ts'

/** The regions nearest to each continent, nearest first. */
const BY_CONTINENT: Record<string, string[]> = {
  NA: ['enam', 'wnam'], SA: ['sam', 'enam', 'wnam'], EU: ['weur', 'eeur'], AF: ['afr', 'weur', 'me'],
  AS: ['apac', 'me'], OC: ['oc', 'apac'], AN: ['oc'],
}

/** The reader's rack: `rackId` if the request names one, else the Worker's continent. */
export function clientRackOf(named: string | undefined, request: Request): string | undefined {
  if (named) return named
  const continent = (request as { cf?: { continent?: unknown } }).cf?.continent
  return typeof continent === 'string' ? `continent:${continent}` : undefined
}

/**
 * The in-sync follower to read from for a reader in `rack` (undefined: the leader, which is
 * as near, or no replica is). `locations[b]` is broker b's region.
 */
export function nearestFollower(a: PartitionAssignment, locations: string[], rack: string | undefined): number | undefined {
  if (!rack || a.leader < 0) return undefined
  const prefs = rack.startsWith('continent:') ? BY_CONTINENT[rack.slice('continent:'.length)] ?? [] : [rack]
  for (const region of prefs) {
    const b = a.replicas.find((r) => locations[r] === region)
    if (b === undefined) continue
    return b !== a.leader && a.isr.includes(b) ? b : undefined
  }
  return undefined
}
