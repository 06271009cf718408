/**
 * `edgelog delete-records --offset-json-file FILE`: Kafka's kafka-delete-records.sh. The file is
 * Kafka's: `{ "partitions": [{ "topic": "t", "partition": 0, "offset": 42 }], "version": 1 }`
 * (offset -1: the high watermark). Every record before each offset is deleted; the output is
 * Kafka's, one line per partition with its new low watermark or its error.
 */
import { readFile } from 'node:fs/promises'
import type { EdgelogClient } from '../core/client/client.ts'
import { EdgelogError } from '../core/errors.ts'
import { requireFlag, UsageError, type ParsedArgs } from './args.ts'
import type { ToolIO } from './tools.ts'

export const DELETE_RECORDS_USAGE = `  delete-records    --offset-json-file FILE   ({"partitions":[{"topic":"t","partition":0,"offset":42}],"version":1}; offset -1: the high watermark)`

interface Entry { topic: string; partition: number; offset: number }

/** Parses Kafka's offset JSON file (DeleteRecordsCommand.parseOffsetJsonStringWithoutDedup, then its duplicate check). */
export function parseOffsetJson(text: string): Entry[] {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new UsageError(`The offset json file is not valid JSON: ${(error as Error).message}`)
  }
  const partitions = (json as { partitions?: unknown })?.partitions
  if (!Array.isArray(partitions)) throw new UsageError('The offset json file must have a "partitions" array')
  const entries = partitions.map((p: unknown, i) => {
    const { topic, partition, offset } = (p ?? {}) as Record<string, unknown>
    const n = typeof offset === 'string' && /^-?\d+$/.test(offset) ? Number(offset) : offset
    if (typeof topic !== 'string' || !Number.isInteger(partition) || typeof n !== 'number' || !Number.isSafeInteger(n)) {
      throw new UsageError(`partitions[${i}] must be { "topic": string, "partition": integer, "offset": integer }`)
    }
    return { topic, partition: partition as number, offset: n }
  })
  const seen = new Set<string>()
  const duplicates = new Set<string>()
  for (const e of entries) {
    const key = `${e.topic}-${e.partition}`
    if (seen.has(key)) duplicates.add(key)
    seen.add(key)
  }
  if (duplicates.size > 0) throw new UsageError(`Offset json file contains duplicate topic partitions: ${[...duplicates].join(',')}`)
  return entries
}

export async function deleteRecordsTool(log: EdgelogClient, args: ParsedArgs, io: ToolIO, read: (path: string) => Promise<string> = (path) => readFile(path, 'utf8')): Promise<void> {
  const path = requireFlag(args, 'offset-json-file')
  let text: string
  try {
    text = await read(path)
  } catch (error) {
    throw new UsageError(`Cannot read the offset json file ${path}: ${(error as Error).message}`)
  }
  const entries = parseOffsetJson(text)
  const deleteRecords = log.broker.deleteRecords?.bind(log.broker)
  if (!deleteRecords) throw new EdgelogError('UNSUPPORTED_VERSION', 'This server does not support DeleteRecords')
  io.out('Executing records delete operation')
  const byTopic = new Map<string, Entry[]>()
  for (const e of entries) byTopic.set(e.topic, [...(byTopic.get(e.topic) ?? []), e])
  const lines = new Map<string, string>()
  for (const [topic, list] of byTopic) {
    try {
      const results = await deleteRecords({ topic, partitions: list.map(({ partition, offset }) => ({ partition, offset })) })
      for (const r of results) {
        lines.set(`${topic}-${r.partition}`, r.error ? `partition: ${topic}-${r.partition}\terror: ${r.error.code}: ${r.error.message}` : `partition: ${topic}-${r.partition}\tlow_watermark: ${r.lowWatermark}`)
      }
    } catch (error) {
      // The whole topic was refused (unknown, not authorized): each of its partitions says so.
      const e = error instanceof EdgelogError ? `${error.code}: ${error.message}` : String((error as Error)?.message ?? error)
      for (const { partition } of list) lines.set(`${topic}-${partition}`, `partition: ${topic}-${partition}\terror: ${e}`)
    }
  }
  io.out('Records delete operation completed:')
  for (const e of entries) io.out(lines.get(`${e.topic}-${e.partition}`)!)
}
