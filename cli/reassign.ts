/**
 * Kafka's replica tools against a deployment with replicated topics (docs/replication.md):
 *
 *   edgelog leader-election --election-type PREFERRED (--topic T --partition P | --all-topic-partitions | --path-to-json-file F)
 *   edgelog reassign-partitions --reassignment-json-file F (--execute | --verify | --cancel)
 *
 * The files are Kafka's: `{"partitions":[{"topic":"t","partition":0}]}` for the election,
 * `{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2,0]}]}` for the
 * reassignment (`log_dirs` is accepted and ignored: a replica is one object). Output lines and
 * exit codes are Kafka's: a partition that failed makes the tool exit 1 (an election not
 * needed does not).
 */
import { readFile } from 'node:fs/promises'
import type { EdgelogClient } from '../core/client/client.ts'
import { EdgelogError } from '../core/errors.ts'
import type { PartitionResult } from '../core/broker.ts'
import { flag, has, intFlag, requireFlag, UsageError, type ParsedArgs } from './args.ts'
import type { ToolIO } from './tools.ts'

export const REASSIGN_USAGE = `  leader-election   --election-type PREFERRED (--topic T --partition P | --all-topic-partitions | --path-to-json-file F)
  reassign-partitions --reassignment-json-file F (--execute | --verify | --cancel)
                    ({"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2,0]}]})`

type Read = (path: string) => Promise<string>
const readText: Read = (path) => readFile(path, 'utf8')

export async function leaderElectionTool(log: EdgelogClient, args: ParsedArgs, io: ToolIO, read: Read = readText): Promise<void> {
  const type = requireFlag(args, 'election-type').toUpperCase()
  if (type !== 'PREFERRED') throw new UsageError(`--election-type ${type}: only PREFERRED is run on request here (an unclean election follows unclean.leader.election.enable when a leader is lost)`)
  const electLeaders = log.broker.electLeaders?.bind(log.broker)
  if (!electLeaders) throw new EdgelogError('UNSUPPORTED_VERSION', 'This server has one replica per partition: there is no leader to elect')
  let partitions: Array<{ topic: string; partition: number }>
  if (has(args, 'path-to-json-file')) partitions = parseJson(await readFileOf(read, requireFlag(args, 'path-to-json-file')), false)
  else if (has(args, 'all-topic-partitions')) {
    const topics = await log.broker.metadata({})
    partitions = topics.flatMap((t) => t.partitions.filter((p) => p.replicas.length > 1).map((p) => ({ topic: t.name, partition: p.partitionId })))
  } else {
    const partition = intFlag(args, 'partition')
    if (partition === undefined) throw new UsageError('Missing required argument --partition (with --topic), or give --all-topic-partitions or --path-to-json-file')
    partitions = [{ topic: requireFlag(args, 'topic'), partition }]
  }
  if (partitions.length === 0) {
    io.out('No partitions to elect a leader for')
    return
  }
  const results = await electLeaders({ partitions })
  const done = results.filter((r) => !r.error).map(name)
  const notNeeded = results.filter((r) => r.error?.code === 'ELECTION_NOT_NEEDED').map(name)
  const failed = results.filter((r) => r.error && r.error.code !== 'ELECTION_NOT_NEEDED')
  if (done.length > 0) io.out(`Successfully completed leader election (PREFERRED) for partitions ${done.join(', ')}`)
  if (notNeeded.length > 0) io.out(`Valid replica already elected for partitions ${notNeeded.join(', ')}`)
  if (failed.length > 0) {
    io.out(`Error completing leader election (PREFERRED) for partitions ${failed.map(name).join(', ')}`)
    for (const r of failed) io.out(`Error completing leader election (PREFERRED) for partition: ${name(r)}: ${r.error!.code}: ${r.error!.message}`)
    throw new EdgelogError(failed[0].error!.code, `${failed.length} replica(s) could not be elected`)
  }
}

export async function reassignPartitionsTool(log: EdgelogClient, args: ParsedArgs, io: ToolIO, read: Read = readText): Promise<void> {
  const modes = ['execute', 'verify', 'cancel'].filter((m) => has(args, m))
  if (has(args, 'generate')) throw new UsageError('--generate is not supported: write the target replicas in the --reassignment-json-file yourself')
  if (modes.length !== 1) throw new UsageError('Give exactly one of --execute, --verify, --cancel (with --reassignment-json-file)')
  const entries = parseJson(await readFileOf(read, requireFlag(args, 'reassignment-json-file')), true)
  const broker = log.broker
  if (!broker.alterPartitionReassignments || !broker.listPartitionReassignments) throw new EdgelogError('UNSUPPORTED_VERSION', 'This server does not support partition reassignment')
  const byTopic = new Map<string, Array<{ partition: number; replicas: number[] | null }>>()
  const topicsOf = (replicas: (e: (typeof entries)[number]) => number[] | null) => {
    byTopic.clear()
    for (const e of entries) byTopic.set(e.topic, [...(byTopic.get(e.topic) ?? []), { partition: e.partition, replicas: replicas(e) }])
    return [...byTopic].map(([topic, partitionAssignment]) => ({ topic, partitionAssignment }))
  }
  if (modes[0] === 'verify') {
    const pending = await broker.listPartitionReassignments({ topics: [...new Set(entries.map((e) => e.topic))].map((topic) => ({ topic, partitions: entries.filter((e) => e.topic === topic).map((e) => e.partition) })) })
    const metadata = await broker.metadata({ topics: [...new Set(entries.map((e) => e.topic))] })
    io.out('Status of partition reassignment:')
    let incomplete = 0
    for (const e of entries) {
      const current = metadata.find((t) => t.name === e.topic)?.partitions.find((p) => p.partitionId === e.partition)?.replicas
      if (pending.some((p) => p.topic === e.topic && p.partition === e.partition)) {
        incomplete++
        io.out(`Reassignment of partition ${e.topic}-${e.partition} is still in progress.`)
      } else if (JSON.stringify(current) === JSON.stringify(e.replicas)) io.out(`Reassignment of partition ${e.topic}-${e.partition} is completed.`)
      else {
        incomplete++
        io.out(`There is no active reassignment of partition ${e.topic}-${e.partition}, but replica set is ${JSON.stringify(current)} rather than ${JSON.stringify(e.replicas)}.`)
      }
    }
    if (incomplete > 0) throw new EdgelogError('REQUEST_TIMED_OUT', `${incomplete} reassignment(s) not completed`)
    return
  }
  if (modes[0] === 'cancel') {
    const results = await broker.alterPartitionReassignments({ topics: topicsOf(() => null) })
    report(io, results, 'Successfully cancelled partition reassignments for', 'Error cancelling partition reassignment for')
    return
  }
  const metadata = await broker.metadata({ topics: [...new Set(entries.map((e) => e.topic))] })
  const current = entries.map((e) => ({ topic: e.topic, partition: e.partition, replicas: metadata.find((t) => t.name === e.topic)?.partitions.find((p) => p.partitionId === e.partition)?.replicas ?? [] }))
  io.out('Current partition replica assignment\n')
  io.out(JSON.stringify({ version: 1, partitions: current.map((c) => ({ ...c, log_dirs: c.replicas.map(() => 'any') })) }))
  io.out('\nSave this to use as the --reassignment-json-file option during rollback')
  const results = await broker.alterPartitionReassignments({ topics: topicsOf((e) => e.replicas) })
  report(io, results, 'Successfully started partition reassignments for', 'Error reassigning partition(s):')
}

function report(io: ToolIO, results: PartitionResult[], ok: string, bad: string): void {
  const good = results.filter((r) => !r.error)
  const failed = results.filter((r) => r.error)
  if (good.length > 0) io.out(`${ok} ${good.map(name).join(',')}`)
  if (failed.length === 0) return
  io.out(bad)
  for (const r of failed) io.out(`${name(r)}: ${r.error!.code}: ${r.error!.message}`)
  throw new EdgelogError(failed[0].error!.code, `${failed.length} partition(s) failed`)
}

function name(r: { topic: string; partition: number }): string {
  return `${r.topic}-${r.partition}`
}

async function readFileOf(read: Read, path: string): Promise<string> {
  try {
    return await read(path)
  } catch (error) {
    throw new UsageError(`Cannot read ${path}: ${(error as Error).message}`)
  }
}

/** Kafka's JSON files: partitions with topic and partition (and replicas, for a reassignment); no partition twice. */
export function parseJson(text: string, withReplicas: true): Array<{ topic: string; partition: number; replicas: number[] }>
export function parseJson(text: string, withReplicas: false): Array<{ topic: string; partition: number }>
export function parseJson(text: string, withReplicas: boolean): Array<{ topic: string; partition: number; replicas?: number[] }> {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new UsageError(`The json file is not valid JSON: ${(error as Error).message}`)
  }
  const partitions = (json as { partitions?: unknown })?.partitions
  if (!Array.isArray(partitions) || partitions.length === 0) throw new UsageError('The json file must have a non-empty "partitions" array')
  const seen = new Set<string>()
  return partitions.map((p: unknown, i) => {
    const { topic, partition, replicas } = (p ?? {}) as Record<string, unknown>
    if (typeof topic !== 'string' || !Number.isInteger(partition)) throw new UsageError(`partitions[${i}] must have "topic" (a string) and "partition" (an integer)`)
    if (withReplicas && (!Array.isArray(replicas) || replicas.length === 0 || !replicas.every(Number.isInteger))) {
      throw new UsageError(`partitions[${i}] must have "replicas": a non-empty array of broker ids`)
    }
    const key = `${topic}-${partition}`
    if (seen.has(key)) throw new UsageError(`The json file lists ${key} twice`)
    seen.add(key)
    return withReplicas ? { topic, partition: partition as number, replicas: replicas as number[] } : { topic, partition: partition as number }
  })
}
