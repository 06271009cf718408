/**
 * How the Worker (and the group objects) reach the cluster: the controller, partition objects
 * by stream name, group objects by group id, with topic metadata cached per isolate for a
 * moment (`METADATA_TTL_MS`). A partition that answers UNKNOWN_TOPIC_OR_PARTITION (its topic
 * was deleted) invalidates the cached topic; an unknown partition index is re-checked with
 * the controller before it is refused (partitions may have been added).
 */
import { EdgelogError, isEdgelogError } from '../core/errors.ts'
import { validateTopicName } from '../core/log/topic-registry.ts'
import type { EdgelogEnv } from './env.ts'
import { targetOf, type TopicView } from './objects/controller.ts'
import type { PartitionTarget } from './objects/partition.ts'
import { unwrap } from './rpc.ts'
import { replicatedFace } from './replication/face.ts'

export const METADATA_TTL_MS = 2_000

type Cache = Map<string, { view: TopicView; at: number }>
const caches = new WeakMap<object, Cache>()

export class Cluster {
  private readonly cache: Cache

  /** `rack`: the reader's region for nearest-replica reads of replicated topics (worker/replication/rack.ts). */
  constructor(readonly env: EdgelogEnv, readonly rack?: string) {
    let cache = caches.get(env.CONTROLLER)
    if (!cache) caches.set(env.CONTROLLER, (cache = new Map()))
    this.cache = cache
  }

  controller() {
    return this.env.CONTROLLER.get(this.env.CONTROLLER.idFromName('controller'))
  }

  group(groupId: string) {
    return this.env.GROUP.get(this.env.GROUP.idFromName(groupId))
  }

  partitionStub(target: PartitionTarget) {
    return this.env.PARTITION.get(this.env.PARTITION.idFromName(target.stream))
  }

  /** The topic's metadata (cached briefly), auto-created when allowed. */
  async topic(name: string, options: { autoCreate?: boolean; fresh?: boolean } = {}): Promise<TopicView> {
    validateTopicName(name)
    const hit = this.cache.get(name)
    if (hit && !options.fresh && Date.now() - hit.at < METADATA_TTL_MS) return hit.view
    const [view] = await unwrap(this.controller().metadata([name], options.autoCreate ?? false))
    this.remember(view)
    return view
  }

  /** Every topic (fresh), refreshing the cache. */
  async topics(): Promise<TopicView[]> {
    const views = await unwrap(this.controller().metadata(undefined, false))
    for (const v of views) this.remember(v)
    return views
  }

  remember(view: TopicView): void {
    this.cache.set(view.name, { view, at: Date.now() })
  }

  invalidate(name?: string): void {
    if (name === undefined) this.cache.clear()
    else this.cache.delete(name)
  }

  /** The target of one partition, checking the index (against fresh metadata before refusing it). */
  async target(name: string, partition: unknown, options: { autoCreate?: boolean } = {}): Promise<PartitionTarget> {
    let view = await this.topic(name, options)
    if (!validIndex(partition, view.partitions)) {
      view = await this.topic(name, { fresh: true })
      if (!validIndex(partition, view.partitions)) {
        throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `Topic '${name}' has no partition ${JSON.stringify(partition)} (it has ${view.partitions})`)
      }
    }
    return targetOf(view, partition as number)
  }

  /** Calls a partition object; a deleted partition invalidates the cached topic. */
  async onPartition<T>(target: PartitionTarget, call: (stub: ReturnType<Cluster['partitionStub']>) => Promise<T>): Promise<T> {
    try {
      // A replicated partition lives in replica objects: its face routes to the leader (worker/replication/face.ts).
      if (target.replication) return await call(replicatedFace(this, target.replication, this.rack) as ReturnType<Cluster['partitionStub']>)
      return await call(this.partitionStub(target))
    } catch (error) {
      if (isEdgelogError(error, 'UNKNOWN_TOPIC_OR_PARTITION')) this.invalidate(target.topic)
      throw error
    }
  }
}

function validIndex(partition: unknown, count: number): boolean {
  return typeof partition === 'number' && Number.isInteger(partition) && partition >= 0 && partition < count
}
