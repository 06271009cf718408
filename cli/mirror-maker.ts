/**
 * `edgelog mirror-maker --source URL --target URL --include REGEX`: keeps replica topics on
 * one deployment following another's, with the same follower the browser uses
 * (core/sync/follower.ts): the target holds the source's batches at the source's offsets,
 * byte for byte, under the source's topic ids. Its position is each replica's own high
 * watermark, so it resumes after a kill without loss or duplicates and keeps no other state.
 *
 * Where it differs from Kafka's MirrorMaker 2: topics keep their names (MM2's
 * IdentityReplicationPolicy, not its default `<source>.<topic>`), offsets are the same on both
 * sides (so no offset-syncs topic or checkpoint translation is needed), and consumer group
 * offsets are not mirrored (a group can resume on the target from the same offsets by hand).
 */
import type { EdgelogClient } from '../core/client/client.ts'
import type { ReplicaTarget } from '../core/log/replicas.ts'
import { Follower, type FollowerEvent } from '../core/sync/follower.ts'
import { flag, has, intFlag, requireFlag, UsageError, type ParsedArgs } from './args.ts'
import type { ToolIO } from './tools.ts'

export async function mirrorMakerTool(source: EdgelogClient, target: EdgelogClient, args: ParsedArgs, io: ToolIO): Promise<void> {
  const include = flag(args, 'include') ?? flag(args, 'whitelist') ?? flag(args, 'topics')
  if (!include || include === 'true') throw new UsageError('Missing required argument --include (a regular expression of topic names)')
  let pattern: RegExp
  try {
    pattern = new RegExp(`^(?:${include})$`)
  } catch (error) {
    throw new UsageError(`--include is not a regular expression: ${(error as Error).message}`)
  }
  const replicas = (target.broker as { replicas?: ReplicaTarget }).replicas
  if (!replicas) throw new UsageError('The target does not accept replicas (an edgelog deployment over HTTP does)')
  const follower = new Follower({
    leader: source.broker, replicas, source: requireFlag(args, 'source'), topics: [pattern],
    maxWaitMs: intFlag(args, 'max-wait-ms') ?? 5_000, discoveryIntervalMs: intFlag(args, 'refresh-topics-interval-ms') ?? 10_000,
  })
  follower.on((event) => report(event, io))
  await follower.start()
  try {
    if (has(args, 'once')) {
      // Mirror what the source has now, then stop (scripts, tests).
      await follower.caughtUp(intFlag(args, 'timeout-ms') ?? 600_000)
    } else {
      await new Promise<void>((resolve) => io.signal?.addEventListener('abort', () => resolve(), { once: true }))
    }
  } finally {
    await follower.stop()
  }
  const status = await follower.status()
  for (const t of status.topics) {
    const records = t.partitions.reduce((n, p) => n + p.highWatermark - p.logStartOffset, 0)
    io.err(`Mirrored ${t.topic} (${t.partitions.length} partitions, ${records} records${t.stopped ? `; stopped: ${t.stopped.code}` : ''})`)
  }
}

function report(event: FollowerEvent, io: ToolIO): void {
  switch (event.type) {
    case 'offline': case 'paused':
      io.err(`mirror-maker ${event.type}: ${event.error.code}: ${event.error.message}`)
      break
    case 'replica.reset':
      io.err(`mirror-maker: ${event.topic}-${event.partition}: the source's log starts at ${event.to}, past ${event.from}; starting there`)
      break
    case 'replica.stopped':
      io.err(`mirror-maker: ${event.topic} stopped: ${event.error.code}: ${event.error.message}`)
      break
    default:
      break
  }
}
