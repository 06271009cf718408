/**
 * A replicated partition's waiting readers (worker/wait/) on its leader replica object: what
 * they see (the log below the high watermark) and the pushes, one round at a time (a tail must
 * not get the same batches twice), coalesced while one waits.
 */
import type { PartitionReplica } from '../../core/replication/replica.ts'
import type { WatchHub, WatchSource } from '../wait/hub.ts'

export function replicaSource(replica: PartitionReplica): WatchSource {
  const where = { topicId: replica.topicId, partition: replica.partition }
  return {
    get highWatermark() { return replica.highWatermark },
    get logStartOffset() { return replica.log.logStartOffset },
    read: async (offset, maxBytes) => ({ batches: (await replica.read({ ...where, offset, maxBytes })).batches.map((bytes) => ({ bytes })) }),
  }
}

export class ReplicaWatchers {
  private running: Promise<void> = Promise.resolve()
  private due = false

  constructor(readonly hub: WatchHub) {}

  /** The leader's high watermark moved: push to the watchers waiting for it. */
  notify(replica: PartitionReplica): void {
    if (this.due || this.hub.size === 0 || replica.status().role !== 'leader') return
    this.due = true
    this.running = this.running.then(async () => {
      this.due = false
      await this.hub.notify(replicaSource(replica)).catch(() => undefined)
    })
  }
}
