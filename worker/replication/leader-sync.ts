/**
 * A leader's side of edge replication: push, not pull. On each append the leader sends every
 * follower what it lacks, one request per follower (more only to catch one up), and the
 * follower's answer — its new log end — is recorded through `handleReplicaFetch` exactly as
 * the follower's next fetch would have been in Kafka: the same follower state, ISR growth,
 * high-watermark rule and acks=all release. Nothing runs between appends: a follower that
 * could not be reached is retried, and the ISR's laggards dropped, from the object's alarm
 * (with back-off), never by polling.
 */
import { EdgelogError, isEdgelogError } from '../../core/errors.ts'
import type { PartitionReplica } from '../../core/replication/replica.ts'
import type { BrokerId, PartitionAssignment } from '../../core/replication/types.ts'
import type { EdgelogEnv } from '../env.ts'
import { settingsOf } from '../rpc.ts'
import { replicaStub, streamOf } from './placement.ts'
import { callReplica, type PushAnswer, type PushRequest } from './protocol.ts'

const PUSH_MAX_BYTES = 1 << 20
/** A follower that does not answer a push within this is counted unreachable for the round. */
const PUSH_TIMEOUT_MS = 10_000
/** A freshly woken leader waits this long at most for its first round before serving a read. */
const FIRST_ROUND_WAIT_MS = 2_000
const MAX_ALARM_DELAY_MS = 60_000
/**
 * A follower learns the high watermark from the next push; with no next append, from a push
 * of the high watermark alone this long after (Kafka's followers learn it within
 * replica.fetch.wait.max.ms, 500 ms, too). Any data push meanwhile carries it instead.
 */
const HW_PUSH_DELAY_MS = 500

interface Peer {
  known: boolean; leo: number; latestEpoch: number; synced: boolean; failing: boolean; hwSent: number; hwDue: boolean; hwTimer?: ReturnType<typeof setTimeout>
  /** The log start last sent (DeleteRecords moves it: sent at once, no wait as for the high watermark). */
  lsSent?: number
  /** Caught up outside the ISR: quick retries left before the alarm's slower ones. */
  isrTries?: number; isrTimer?: ReturnType<typeof setTimeout>
}
/** The leader proposes one ISR addition at a time (AlterPartition): a second caught-up replica asks again this soon, a few times. */
const ISR_RETRY_MS = 1_000
const ISR_RETRIES = 5

export class LeaderSync {
  readonly leaderEpoch: number
  private readonly peers = new Map<BrokerId, Peer>()
  private readonly running = new Map<BrokerId, { run: Promise<void>; again: boolean }>()
  private firstRound: Promise<void> | undefined
  private failures = 0

  constructor(
    private readonly replica: PartitionReplica,
    public assignment: PartitionAssignment,
    private readonly env: EdgelogEnv,
    private readonly ctx: DurableObjectState,
    private readonly cutOff: () => Promise<boolean>,
    /** Called when a follower says this leader is fenced: the host asks the controller. */
    private readonly onFenced: () => Promise<void>,
  ) {
    this.leaderEpoch = assignment.leaderEpoch
  }

  /** The newest assignment: the replica's own ISR changes (AlterPartition answers) included. */
  private get current(): PartitionAssignment {
    const a = this.replica.currentAssignment
    return a && a.partitionEpoch > this.assignment.partitionEpoch ? a : this.assignment
  }

  /** The current replicas (a reassignment adds and removes some within an epoch), the leader aside. */
  private get followers(): BrokerId[] {
    return this.current.replicas.filter((r) => r !== this.assignment.leader)
  }

  /** Pushes to every follower; resolves when each is caught up or failed (never rejects). */
  pushAll(): Promise<void> {
    const round = Promise.all(this.followers.map((f) => this.syncPeer(f))).then(() => undefined)
    this.firstRound ??= round
    return round
  }

  /** DeleteRecords moved the log start: every follower is sent it now (resolves after the round). */
  logStartMoved(): Promise<void> {
    for (const p of this.peers.values()) p.lsSent = -1
    return this.pushAll()
  }

  /** The first round after this leader started (a just-woken leader learns its followers' ends), bounded. */
  async settled(): Promise<void> {
    if (!this.firstRound) return
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([this.firstRound, new Promise<void>((r) => { timer = setTimeout(r, FIRST_ROUND_WAIT_MS) })])
    if (timer !== undefined) clearTimeout(timer)
  }

  /** Followers whose log end is the leader's count as caught up now (no storage read: nothing to send). */
  async touchCaughtUp(): Promise<void> {
    for (const [f, p] of this.peers) {
      if (!this.followers.includes(f)) {
        this.peers.delete(f) // reassigned away
        continue
      }
      if (!p.known || !p.synced || p.failing || p.leo !== this.replica.logEndOffset) continue
      await this.replica.handleReplicaFetch(this.fetchOf(f, p.leo, 1)).catch(() => undefined)
    }
  }

  /** The alarm: retry followers that are behind, and let the replica drop laggards from the ISR. */
  async onAlarm(): Promise<void> {
    await this.touchCaughtUp()
    this.replica.tick()
    const behind = this.followers.filter((f) => this.isBehind(f))
    await Promise.all(behind.map((f) => this.syncPeer(f)))
    if (this.followers.some((f) => this.isBehind(f))) await this.armAlarm()
    else this.failures = 0
  }

  /** Behind, or caught up but not in the ISR yet (a reassignment's added replica waits for its AlterPartition turn). */
  private isBehind(f: BrokerId): boolean {
    const p = this.peers.get(f)
    return !p || !p.known || p.failing || p.leo !== this.replica.logEndOffset || !this.current.isr.includes(f)
  }

  /** One push loop per follower at a time; a call while it runs makes it go round once more. */
  private syncPeer(f: BrokerId): Promise<void> {
    const current = this.running.get(f)
    if (current) {
      current.again = true
      return current.run
    }
    const entry = { run: Promise.resolve(), again: false }
    entry.run = (async () => {
      const peer = this.peer(f)
      try {
        do {
          entry.again = false
          await this.catchUp(f, peer)
        } while (entry.again)
        peer.failing = false
      } catch (error) {
        peer.failing = true
        if (isEdgelogError(error, 'FENCED_LEADER_EPOCH')) await this.onFenced().catch(() => undefined)
        else if (!isEdgelogError(error, 'NOT_LEADER_OR_FOLLOWER')) await this.armAlarm().catch(() => undefined)
      } finally {
        this.running.delete(f)
      }
    })()
    this.running.set(f, entry)
    return entry.run
  }

  /** Probe, KIP-101 answer, then data from the follower's log end until it has the leader's. */
  private async catchUp(f: BrokerId, peer: Peer): Promise<void> {
    const { topicId, partition } = this.assignment
    for (let round = 0; round < 1_000; round++) {
      const base: PushRequest = {
        assignment: this.current, from: -1, batches: [], highWatermark: this.replica.highWatermark,
        logStartOffset: this.replica.log.logStartOffset, logEndOffset: this.replica.logEndOffset,
      }
      let push: PushRequest
      if (!peer.known) push = base
      else if (!peer.synced) {
        const answer = await this.replica.epochEndOffset({ topicId, partition, leaderEpoch: this.leaderEpoch, epoch: peer.latestEpoch })
        push = { ...base, epochEnd: { forEpoch: peer.latestEpoch, answer } }
      } else {
        // The follower's answer to the previous push is its fetch at its new log end.
        const res = await this.replica.handleReplicaFetch(this.fetchOf(f, peer.leo, PUSH_MAX_BYTES))
        if (res.outOfRange) push = peer.leo < res.logStartOffset ? { ...base, reset: true } : { ...base, truncateTo: res.logEndOffset }
        else if (res.batches.length === 0) {
          // Caught up outside the ISR: the leader proposes it one AlterPartition at a time; ask again soon, then from the alarm.
          if (!this.current.isr.includes(f)) this.retryIsr(f, peer)
          else peer.isrTries = undefined
          const lsDue = peer.lsSent !== undefined && peer.lsSent < res.logStartOffset
          if (peer.hwSent >= res.highWatermark && !lsDue) return
          if (!peer.hwDue && !lsDue) {
            // This follower's answer may have moved the high watermark past what the others were sent.
            for (const [g, q] of this.peers) if (q.known && q.hwSent < res.highWatermark) this.scheduleHw(g, q)
            return
          }
          push = { ...base, from: peer.leo, highWatermark: res.highWatermark, logStartOffset: res.logStartOffset }
        } else push = { ...base, from: peer.leo, batches: res.batches, highWatermark: res.highWatermark, logStartOffset: res.logStartOffset }
      }
      peer.hwDue = false
      const answer = await this.call(f, push)
      Object.assign(peer, { known: true, leo: answer.logEndOffset, latestEpoch: answer.latestEpoch, synced: answer.synced })
      if (push.from >= 0) {
        peer.hwSent = Math.max(peer.hwSent, push.highWatermark)
        peer.lsSent = Math.max(peer.lsSent ?? -1, push.logStartOffset)
      }
    }
  }

  private retryIsr(f: BrokerId, peer: Peer): void {
    if (peer.isrTimer !== undefined) return
    peer.isrTries = (peer.isrTries ?? ISR_RETRIES) - 1
    if (peer.isrTries < 0) {
      void this.armAlarm().catch(() => undefined)
      return
    }
    const lag = settingsOf(this.env)['replica.lag.time.max.ms']
    peer.isrTimer = setTimeout(() => {
      peer.isrTimer = undefined
      void this.syncPeer(f)
    }, Math.min(ISR_RETRY_MS, lag / 2))
  }

  private scheduleHw(f: BrokerId, peer: Peer): void {
    if (peer.hwTimer !== undefined) return
    peer.hwTimer = setTimeout(() => {
      peer.hwTimer = undefined
      peer.hwDue = true
      void this.syncPeer(f)
    }, HW_PUSH_DELAY_MS)
  }

  private fetchOf(f: BrokerId, offset: number, maxBytes: number) {
    return { topicId: this.assignment.topicId, partition: this.assignment.partition, replicaId: f, leaderEpoch: this.leaderEpoch, fetchOffset: offset, maxBytes, maxWaitMs: 0 }
  }

  private peer(f: BrokerId): Peer {
    let p = this.peers.get(f)
    if (!p) this.peers.set(f, (p = { known: false, leo: -1, latestEpoch: -1, synced: false, failing: false, hwSent: -1, hwDue: false }))
    return p
  }

  private async call(f: BrokerId, push: PushRequest): Promise<PushAnswer> {
    if (await this.cutOff()) throw new EdgelogError('NETWORK_EXCEPTION', 'This leader is cut off (test fault)', { retriable: true })
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new EdgelogError('NETWORK_EXCEPTION', `Replica ${f} did not answer a push within ${PUSH_TIMEOUT_MS} ms`, { retriable: true })), PUSH_TIMEOUT_MS)
    })
    try {
      return await Promise.race([callReplica(replicaStub(this.env, streamOf(this.assignment), f), { op: 'push', self: f, push }), timeout])
    } finally {
      if (timer !== undefined) clearTimeout(timer)
    }
  }

  /**
   * Next try at half the lag time while an ISR member is behind (Kafka checks the ISR that
   * often: it must shrink in time for acks=all); for followers already out of it, doubling
   * while they stay away (up to a minute).
   */
  private async armAlarm(): Promise<void> {
    const lag = settingsOf(this.env)['replica.lag.time.max.ms']
    const isrBehind = this.current.isr.some((f) => f !== this.assignment.leader && this.isBehind(f))
    const delay = Math.min(MAX_ALARM_DELAY_MS, Math.max(100, lag / 2) * (isrBehind ? 1 : 2 ** Math.min(this.failures++, 8)))
    const at = Date.now() + delay
    const current = await this.ctx.storage.getAlarm()
    if (current === null || current > at) await this.ctx.storage.setAlarm(at)
  }
}
