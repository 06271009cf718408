/**
 * One Jepsen-style run on a simulated cluster: concurrent producers with acks=all, a reader
 * polling every partition (from a follower's rack, KIP-392), and a nemesis applying faults one
 * at a time — a broker stopped and restarted, a link between two brokers cut, a broker cut from
 * the controller, a slow link, the current leader stopped. Afterwards the cluster heals and
 * settles, and the run reports what was acknowledged, what the replicas hold, what the reader
 * saw, and what replication reported.
 */
import { createClient } from '../../core/client/client.ts'
import { decodeBatch } from '../../core/codec/record-batch.ts'
import { isEdgelogError } from '../../core/errors.ts'
import type { SimCluster } from '../../core/replication/sim-cluster.ts'
import type { PartitionAssignment } from '../../core/replication/types.ts'
import { Ledger, recordValue, type StoredRecord, type Verdict } from '../chaos/ledger.ts'
import { readStream } from '../chaos/log-invariants.ts'
import { seededRandom } from '../chaos/faulty-storage.ts'
import { createTopic, sleep, startCluster } from './helpers.ts'

export type Fault =
  | { kind: 'stop'; broker: number; ms: number }
  | { kind: 'stop-leader'; partition: number; ms: number }
  | { kind: 'cut'; a: number; b: number; ms: number }
  | { kind: 'cut-controller'; broker: number; ms: number }
  | { kind: 'slow'; a: number; b: number; delay: number; ms: number }
  /**
   * The path to an unclean election: a follower stops (and leaves the ISR), then the rest of the
   * ISR stops, then the follower returns alone; the others return `ms` later.
   */
  | { kind: 'lose-isr'; partition: number; ms: number }
  /** A leader change without a failure: leadership moves to another ISR member (preferred election). */
  | { kind: 'move-leader'; partition: number; ms: number }

export interface Workload {
  seed: number
  partitions: number
  producers: Array<{ idempotent: boolean; sends: number; concurrency: number }>
  recordsPerSend: number
  faults: Fault[]
  /** Pause between faults (ms). */
  gapMs: number
  unclean: boolean
  /** Several faults at once (the unclean runs): more than one replica may be down. */
  overlapping: boolean
}

export interface Outcome {
  verdict: Verdict
  problems: string[]
  /** Records the reader saw that are not in the final log at that offset (it read past a truncation). */
  readThenTruncated: string[]
  /** Acknowledged records missing, or read records truncated, that no unclean election's report covers (silent loss). */
  silentLoss: string[]
  uncleanElections: number
  committedTruncated: number
  rejectedSends: number
  faultsApplied: number
  reads: number
}

const TOPIC = 't'

export async function runWorkload(w: Workload): Promise<Outcome> {
  const cluster = await startCluster({ racks: ['r0', 'r1', 'r2'] })
  try {
    return await run(cluster, w)
  } finally {
    await cluster.close()
  }
}

async function run(cluster: SimCluster, w: Workload): Promise<Outcome> {
  const assignments = await createTopic(cluster, TOPIC, {
    partitions: w.partitions, config: { 'min.insync.replicas': '2', 'unclean.leader.election.enable': String(w.unclean) },
  })
  const topicId = assignments[0].topicId
  const pick = seededRandom(w.seed)
  const ledger = new Ledger()
  const acknowledged: Array<{ partition: number; baseOffset: number; values: string[] }> = []
  const problems: string[] = []
  let producing = true
  let nemesisDone = false
  // The reader: what it saw, by partition and offset.
  const seen = new Map<string, string>()
  let reads = 0
  const reader = (async () => {
    const broker = cluster.client({ name: 'reader', rack: `r${Math.floor(pick() * 3)}` })
    const positions = new Array(w.partitions).fill(0)
    while (producing) {
      for (let p = 0; p < w.partitions; p++) {
        try {
          const result = await broker.fetch({ topic: TOPIC, partition: p, offset: positions[p], maxBytes: 1 << 16, maxWaitMs: 5 })
          reads++
          for (const bytes of result.batches) {
            for (const r of (await decodeBatch(bytes)).records) {
              if (r.offset < positions[p]) continue
              seen.set(`${p}@${r.offset}`, new TextDecoder().decode(r.value!))
              positions[p] = r.offset + 1
            }
          }
        } catch { /* leader moving: read again */ }
      }
      await sleep(2)
    }
  })()
  const nemesis = (async () => {
    let applied = 0
    const pending: Array<Promise<void>> = []
    for (const fault of w.faults) {
      await sleep(w.gapMs)
      pending.push(apply(cluster, fault, topicId, w.overlapping))
      applied++
    }
    await Promise.all(pending)
    nemesisDone = true
    return applied
  })()
  await Promise.all(w.producers.map(async (spec, n) => {
    const name = `p${n}`
    ledger.producer(name, spec.idempotent)
    const kafka = createClient(cluster.client({ name, produceTimeoutMs: 400 }))
    const producer = kafka.producer({ idempotent: spec.idempotent, retry: { retries: 40, initialRetryTime: 5, maxRetryTime: 40 } })
    await producer.connect()
    let next = 0
    const worker = async () => {
      // At least `sends`, and on until the nemesis is done: every fault meets producers.
      for (let send = next++; send < spec.sends || !nemesisDone; send = next++) {
        const messages = Array.from({ length: w.recordsPerSend }, (_, i) => ({ value: recordValue(name, send, i), partition: Math.floor(pick() * w.partitions) }))
        try {
          const answers = await producer.send({ topic: TOPIC, messages, acks: -1 })
          const parts = answers.map((a) => ({
            partition: a.partition, baseOffset: Number(a.baseOffset),
            values: messages.filter((m) => m.partition === a.partition).map((m) => m.value),
          }))
          ledger.acknowledge(name, send, parts)
          acknowledged.push(...parts)
        } catch (error) {
          if (!isEdgelogError(error)) problems.push(`${name} send ${send}: not an EdgelogError: ${String(error)}`)
          ledger.reject()
        }
        await sleep(Math.floor(pick() * 10))
      }
    }
    await Promise.all(Array.from({ length: spec.concurrency }, worker))
    await producer.disconnect()
  }))
  producing = false
  const faultsApplied = await nemesis
  await reader
  // Heal everything, bring every broker back, and wait for every replica to hold the leader's log.
  cluster.network.healAll()
  for (const b of cluster.brokerIds) if (!cluster.isRunning(b)) await cluster.restart(b)
  const final = await settle(cluster, topicId, w.partitions, w.unclean)
  const partitions = new Map<number, StoredRecord[]>()
  for (let p = 0; p < w.partitions; p++) {
    const a = final[p]
    const logs = await Promise.all(a.replicas.map((b) => readStream(cluster.storage(b), `${topicId}/${p}`)))
    logs.forEach((l, i) => problems.push(...l.problems.map((s) => `broker ${a.replicas[i]}: ${s}`)))
    const leaderLog = logs[a.replicas.indexOf(a.leader)].records
    for (const [i, l] of logs.entries()) {
      if (JSON.stringify(l.records) !== JSON.stringify(leaderLog)) problems.push(`partition ${p}: broker ${a.replicas[i]} differs from the leader ${a.leader}`)
    }
    partitions.set(p, leaderLog)
  }
  const verdict = ledger.verify(partitions)
  // Every loss must lie past what an unclean leader knew committed (its report).
  const unclean = cluster.events.filter((e) => e.kind === 'unclean-leader-election')
  const silentLoss: string[] = []
  const readThenTruncated: string[] = []
  for (const [where, value] of seen) {
    const [p, offset] = where.split('@').map(Number)
    if (partitions.get(p)?.find((r) => r.offset === offset)?.value === value) continue
    readThenTruncated.push(`${where}=${value}`)
    if (!unclean.some((e) => e.kind === 'unclean-leader-election' && e.partition === p && e.highWatermark <= offset)) silentLoss.push(`read ${where}=${value}`)
  }
  for (const a of acknowledged) {
    const held = partitions.get(a.partition) ?? []
    a.values.forEach((value, i) => {
      const offset = a.baseOffset + i
      if (held.find((r) => r.offset === offset)?.value === value) return
      const reported = unclean.some((e) => e.kind === 'unclean-leader-election' && e.partition === a.partition && e.highWatermark <= offset)
      if (!reported) silentLoss.push(`${a.partition}@${offset}=${value}`)
    })
  }
  return {
    verdict, problems, readThenTruncated, silentLoss, uncleanElections: unclean.length,
    committedTruncated: cluster.events.filter((e) => e.kind === 'committed-records-truncated').length,
    rejectedSends: ledger.rejectedSends, faultsApplied, reads,
  }
}

async function apply(cluster: SimCluster, fault: Fault, topicId: string, overlapping: boolean): Promise<void> {
  const heal = async () => {
    switch (fault.kind) {
      case 'cut': cluster.heal(fault.a, fault.b); break
      case 'cut-controller': cluster.heal(fault.broker, 'controller'); break
      case 'slow': cluster.slow(fault.a, fault.b, 0); break
      default: break
    }
  }
  if (fault.kind === 'lose-isr') return loseIsr(cluster, fault, topicId, overlapping)
  if (fault.kind === 'move-leader') {
    const a = cluster.controller.assignmentsOf(topicId)[fault.partition]
    const to = a?.isr.find((r) => r !== a.leader)
    if (a && to !== undefined) await cluster.controller.electLeader({ topicId, partition: a.partition, to }).catch(() => {})
    await sleep(fault.ms)
    return
  }
  let stopped: number | undefined
  switch (fault.kind) {
    case 'stop': stopped = fault.broker; break
    case 'stop-leader': stopped = cluster.controller.assignmentsOf(topicId)[fault.partition]?.leader; break
    case 'cut': if (fault.a !== fault.b) cluster.cut(fault.a, fault.b); break
    case 'cut-controller': cluster.cut(fault.broker, 'controller'); break
    case 'slow': if (fault.a !== fault.b) cluster.slow(fault.a, fault.b, fault.delay); break
  }
  if (stopped !== undefined && stopped >= 0) await cluster.stop(stopped)
  const end = async () => {
    await sleep(fault.ms)
    await heal()
    if (stopped !== undefined && stopped >= 0) await cluster.restart(stopped)
  }
  // One fault at a time: the next starts once this one is over (unless overlapping).
  const ending = end()
  if (!overlapping) await ending
  return ending
}

async function loseIsr(cluster: SimCluster, fault: Extract<Fault, { kind: 'lose-isr' }>, topicId: string, overlapping: boolean): Promise<void> {
  const a = cluster.controller.assignmentsOf(topicId)[fault.partition]
  if (!a || a.leader < 0) return
  const follower = a.replicas.find((r) => r !== a.leader && cluster.isRunning(r))
  if (follower === undefined) return
  await cluster.stop(follower)
  // Until the controller has fenced it (session timeout) and it left the ISR.
  await cluster.until(() => !cluster.controller.assignmentsOf(topicId)[fault.partition]?.isr.includes(follower), 2_000).catch(() => {})
  await sleep(30)
  const rest = cluster.controller.assignmentsOf(topicId)[fault.partition]?.isr.filter((r) => r !== follower) ?? []
  for (const r of rest) await cluster.stop(r)
  await cluster.restart(follower)
  const end = async () => {
    await sleep(fault.ms)
    for (const r of rest) await cluster.restart(r)
  }
  const ending = end()
  if (!overlapping) await ending
  return ending
}

async function settle(cluster: SimCluster, topicId: string, partitions: number, unclean: boolean): Promise<PartitionAssignment[]> {
  await cluster.until(async () => {
    const all = cluster.controller.assignmentsOf(topicId)
    for (const a of all) {
      if (a.leader < 0 || a.isr.length !== a.replicas.length) return false
      const statuses = await Promise.all(a.replicas.map((b) => cluster.node(b)?.status({ topicId, partition: a.partition }).catch(() => undefined)))
      const leader = statuses[a.replicas.indexOf(a.leader)]
      if (!leader || leader.role !== 'leader' || leader.highWatermark !== leader.logEndOffset) return false
      if (statuses.some((s) => !s || s.logEndOffset !== leader.logEndOffset)) return false
    }
    return all.length === partitions
  }, unclean ? 15_000 : 10_000, 'every replica to hold its leader\'s log')
  return cluster.controller.assignmentsOf(topicId)
}
