/**
 * A follower's fetch loop, as Kafka's ReplicaFetcherThread: pull, not push. The follower asks
 * from its own log end, so the fetch offset itself tells the leader what the follower holds
 * (no separate acknowledgement), a follower that was away resumes from where it is without the
 * leader keeping per-follower send state, and a slow follower slows nobody but itself (the
 * leader drops it from the ISR). First, once per leader epoch, it truncates to the leader's
 * log at the epoch boundary (KIP-101, with KIP-279's rule when the leader lacks our epoch).
 */
import { EdgelogError, isEdgelogError } from '../errors.ts'
import type { BrokerId, BrokerRpc, ReplicaFetchResponse } from './types.ts'

export interface FetcherSettings {
  /** Kafka's replica.fetch.wait.max.ms: how long the leader parks an empty fetch. */
  fetchMaxWaitMs: number
  /** Kafka's replica.fetch.max.bytes. */
  fetchMaxBytes: number
  /** Kafka's replica.fetch.backoff.ms: the pause after a failed fetch. */
  fetchBackoffMs: number
}

/** What the fetcher needs of its replica (replica.ts). */
export interface FetcherHost {
  readonly broker: BrokerId
  readonly topicId: string
  readonly partition: number
  readonly logEndOffset: number
  readonly latestEpoch: number
  localEndOffsetFor(epoch: number): number
  truncateTo(offset: number): Promise<void>
  appendFromLeader(res: ReplicaFetchResponse): Promise<void>
  resetTo(logStartOffset: number, leaderHighWatermark: number): Promise<void>
  refreshAssignment(): Promise<void>
}

const STALE_EPOCH = new Set(['FENCED_LEADER_EPOCH', 'UNKNOWN_LEADER_EPOCH', 'NOT_LEADER_OR_FOLLOWER'])

export class FollowerFetcher {
  private stopped = false
  private readonly abort = new AbortController()
  /** The log change under way (a replicate or truncate): `stop` waits for it, never cuts it. */
  private applying: Promise<unknown> = Promise.resolve()
  private loop: Promise<void> = Promise.resolve()

  constructor(
    private readonly host: FetcherHost,
    private readonly leader: BrokerRpc,
    readonly leaderId: BrokerId,
    readonly leaderEpoch: number,
    private readonly settings: FetcherSettings,
  ) {}

  start(): this {
    this.loop = this.run()
    return this
  }

  /** Stops fetching; resolves once no change of the log by this fetcher is under way. */
  async stop(): Promise<void> {
    this.stopped = true
    this.abort.abort()
    await this.loop
    await this.applying.catch(() => {})
  }

  private async run(): Promise<void> {
    let truncated = false
    while (!this.stopped) {
      try {
        if (!truncated) {
          await this.truncateToLeader()
          truncated = true
        }
        const res = await this.call(this.leader.replicaFetch({
          topicId: this.host.topicId, partition: this.host.partition, replicaId: this.host.broker, leaderEpoch: this.leaderEpoch,
          fetchOffset: this.host.logEndOffset, maxBytes: this.settings.fetchMaxBytes, maxWaitMs: this.settings.fetchMaxWaitMs,
        }))
        if (res.outOfRange) {
          if (this.host.logEndOffset < res.logStartOffset) await this.apply(() => this.host.resetTo(res.logStartOffset, res.highWatermark))
          else {
            // Past the leader's end: cut to it, then check the epochs again.
            await this.apply(() => this.host.truncateTo(res.logEndOffset))
            truncated = false
          }
          continue
        }
        await this.apply(() => this.host.appendFromLeader(res))
      } catch (error) {
        if (this.stopped) return
        // The leader moved on or we did: ask the controller (without waiting: that may stop us).
        if (isEdgelogError(error) && STALE_EPOCH.has(error.code)) void this.host.refreshAssignment().catch(() => {})
        await this.sleep(this.settings.fetchBackoffMs)
      }
    }
  }

  private async truncateToLeader(): Promise<void> {
    const epoch = this.host.latestEpoch
    if (epoch < 0) return
    const answer = await this.call(this.leader.epochEndOffset({ topicId: this.host.topicId, partition: this.host.partition, leaderEpoch: this.leaderEpoch, epoch }))
    // KIP-279: the leader lacks our latest epoch; cut where its answer's epoch ends here too.
    const target = answer.epoch === epoch ? answer.endOffset : Math.min(answer.endOffset, this.host.localEndOffsetFor(answer.epoch))
    if (target < this.host.logEndOffset) await this.apply(() => this.host.truncateTo(target))
  }

  /** Starts a change of the log unless stopped (checked synchronously: `stop` then waits for it). */
  private apply(change: () => Promise<void>): Promise<void> {
    if (this.stopped) return Promise.reject(stoppedError())
    const running = change()
    this.applying = running
    return running
  }

  /** An RPC that `stop` cuts short (its answer, if it comes, is ignored). */
  private call<T>(request: Promise<T>): Promise<T> {
    const signal = this.abort.signal
    if (signal.aborted) return Promise.reject(stoppedError())
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(stoppedError())
      signal.addEventListener('abort', onAbort, { once: true })
      request.then(
        (value) => { signal.removeEventListener('abort', onAbort); if (this.stopped) reject(stoppedError()); else resolve(value) },
        (error) => { signal.removeEventListener('abort', onAbort); reject(error) },
      )
    })
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms)
      const signal = this.abort.signal
      function done() { clearTimeout(timer); signal.removeEventListener('abort', done); resolve() }
      signal.addEventListener('abort', done, { once: true })
    })
  }
}

function stoppedError(): EdgelogError {
  return new EdgelogError('CLOSED', 'The follower stopped fetching')
}
